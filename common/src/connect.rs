//! Opening the connection: our own socket with TCP_NODELAY, then amiquip's AMQP handshake.

use crate::guard;
use crate::{report, BrokerAddress, Failure};
use amiquip::{
    Auth, Channel, Connection, ConnectionBlockedNotification, ConnectionOptions, ConnectionTuning,
};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An open connection to the broker and the one channel a chapter works on.
///
/// Get one with [`connect`](crate::connect); take the channel with [`channel`](Self::channel)
/// and end with [`close`](Self::close), which reports any error the broker sent late.
///
/// Closing is bounded, by `close` or when the session is dropped: amiquip 0.4.2 waits without
/// limit for the broker's Close-Ok, which a broker that has blocked the connection (a memory or
/// disk alarm) never sends.
pub struct Session {
    /// `None` only once closed: `close` and `drop` take it, and nothing else.
    open: Option<Open>,
    /// The broker's Connection.Blocked and Unblocked notifications.
    blocked: crossbeam_channel::Receiver<ConnectionBlockedNotification>,
    /// The connection's watchdog, and what its guard knows; the watchdog ends with the session.
    watchdog: guard::Watchdog,
}

/// What a session closes: the channel first, then its connection.
struct Open {
    channel: Channel,
    connection: Connection,
}

/// What to do about a connection blocked by a resource alarm.
const ALARM_HINT: &str = "the broker is in a resource alarm (low on memory or disk): scripts/broker status; \
                          a queue that only grows, such as tasks a worker never acks, is the usual cause";

/// How long closing may take before we give up on the broker's answer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

impl Session {
    /// The channel: where queues and exchanges are declared, messages published and consumed.
    pub fn channel(&self) -> &Channel {
        match &self.open {
            Some(open) => &open.channel,
            // Only `close` and `drop` take `open`, and both end the session.
            None => unreachable!("a session is open until it is closed or dropped"),
        }
    }

    /// Closes the channel and the connection cleanly. An error the broker sent for an earlier
    /// asynchronous call (a publish to a missing exchange, say) surfaces here. Without the
    /// broker's answer within 5 s, it says why it may be missing (a blocked connection).
    pub fn close(mut self) -> anyhow::Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let closed = close_within(open, CLOSE_TIMEOUT, self.watchdog.shared());
        // Closed: whatever its guard saw explains nothing after this.
        guard::unregister(self.watchdog.shared());
        let Some((closed_channel, closed_connection)) = closed else {
            return Err(self.close_timed_out().into());
        };
        // The channel's error is the first and the meaningful one; the connection's follows it.
        closed_channel.map_err(|e| self.explain(&e))?;
        closed_connection.map_err(|e| self.explain(&e))?;
        Ok(())
    }

    /// An amiquip error of this connection explained: the guard's reason if it ended the
    /// connection (amiquip then only saw its socket fail), else what amiquip says.
    fn explain(&self, error: &amiquip::Error) -> Failure {
        match guard::lock(self.watchdog.shared()).tripped.clone() {
            Some(reason) => Failure::new(reason),
            None => report::explain(error),
        }
    }

    /// What to report when a publish got no confirm within `waited`: closing tells whether the
    /// connection was lost (and why), which is then the error. A broker that is alive but
    /// cannot store the message says nothing, and it may not answer our close either (a
    /// cluster that lost the majority of its nodes): then it is "not confirmed".
    pub fn unconfirmed(mut self, what: &str, waited: Duration) -> anyhow::Error {
        let not_confirmed = || {
            anyhow::Error::new(
                Failure::new(format!(
                    "the broker did not confirm {what} within {} s: it may not have stored it",
                    waited.as_secs()
                ))
                .hint(
                    "is the broker overloaded, or a cluster without the majority of its nodes? \
                     scripts/broker status (scripts/broker cluster status)",
                ),
            )
        };
        let Some(open) = self.open.take() else {
            return not_confirmed();
        };
        let closed = close_within(open, CLOSE_TIMEOUT, self.watchdog.shared());
        guard::unregister(self.watchdog.shared());
        match closed {
            Some((Err(e), _)) | Some((Ok(()), Err(e))) => self.explain(&e).into(),
            // No answer to our close either: unless the broker blocked us (an alarm), it is the
            // same silence.
            None => match self.blocked_reason() {
                Some(reason) => blocked_while_closing(&reason).into(),
                None => not_confirmed(),
            },
            Some((Ok(()), Ok(()))) => not_confirmed(),
        }
    }

    /// Waits for the broker's confirm of a publish, `within` at most: `Ok(None)` if none came
    /// (closing then says why: a lost connection, say). If the broker blocks this connection
    /// first (a memory or disk alarm), it stops reading what we send and will not confirm until
    /// the alarm is over: that is an error at once, with the broker's reason.
    pub fn confirm(
        &self,
        confirms: &crossbeam_channel::Receiver<amiquip::Confirm>,
        within: Duration,
    ) -> anyhow::Result<Option<amiquip::Confirm>> {
        let deadline = Instant::now() + within;
        loop {
            crossbeam_channel::select! {
                recv(confirms) -> confirm => return Ok(confirm.ok()),
                recv(self.blocked) -> notification => {
                    if let Ok(ConnectionBlockedNotification::Blocked(reason)) = notification {
                        return Err(Failure::new(format!(
                            "the broker blocked this connection ({}) before confirming: it reads nothing more from us until its alarm is over",
                            report::printable(&reason)
                        ))
                        .hint(ALARM_HINT)
                        .into());
                    }
                },
                default(deadline.saturating_duration_since(Instant::now())) => return Ok(None),
            }
        }
    }

    /// Why the broker did not answer our close: it blocked this connection, or it says nothing.
    fn close_timed_out(&self) -> Failure {
        match self.blocked_reason() {
            Some(reason) => blocked_while_closing(&reason),
            None => Failure::new(format!(
                "the broker did not answer our close within {} s: what was published last may not have reached it",
                CLOSE_TIMEOUT.as_secs()
            ))
            .hint("is the broker overloaded or frozen? scripts/broker status"),
        }
    }

    /// The reason the broker gave for blocking this connection, if it still blocks it (the
    /// guard reads Connection.Blocked and Unblocked as they pass, over TLS too).
    fn blocked_reason(&self) -> Option<String> {
        guard::lock(self.watchdog.shared()).blocked.clone()
    }
}

/// A close that cannot be answered: the broker blocked the connection (a resource alarm).
fn blocked_while_closing(reason: &str) -> Failure {
    Failure::new(format!(
        "the broker blocked this connection ({}) and stopped reading what it sends, our close \
         included: what was published last may never reach a queue",
        report::printable(reason),
    ))
    .hint(ALARM_HINT)
}

impl Drop for Session {
    fn drop(&mut self) {
        // Not unregistered: a session dropped without `close` is one whose error is on its way
        // to `describe`, which its guard's verdict may explain. (The watchdog ends after this.)
        if let Some(open) = self.open.take() {
            let _ = close_within(open, CLOSE_TIMEOUT, self.watchdog.shared());
        }
    }
}

/// Closes the channel, then the connection, in a thread of its own, and waits for that at most
/// `limit`, or until the broker blocks the connection (a resource alarm: it then reads nothing
/// more from us, our close included): `None` if it did not end (the thread is left waiting,
/// until the program exits).
fn close_within(
    open: Open,
    limit: Duration,
    watch: &guard::Shared,
) -> Option<(amiquip::Result<()>, amiquip::Result<()>)> {
    let (done, result) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let closed_channel = open.channel.close();
        let closed_connection = open.connection.close();
        let _ = done.send((closed_channel, closed_connection));
    });
    let deadline = Instant::now() + limit;
    loop {
        let step = (Instant::now() + Duration::from_millis(20)).min(deadline);
        match result.recv_deadline(step) {
            Ok(closed) => return Some(closed),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if Instant::now() >= deadline || guard::lock(watch).blocked.is_some() {
                    return None;
                }
            }
        }
    }
}

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
    report::several_brokers();
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
    .hint("is the cluster running? scripts/broker cluster status")
    .into())
}

/// Connects to `address` and opens a channel.
pub fn connect_to(address: &BrokerAddress) -> anyhow::Result<Session> {
    report::add_secret(address.password());
    // Checked before connecting: a CA file that cannot be read is the learner's to fix.
    let connector = match address.tls {
        true => Some(tls_connector(address)?),
        false => None,
    };
    let socket = open_socket(address)?;
    let cannot_use = |e: io::Error| {
        Failure::new(format!(
            "cannot use the socket to {}: {e}",
            address.host_port()
        ))
    };
    // The whole handshake (TLS's too), to the channel open, within the connect timeout:
    // amiquip's own timeout counts only silence, which a peer sending heartbeats never leaves.
    // The watchdog ends when `watchdog` is dropped: on every way out of this function but the
    // session it returns, and then with that session.
    let deadline = Instant::now() + address.connection_timeout;
    let watchdog = guard::Watchdog::start(
        socket.try_clone().map_err(cannot_use)?,
        deadline,
        address.connection_timeout,
        address.host_port(),
    );
    let watch = watchdog.shared();
    let stream = match &connector {
        None => guard::Stream::Plain(mio::net::TcpStream::from_stream(socket).map_err(cannot_use)?),
        Some(connector) => guard::Stream::Tls(
            guard::tls_handshake(connector, &address.host, socket, deadline)
                .map_err(|e| explain_tls_failure(address, e, watch))?,
        ),
    };
    let options = ConnectionOptions::default()
        .auth(Auth::Plain {
            username: address.user.clone(),
            password: address.password().to_string(),
        })
        .virtual_host(address.vhost.clone())
        .heartbeat(address.heartbeat)
        .frame_max(guard::FRAME_MAX)
        .connection_timeout(Some(address.connection_timeout))
        .information(Some(env!("CARGO_PKG_NAME").to_string()));
    // amiquip reads and writes through the guard (see guard.rs), over TLS as over plain TCP:
    // "insecure" only means that amiquip adds no encryption of its own.
    let guarded = guard::Guarded::new(stream, address.heartbeat, Arc::clone(watch));
    let mut connection =
        Connection::insecure_open_stream(guarded, options, ConnectionTuning::default())
            .map_err(|e| explain_open_error(address, &e, watch))?;
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
    guard::register(watch);
    log::debug!("connected to {address}");
    Ok(Session {
        open: Some(Open {
            channel,
            connection,
        }),
        blocked,
        watchdog,
    })
}

/// Opens the TCP connection to the broker ourselves, for what amiquip does not do: a connect
/// timeout, a clear "cannot reach" error, and TCP_NODELAY. Without TCP_NODELAY each
/// request/response step of AMQP (declare, confirm, close) can stall ~40 ms while Nagle's
/// algorithm waits for a delayed ACK.
pub(crate) fn open_socket(address: &BrokerAddress) -> anyhow::Result<TcpStream> {
    let where_ = address.host_port();
    let cannot_reach = |reason: String| {
        Failure::new(format!("cannot reach the broker at {where_}: {reason}")).hint(format!(
            "is it running? Start the course's broker with scripts/broker start, or set {}",
            address.location_variables()
        ))
    };
    let addrs: Vec<SocketAddr> = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .map_err(|e| {
            cannot_reach(format!(
                "cannot resolve the host name '{}' ({e})",
                address.host
            ))
        })?
        .collect();
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, address.connection_timeout) {
            Ok(socket) => {
                socket
                    .set_nodelay(true)
                    .map_err(|e| cannot_reach(format!("cannot set TCP_NODELAY ({e})")))?;
                return Ok(socket);
            }
            Err(e) => last_error = e,
        }
    }
    let reason = match last_error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!(
                "no answer within {} ms",
                address.connection_timeout.as_millis()
            )
        }
        _ => last_error.to_string(),
    };
    Err(cannot_reach(reason).into())
}

/// A TLS connector that verifies the broker's certificate against the system's CAs and, when
/// given, the CA file of the address.
fn tls_connector(address: &BrokerAddress) -> anyhow::Result<native_tls::TlsConnector> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(file) = &address.cacertfile {
        let hint = "give a PEM file of CA certificates with cacertfile= in AMQP_URL or RABBITMQ_CACERTFILE";
        let pem = std::fs::read(file).map_err(|e| {
            Failure::new(format!("cannot read the CA file {}: {e}", file.display())).hint(hint)
        })?;
        let ca = native_tls::Certificate::from_pem(&pem).map_err(|e| {
            Failure::new(format!(
                "the CA file {} is not a PEM certificate: {e}",
                file.display()
            ))
            .hint(hint)
        })?;
        builder.add_root_certificate(ca);
    }
    builder
        .build()
        .map_err(|e| Failure::new(format!("cannot set up TLS: {e}")).into())
}

/// Explains a TLS handshake that did not complete.
fn explain_tls_failure(
    address: &BrokerAddress,
    failure: guard::TlsFailure,
    watch: &guard::Shared,
) -> Failure {
    let at = address.host_port();
    if let Some(reason) = guard::lock(watch).tripped.clone() {
        return Failure::new(reason);
    }
    match failure {
        guard::TlsFailure::Tls(source) => {
            let failure = Failure::new(format!("the TLS handshake with {at} failed: {source}"));
            if source.contains("wrong version number") || source.contains("packet length too long")
            {
                failure.hint("is it the broker's TLS port? This one seems to speak plain AMQP: use amqp:// for it")
            } else {
                failure.hint(
                    "trust the broker's CA with cacertfile= in AMQP_URL or RABBITMQ_CACERTFILE (scripts/broker \
                     prints its CA file), and connect with a host name its certificate names",
                )
            }
        }
        guard::TlsFailure::TimedOut => Failure::new(format!(
            "the broker at {at} did not complete the TLS handshake within {} ms",
            address.connection_timeout.as_millis()
        ))
        .hint("is it the broker's TLS port? amqps:// needs its TLS listener (5671 by default)"),
        guard::TlsFailure::Io(e) => Failure::new(format!("cannot use the socket to {at}: {e}")),
    }
}

/// Explains a failure of the AMQP handshake, knowing where we tried to log in and what the
/// guard saw of it.
fn explain_open_error(
    address: &BrokerAddress,
    error: &amiquip::Error,
    watch: &guard::Shared,
) -> Failure {
    use amiquip::Error as E;
    let at = address.host_port();
    let (tripped, closed_by_broker, peer_closed, received) = {
        let watch = guard::lock(watch);
        (
            watch.tripped.clone(),
            watch.closed_by_broker.clone(),
            watch.peer_closed,
            watch.received,
        )
    };
    // A peer that said nothing at all to our protocol header, then closed or let the deadline
    // pass: a web server waiting for a request (RabbitMQ's management listener closes after 5 s
    // without a word). Ask it in HTTP to be sure.
    if !received && !address.tls {
        if let Some(failure) = web_server_at(address) {
            return failure;
        }
    }
    if let Some(reason) = tripped {
        return Failure::new(reason);
    }
    let refused = || {
        Failure::new(format!(
            "the broker at {at} refused the login of user '{}' (wrong user or password)",
            address.user
        ))
        .hint(format!(
            "check {}; the user 'guest' may log in over loopback only",
            address.credential_variables()
        ))
    };
    // What the broker said when it closed the handshake, whatever amiquip made of it (it
    // reports a Close during the login as an unexpected frame).
    match closed_by_broker {
        Some((403, _)) => return refused(),
        Some((530, _)) => {} // a refused vhost: explained below
        Some((code, text)) => {
            return Failure::new(format!(
                "the broker at {at} closed the connection during the handshake: {code} {text}"
            ))
        }
        None => {}
    }
    match error {
        // amiquip calls any failure after our login "invalid credentials". RabbitMQ refuses a
        // login by closing the socket (or with ACCESS_REFUSED, above); silence is not that.
        E::InvalidCredentials if peer_closed => refused(),
        E::InvalidCredentials => Failure::new(format!(
            "the broker at {at} did not answer our login within {} ms",
            address.connection_timeout.as_millis()
        ))
        .hint("is it a RabbitMQ broker, healthy? scripts/broker status"),
        E::ServerClosedConnection { code: 403, .. } => refused(),
        E::ServerClosedConnection { code: 530, message } => {
            Failure::new(format!("the broker at {at} refused the vhost '{}': {message}", address.vhost)).hint(format!(
                "create it with scripts/broker rabbitmqctl add_vhost '{0}' and grant access with \
                 scripts/broker rabbitmqctl set_permissions -p '{0}' '{1}' '.*' '.*' '.*', or set {2}",
                address.vhost,
                address.user,
                if address.from_url { "the vhost in AMQP_URL" } else { "RABBITMQ_VHOST" }
            ))
        }
        E::ConnectionTimeout => Failure::new(format!(
            "the broker at {at} did not complete the AMQP handshake within {} ms",
            address.connection_timeout.as_millis()
        ))
        .hint(if address.tls {
            "is it a TLS port? (amqps:// needs the broker's TLS listener)".to_string()
        } else {
            format!("is it an AMQP port? {}; a TLS port needs amqps://", guard::PORTS)
        }),
        E::UnexpectedSocketClose | E::IoErrorReadingSocket { .. } | E::IoErrorWritingSocket { .. } => {
            Failure::new(format!("the broker at {at} closed the connection during the handshake ({error})")).hint(if address.tls {
                "is it the broker's TLS port? amqps:// needs its TLS listener"
            } else {
                "is it the broker's AMQP port? (a TLS port needs amqps://)"
            })
        }
        other => Failure::new(format!("cannot open an AMQP connection to {at}: {other}")),
    }
}

/// Whether `address` is a web server, asked with one HTTP request (1 s at most): the line that
/// says so, naming RabbitMQ's management listener when it is one.
fn web_server_at(address: &BrokerAddress) -> Option<Failure> {
    use std::io::{Read, Write};
    let limit = Duration::from_secs(1);
    let addr = (address.host.as_str(), address.port)
        .to_socket_addrs()
        .ok()?
        .next()?;
    let mut socket = TcpStream::connect_timeout(&addr, limit).ok()?;
    socket.set_read_timeout(Some(limit)).ok()?;
    socket.set_write_timeout(Some(limit)).ok()?;
    let host = address.host_port();
    socket
        .write_all(format!("GET /api/overview HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .ok()?;
    let mut answer = Vec::new();
    let _ = socket.take(4096).read_to_end(&mut answer);
    if !answer.starts_with(b"HTTP/") {
        return None;
    }
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let at = address.host_port();
    Some(if answer.contains("rabbitmq management") {
        Failure::new(format!(
            "{at} is RabbitMQ's management listener (its web UI and HTTP API), not its AMQP port: \
             it does not answer AMQP"
        ))
        .hint(format!(
            "{}; point AMQP_URL or RABBITMQ_PORT at the AMQP port (5672, or 5671 with amqps://)",
            guard::PORTS
        ))
    } else {
        Failure::new(format!(
            "{at} is a web server (it answers HTTP), not an AMQP broker: it does not answer AMQP"
        ))
        .hint(format!("is it the broker's AMQP port? {}", guard::PORTS))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn address_of(port: u16) -> BrokerAddress {
        BrokerAddress::from_lookup(|name| match name {
            "RABBITMQ_HOST" => Some("127.0.0.1".into()),
            "RABBITMQ_PORT" => Some(port.to_string()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn the_socket_we_open_has_tcp_nodelay_set() {
        // Without it amiquip's request/response steps stall ~40 ms (Nagle meets delayed ACK).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = open_socket(&address_of(listener.local_addr().unwrap().port())).unwrap();
        assert!(socket.nodelay().unwrap());
    }

    #[test]
    fn a_refused_connection_names_the_address_and_how_to_start_the_broker() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = open_socket(&address_of(port)).unwrap_err();
        let line = report::describe(&error);
        assert!(
            line.starts_with(&format!(
                "cannot reach the broker at 127.0.0.1:{port}: connection refused"
            )),
            "{line}"
        );
        assert!(
            line.contains("scripts/broker start")
                && line.contains("RABBITMQ_HOST and RABBITMQ_PORT"),
            "{line}"
        );
    }

    #[test]
    fn an_ipv6_address_is_printed_in_brackets() {
        let mut address = address_of(5672);
        address.host = "::1".into();
        assert_eq!(address.host_port(), "[::1]:5672");
        assert_eq!(address_of(5672).host_port(), "127.0.0.1:5672");
        assert!(address.to_string().contains("@[::1]:5672/"), "{address}");
    }

    #[test]
    fn an_unknown_host_name_is_named() {
        let mut address = address_of(5672);
        address.host = "no-such-host.invalid".into();
        let line = report::describe(&open_socket(&address).unwrap_err());
        assert!(
            line.contains("cannot resolve the host name 'no-such-host.invalid'"),
            "{line}"
        );
    }
}
