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

const HELP: &str = "Usage: send_stream
Appends 'Hello, World!' to the stream 'hello-stream' (chapter 8), declaring the stream
(retention 5,000,000,000 bytes) if needed, and waits for the broker's confirm.";

const STREAM: &str = "hello-stream";
const RETENTION_BYTES: i64 = 5_000_000_000;

fn main() -> ExitCode {
    common::run(|| {
        common::Args::read(HELP)?.none()?;

        let session = common::connect()?;
        let channel = session.channel();
        streams::declare_stream(channel, STREAM, RETENTION_BYTES)?;

        // Confirmed, as chapter 7 teaches: the broker acks the message once the stream has
        // written it.
        let message = Publish::new(b"Hello, World!", STREAM);
        session.publish_confirmed("", message, "the message")?;
        println!(" [x] Hello, World! message sent");
        session.close()
    })
}
