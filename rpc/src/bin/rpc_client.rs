//! Chapter 6, RPC: the client, which asks a server for fib(n) and waits for the answer.
//!
//! Terminal 1: `cargo run --bin rpc_server`
//! Terminal 2: `cargo run --bin rpc_client -- 30`   (prints ` [.] Got 832040`)
//!
//! New here: a request and its reply. The client consumes a callback queue of its own, then
//! publishes the request, naming that queue in `reply_to` and giving it a fresh
//! `correlation_id`; the server's answer carries the same id back. Beyond the official
//! programs: the wait is bounded (`RPC_TIMEOUT_SECONDS`, 30 s), no `rpc_queue` is said at once.

use amiquip::{AmqpProperties, ConsumerOptions, Publish};
use std::process::ExitCode;
use std::time::Instant;

const HELP: &str = "Usage: rpc_client [n]
Asks an rpc_server (chapter 6) for fib(n), n a whole number, 30 by default, and prints the
answer. RPC_TIMEOUT_SECONDS (default 30) bounds the wait for it.";

/// The callback queue RabbitMQ gives every channel (direct reply-to), for `reply_to` to name.
const REPLY_TO: &str = "amq.rabbitmq.reply-to";

fn main() -> ExitCode {
    common::run(|| {
        let number =
            |n: &str| common::number(n, 0..=u64::MAX, "a whole number (e.g. rpc_client 30)");
        let n =
            common::Args::read(HELP)?.one(30, number, "one number at most (e.g. rpc_client 30)")?;
        let timeout = rpc::rpc_timeout()?;

        let connection = common::connect()?;
        let channel = connection.channel();

        // The callback queue: the broker's direct reply-to, which every channel has for itself
        // (a queue declared for each call, as the official client does, costs the broker more
        // than the call). Consumed before the request goes out, with auto-ack, as it requires.
        let no_ack = ConsumerOptions {
            no_ack: true,
            ..Default::default()
        };
        let answers = channel.basic_consume(REPLY_TO, no_ack)?;

        // rpc_queue is the servers' to declare. Passive: we only ask whether one did, so that a
        // request to nowhere is said at once (404 NOT_FOUND) instead of waited for in vain.
        let missing = common::Failure::new("no queue 'rpc_queue': no rpc_server has declared it")
            .hint("start one first: cargo run --bin rpc_server");
        let declared = channel.queue_declare_passive("rpc_queue");
        declared.map_err(|e| common::not_found(e, missing))?;

        // A fresh id per call: an answer with another id (to an earlier call, say) is not ours.
        let correlation_id = rpc::fresh_id();
        let properties = AmqpProperties::default()
            .with_reply_to(REPLY_TO.to_string())
            .with_correlation_id(correlation_id.clone());
        let body = n.to_string();
        let request = Publish::with_properties(body.as_bytes(), "rpc_queue", properties);
        println!(" [x] Requesting fib({n})");
        channel.basic_publish("", request)?;

        // Wait for our answer, and only ours.
        let deadline = Instant::now() + timeout;
        while let Some(answer) = connection.next_delivery(&answers, deadline)? {
            if answer.properties.correlation_id().as_deref() != Some(&correlation_id) {
                log::info!("ignored an answer to another request");
                continue;
            }
            let text = String::from_utf8_lossy(&answer.body);
            if let Some(reason) = text.strip_prefix("error: ") {
                let line = format!("the server could not answer: {}", reason.escape_debug());
                anyhow::bail!(common::Failure::new(line));
            }
            println!(" [.] Got {}", text.escape_debug());
            common::leave(answers);
            return connection.close();
        }
        let no_reply = format!("no reply within {} s", timeout.as_secs_f64());
        Err(common::Failure::new(no_reply)
            .hint("is an rpc_server running? cargo run --bin rpc_server; RPC_TIMEOUT_SECONDS sets the wait")
            .into())
    })
}
