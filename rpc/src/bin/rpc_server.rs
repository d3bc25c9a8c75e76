//! Chapter 6, RPC: the server, which computes Fibonacci numbers for whoever asks.
//!
//! Terminal 1 (and 2, to share the work): `cargo run --bin rpc_server`
//! Terminal 3:                            `cargo run --bin rpc_client -- 30`
//!
//! New here: answering a request. Each request carries where to send the answer (`reply_to`,
//! the client's own queue) and a `correlation_id` that the answer repeats, so that the client
//! can tell which question it answers. The server is an ordinary consumer of `rpc_queue`.
//! Beyond the official programs: a bad request (not a number, or too large for an exact answer)
//! gets an error as its answer, and is acknowledged like any other, so it can never kill the
//! server or come back forever.

use amiquip::{
    AmqpProperties, AmqpValue, ConsumerOptions, Delivery, FieldTable, Publish, QueueDeclareOptions,
};
use std::process::ExitCode;

const HELP: &str = "Usage: rpc_server
Answers requests on the queue 'rpc_queue' (chapter 6): the body is a number n, the answer is
fib(n), sent to the request's reply_to queue with its correlation_id. Run several to share
the requests.";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;

        let connection = common::connect()?;
        let channel = connection.channel();

        // rpc_queue is declared as today's official tutorials declare it, so that their programs
        // and ours can share it: durable, and a quorum queue (replicated when the broker is a
        // cluster). Every declaration of it must say the same, or the broker refuses it (406).
        let mut arguments = FieldTable::new();
        arguments.insert(
            "x-queue-type".to_string(),
            AmqpValue::LongString("quorum".to_string()),
        );
        let queue = channel.queue_declare(
            "rpc_queue",
            QueueDeclareOptions {
                durable: true,
                arguments,
                ..Default::default()
            },
        )?;

        // One request at a time per server: with several servers running, each request goes
        // to one that is free, as the workers of chapter 2 share tasks.
        channel.qos(0, 1, false)?;
        let consumer = queue.consume(ConsumerOptions::default())?;
        let requests = common::deliveries(&consumer);
        println!(" [x] Awaiting RPC requests");

        for request in requests {
            let request = request?;
            let answer = match parse_request(&request.body) {
                Ok(n) => {
                    println!(" [.] fib({n})");
                    fib(n).map(|f| f.to_string())
                }
                Err(reason) => Err(reason),
            };
            // An error is an answer too, marked by its prefix: the client learns what was wrong
            // instead of waiting until it gives up.
            let body = answer.unwrap_or_else(|reason| {
                println!(" [!] Refused {}: {reason}", shown(&request.body));
                format!("error: {reason}")
            });
            reply(channel, &request, &body)?;

            // Ack after the answer is published: if we died before it, the broker would give
            // the request to another server. A bad request is acked as well: requeued, it would
            // come back to a server forever (a "poison message").
            consumer.ack(request)?;
        }
        Ok(())
    })
}

/// Publishes `body` as the answer to `request`: to the queue named by its `reply_to`, through
/// the default exchange, repeating its `correlation_id`.
fn reply(channel: &amiquip::Channel, request: &Delivery, body: &str) -> anyhow::Result<()> {
    let Some(reply_to) = request.properties.reply_to() else {
        // Nobody to answer: the request said nothing of where the answer should go.
        println!(" [!] The request has no reply_to: no answer sent");
        return Ok(());
    };
    let mut properties = AmqpProperties::default();
    if let Some(id) = request.properties.correlation_id() {
        properties = properties.with_correlation_id(id.clone());
    }
    channel.basic_publish(
        "",
        Publish::with_properties(body.as_bytes(), reply_to.as_str(), properties),
    )?;
    Ok(())
}

/// The request's n: UTF-8 decimal text, as the official programs send it (`str(n)`).
fn parse_request(body: &[u8]) -> Result<u32, String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| "the request is not UTF-8 text".to_string())?
        .trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a non-negative whole number".to_string());
    }
    // Digits only, so a parse failure can only mean a number too large for u32.
    text.parse().map_err(|_| {
        format!("fib({text}) is too large for an exact answer (at most fib({LARGEST}))")
    })
}

/// The largest n whose fib(n) fits in 128 bits: fib(186) has 39 digits, fib(187) would not fit.
const LARGEST: u32 = 186;

/// fib(0) = 0, fib(1) = 1, fib(n) = fib(n-1) + fib(n-2), computed iteratively: n additions,
/// where the course's recursive definition would take time exponential in n.
fn fib(n: u32) -> Result<u128, String> {
    // (fib(k), fib(k+1)); fib(k+1) is None once it no longer fits in 128 bits.
    let (mut a, mut b) = (0u128, Some(1u128));
    for _ in 0..n {
        let next = b.ok_or_else(|| {
            format!("fib({n}) is too large for an exact answer (at most fib({LARGEST}))")
        })?;
        (a, b) = (next, a.checked_add(next));
    }
    Ok(a)
}

/// A request body as printed: quoted, at most 40 characters, control characters escaped.
fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut shown: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        shown.push('…');
    }
    format!("'{}'", shown.escape_debug())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fib_matches_the_course_values() {
        assert_eq!(fib(0), Ok(0));
        assert_eq!(fib(1), Ok(1));
        assert_eq!(fib(30), Ok(832_040));
        assert_eq!(fib(90), Ok(2_880_067_194_370_816_120));
    }

    #[test]
    fn fib_is_exact_up_to_186_and_refuses_beyond() {
        assert_eq!(
            fib(LARGEST).unwrap().to_string(),
            "332825110087067562321196029789634457848"
        );
        assert_eq!(fib(LARGEST).unwrap(), fib(185).unwrap() + fib(184).unwrap());
        assert!(fib(LARGEST + 1).unwrap_err().contains("at most fib(186)"));
    }

    #[test]
    fn requests_are_decimal_text_and_anything_else_is_refused() {
        assert_eq!(parse_request(b"30"), Ok(30));
        assert_eq!(parse_request(b" 7\n"), Ok(7));
        for bad in [&b"abc"[..], b"-1", b"", b"1.5", b"+3", b"\xff"] {
            assert!(parse_request(bad).is_err(), "{bad:?}");
        }
        assert!(parse_request(b"99999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn a_shown_request_is_short_and_has_no_control_characters() {
        assert_eq!(shown(b"abc"), "'abc'");
        assert_eq!(shown(b"\x1b[2J\r"), "'\\u{1b}[2J\\r'");
        assert_eq!(
            shown("x".repeat(50).as_bytes()),
            format!("'{}…'", "x".repeat(40))
        );
    }
}
