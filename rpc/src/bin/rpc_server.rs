//! Chapter 6, RPC: the server, which computes Fibonacci numbers for whoever asks.
//!
//! Terminal 1 (and 2, to share the work): `cargo run --bin rpc_server`
//! Terminal 3:                            `cargo run --bin rpc_client -- 30`
//!
//! New here: answering a request, to the queue its `reply_to` names (the client's own), with
//! its `correlation_id`, so that the client can tell which question it answers. Beyond the
//! official programs: a bad request (not a number, or too large for an exact answer) gets an
//! error as its answer and is acked, so that it never kills the server nor comes back.

use amiquip::{
    AmqpProperties, AmqpValue, ConsumerOptions, FieldTable, Publish, QueueDeclareOptions,
};
use std::process::ExitCode;

const HELP: &str = "Usage: rpc_server
Answers requests on the queue 'rpc_queue' (chapter 6): the body is a number n, the answer
fib(n), sent to the request's reply_to queue with its correlation_id. Run several to share.";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;

        let connection = common::connect()?;
        let channel = connection.channel();

        // rpc_queue is declared as today's official tutorials declare it, so that their programs
        // and ours can share it: durable, and a quorum queue (replicated when the broker is a
        // cluster). Every declaration of it must say the same, or the broker refuses it (406).
        let mut arguments = FieldTable::new();
        let quorum = AmqpValue::LongString("quorum".into());
        arguments.insert("x-queue-type".into(), quorum);
        let options = QueueDeclareOptions {
            durable: true,
            arguments,
            ..Default::default()
        };
        let queue = channel.queue_declare("rpc_queue", options)?;

        // One request at a time per server: with several servers running, each request goes
        // to one that is free, as the workers of chapter 2 share tasks.
        channel.qos(0, 1, false)?;
        let consumer = queue.consume(ConsumerOptions::default())?;
        let requests = common::deliveries(&consumer);
        println!(" [x] Awaiting RPC requests");

        for request in requests {
            let request = request?;
            let answer = rpc::parse_request(&request.body).and_then(|n| {
                println!(" [.] fib({n})");
                rpc::fib(n)
            });
            // An error is an answer too, marked by its prefix: the client learns what was wrong
            // instead of waiting until it gives up.
            let body = answer.map(|f| f.to_string()).unwrap_or_else(|reason| {
                println!(" [!] Refused {}: {reason}", rpc::shown(&request.body));
                format!("error: {reason}")
            });
            // The answer goes to the queue the request names in reply_to, through the default
            // exchange, and repeats its correlation_id.
            let properties = match request.properties.correlation_id() {
                Some(id) => AmqpProperties::default().with_correlation_id(id.clone()),
                None => AmqpProperties::default(),
            };
            match request.properties.reply_to() {
                Some(to) => channel.basic_publish(
                    "",
                    Publish::with_properties(body.as_bytes(), to.as_str(), properties),
                )?,
                None => println!(" [!] The request has no reply_to: no answer sent"),
            }

            // Ack after the answer is published: if we died before it, the broker would give
            // the request to another server. A bad request is acked as well: requeued, it would
            // come back to a server forever (a "poison message").
            consumer.ack(request)?;
        }
        Ok(())
    })
}
