//! Connecting: to the broker the environment names (one of a cluster's nodes, when `AMQP_URL`
//! lists several), through the `guard` package, which opens the connection and explains every
//! way that fails; then the channel a chapter works on.

use crate::session::Session;
use crate::{hint, report, BrokerAddress, Failure};

/// Connects to the broker named by the environment (see [`BrokerAddress::from_env`]) and opens
/// a channel. Every failure comes back as one line that says what to do.
///
/// With several URIs in `AMQP_URL` (separated by commas: a cluster's nodes), it connects to the
/// first that answers, and reports every failure only when none does.
pub fn connect() -> anyhow::Result<Session> {
    let addresses = BrokerAddress::all_from_env()?;
    let [first, others @ ..] = addresses.as_slice() else {
        unreachable!("AMQP_URL gives one address at least");
    };
    if others.is_empty() {
        return connect_to(first);
    }
    hint::several_brokers();
    let mut failures = Vec::new();
    for (n, address) in addresses.iter().enumerate() {
        match connect_to(address) {
            Ok(session) => {
                // Not the first: say which node this program is on (a restarted worker, say),
                // on stderr, before anything it prints on stdout.
                if n > 0 {
                    let skipped: Vec<String> = addresses[..n]
                        .iter()
                        .map(BrokerAddress::host_port)
                        .collect();
                    eprintln!(
                        "connected to {} (broker {} of {} in AMQP_URL; {} did not answer)",
                        address.host_port(),
                        n + 1,
                        addresses.len(),
                        skipped.join(", ")
                    );
                }
                return Ok(session);
            }
            Err(error) => {
                let line = report::describe(&error);
                let reason = line
                    .split(" (hint: ")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                log::debug!("{}: {reason}", address.host_port());
                failures.push(reason);
            }
        }
    }
    Err(Failure::new(format!(
        "none of the {} brokers in AMQP_URL answers: {}",
        addresses.len(),
        failures.join("; ")
    ))
    .hint(format!("is the cluster running? {}", hint::status()))
    .into())
}

/// Connects to `address` and opens a channel.
pub fn connect_to(address: &BrokerAddress) -> anyhow::Result<Session> {
    let (mut connection, watchdog) = guard::open(address, env!("CARGO_PKG_NAME"))?;
    let watch = watchdog.shared();
    // Past the login, what the guard saw (a deadline, a broken frame) is the reason.
    let explain = |e: amiquip::Error| match guard::lock(watch).tripped.clone() {
        Some(reason) => Failure::new(reason),
        None => report::explain(&e),
    };
    let blocked = connection
        .listen_for_connection_blocked()
        .map_err(explain)?;
    let channel = connection.open_channel(None).map_err(explain)?;
    guard::lock(watch).handshake_done = true;
    log::debug!("connected to {address}");
    Ok(Session::new(
        channel,
        connection,
        blocked,
        watchdog,
        address.confirm_timeout,
    ))
}
