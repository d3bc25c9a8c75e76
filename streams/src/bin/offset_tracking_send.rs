//! Chapter 8, Streams (Offset Tracking): the producer, which appends 100 messages to a stream,
//! the last one a marker.
//!
//! Terminal 1: `cargo run --bin offset_tracking_send`
//! Terminal 2: `cargo run --bin offset_tracking_receive`
//!
//! New here: nothing on the producer's side but a batch: 99 messages `hello: 0` ... `hello: 98`
//! and a last one, `marker: 99`, which tells the receiver where this batch ends. Every publish is
//! confirmed (as in chapter 7, asynchronously: the broker acks many at once).

use amiquip::Publish;
use std::process::ExitCode;

const HELP: &str = "Usage: offset_tracking_send
Appends 100 messages to the stream 'stream-offset-tracking' (chapter 8): 'hello: 0' to
'hello: 98', then 'marker: 99'; declares the stream (retention 2,000,000,000 bytes) if needed
and waits until the broker has confirmed every message.";

const STREAM: &str = "stream-offset-tracking";
const RETENTION_BYTES: i64 = 2_000_000_000;
const MESSAGES: u64 = 100;

fn main() -> ExitCode {
    common::run(|| {
        common::Args::read(HELP)?.none()?;

        let session = common::connect()?;
        let channel = session.channel();
        streams::declare_stream(channel, STREAM, RETENTION_BYTES)?;
        let confirms = channel.listen_for_publisher_confirms()?;
        channel.enable_publisher_confirms()?;

        println!("Publishing {MESSAGES} messages");
        for i in 0..MESSAGES {
            // The last one is the marker: where this batch ends, for the receiver.
            let body = match i < MESSAGES - 1 {
                true => format!("hello: {i}"),
                false => format!("marker: {i}"),
            };
            channel.basic_publish("", Publish::new(body.as_bytes(), STREAM))?;
        }
        // The confirms come as they come, many at once (chapter 7): wait for all of them.
        session.confirm_all(&confirms, MESSAGES, "the messages")?;
        println!("Messages confirmed: true");
        session.close()
    })
}
