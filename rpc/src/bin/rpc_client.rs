//! Chapter 6, RPC: the client, which asks a server for fib(n) and waits for the answer.
//!
//! Terminal 1: `cargo run --bin rpc_server`
//! Terminal 2: `cargo run --bin rpc_client -- 30`   (prints ` [.] Got 832040`)
//!
//! New here: a request and its reply. The client declares a callback queue of its own, names
//! it in the request's `reply_to`, and gives the request a fresh `correlation_id`; the server's
//! answer carries the same id back. Beyond the official programs, the client never waits
//! forever: `RPC_TIMEOUT_SECONDS` (default 30) bounds the wait, and a request that no queue
//! takes (no server ever declared `rpc_queue`) comes back to it at once.

use amiquip::{AmqpProperties, Confirm, ConsumerOptions, Publish, QueueDeclareOptions};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const HELP: &str = "Usage: rpc_client [n]
Asks an rpc_server (chapter 6) for fib(n), n a whole number, 30 by default, and prints the
answer. RPC_TIMEOUT_SECONDS (default 30) bounds the wait for it.";

fn main() -> ExitCode {
    common::run(|| {
        let n = match common::args(HELP)?.as_slice() {
            [] => "30".to_string(),
            [n] if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.clone(),
            [other] => {
                // A negative number is a number: say what n may be, rather than how to pass it.
                let problem = match other.strip_prefix('-') {
                    Some(_) if other.parse::<f64>().is_ok() => format!(
                        "'{other}' is negative: n is a whole number, 0 or more (e.g. rpc_client 30)"
                    ),
                    _ => format!("'{other}' is not a whole number (e.g. rpc_client 30)"),
                };
                return Err(common::usage(HELP, &problem));
            }
            _ => {
                return Err(common::usage(
                    HELP,
                    "one number at most (e.g. rpc_client 30)",
                ))
            }
        };
        let timeout = rpc_timeout()?;

        let connection = common::connect()?;
        let channel = connection.channel();

        // The callback queue: server-named, and exclusive to this connection, so the broker
        // deletes it when we leave. The answer arrives here.
        let callback = channel.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )?;

        // The request is published `mandatory` and confirmed: if no queue takes it (no
        // rpc_queue yet), the broker returns it and we say so, instead of waiting in vain.
        // (`_nowait`: the broker's Select-Ok is not awaited, which saves a round trip; an error
        // would still surface, on the next call.)
        let returns = channel.listen_for_returns()?;
        let confirms = channel.listen_for_publisher_confirms()?;
        channel.enable_publisher_confirms_nowait()?;

        // A fresh id per call: an answer with another id (to an earlier call of this client,
        // say) is not ours and is ignored.
        let correlation_id = fresh_id();
        let properties = AmqpProperties::default()
            .with_reply_to(callback.name().to_string())
            .with_correlation_id(correlation_id.clone());
        let mut request = Publish::with_properties(n.as_bytes(), "rpc_queue", properties);
        request.mandatory = true;
        println!(" [x] Requesting fib({n})");
        channel.basic_publish("", request)?;

        // The broker's word on the request first, as new_task waits for it (an alarm that
        // blocks us ends the wait at once).
        let deadline = Instant::now() + timeout;
        let Some(confirm) = connection.confirm(&confirms, timeout)? else {
            return Err(connection.unconfirmed("the request", timeout));
        };
        if returns.try_recv().is_ok() {
            anyhow::bail!(common::Failure::new(
                "no queue 'rpc_queue' took the request: no rpc_server has declared it"
            )
            .hint("start one first: cargo run --bin rpc_server"));
        }
        if let Confirm::Nack(_) = confirm {
            anyhow::bail!(common::Failure::new("the broker refused the request (nack)").hint(
                "is rpc_queue full, or the broker short of memory or disk? scripts/broker status"
            ));
        }

        // Consume the callback queue only now: the answer waits there until we do. Auto-ack,
        // since nobody else could take the answer over if we died.
        let answers = callback.consume(ConsumerOptions {
            no_ack: true,
            ..Default::default()
        })?;

        // Wait for our answer, and only ours.
        loop {
            let Some(answer) = common::next_delivery(&answers, deadline)? else {
                anyhow::bail!(no_answer(timeout, "no reply"));
            };
            if answer.properties.correlation_id().as_deref() != Some(correlation_id.as_str()) {
                log::info!("ignored an answer to another request");
                continue;
            }
            let text = String::from_utf8_lossy(&answer.body);
            if let Some(reason) = text.strip_prefix("error: ") {
                anyhow::bail!(common::Failure::new(format!(
                    "the server could not answer: {}",
                    reason.escape_debug()
                )));
            }
            println!(" [.] Got {}", text.escape_debug());
            break;
        }
        common::cancel(answers)?;
        connection.close()
    })
}

/// The error when the wait ends: `what` did not come within `timeout`.
fn no_answer(timeout: Duration, what: &str) -> common::Failure {
    common::Failure::new(format!("{what} within {} s", timeout.as_secs_f64())).hint(
        "is an rpc_server running? cargo run --bin rpc_server; RPC_TIMEOUT_SECONDS sets the wait",
    )
}

/// How long to wait for the answer: `RPC_TIMEOUT_SECONDS` (fractions allowed), 30 by default.
fn rpc_timeout() -> anyhow::Result<Duration> {
    let Ok(text) = std::env::var("RPC_TIMEOUT_SECONDS") else {
        return Ok(Duration::from_secs(30));
    };
    text.parse::<f64>()
        .ok()
        .filter(|seconds| *seconds > 0.0 && *seconds <= 86_400.0)
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| {
            common::Failure::new(format!(
                "RPC_TIMEOUT_SECONDS is not a number of seconds between 0 and 86400: '{text}'"
            ))
            .hint("e.g. RPC_TIMEOUT_SECONDS=5")
            .into()
        })
}

/// An id no other call shares: this process, this instant, and the process's random hash keys.
fn fresh_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    format!("{:x}-{:016x}", std::process::id(), hasher.finish())
}
