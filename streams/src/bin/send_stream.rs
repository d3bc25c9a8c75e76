//! Chapter 8, Streams (Hello World): the producer, which appends one message to a stream.
//!
//! Terminal 1: `cargo run --bin receive_stream`
//! Terminal 2: `cargo run --bin send_stream`
//!
//! New here: a stream. It is declared as a queue whose type is `stream` (`x-queue-type`), durable,
//! with a retention (`x-max-length-bytes`), and published to as any queue is, through the default
//! exchange. What differs is the reading: a stream is an append-only log, and a consumer reads
//! it without removing anything, so every reader, and every restart, sees every message again.
//! The publish is confirmed: a stream has taken a message once the broker says so.

use amiquip::Publish;
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "Usage: send_stream
Appends 'Hello, World!' to the stream 'hello-stream' (chapter 8), declaring the stream
(retention 5,000,000,000 bytes) if needed, and waits for the broker's confirm.";

const STREAM: &str = "hello-stream";
const RETENTION_BYTES: i64 = 5_000_000_000;

fn main() -> ExitCode {
    common::run(|| {
        if !common::args(HELP)?.is_empty() {
            return Err(common::usage(HELP, "send_stream takes no arguments"));
        }

        let session = common::connect()?;
        let channel = session.channel();
        streams::declare_stream(channel, STREAM, RETENTION_BYTES)?;

        // Confirm mode: the broker acks the message once the stream has written it.
        let confirms = channel.listen_for_publisher_confirms()?;
        channel.enable_publisher_confirms()?;
        channel.basic_publish("", Publish::new(b"Hello, World!", STREAM))?;
        match session.confirm(&confirms, Duration::from_secs(5))? {
            Some(amiquip::Confirm::Ack(_)) => {}
            Some(amiquip::Confirm::Nack(_)) => {
                return Err(
                    common::Failure::new("the broker refused the message (nack)")
                        .hint("is the broker short of disk? scripts/broker status")
                        .into(),
                )
            }
            None => return Err(session.unconfirmed("the message", Duration::from_secs(5))),
        }
        println!(" [x] Hello, World! message sent");
        session.close()
    })
}
