//! Chapter 8, Streams (Hello World): the consumer, which reads a stream from its start.
//!
//! Terminal 1: `cargo run --bin receive_stream`            (from the first message kept)
//!             `cargo run --bin receive_stream -- next`    (only what comes from now on)
//! Terminal 2: `cargo run --bin send_stream`
//!
//! New here: reading a stream. Nothing is removed: run two receivers, or one again, and each
//! gets every message. Where to start is the consumer argument `x-stream-offset`: `first`,
//! `last`, `next`, an offset, a time or an interval back from now. Each delivery carries its
//! offset (the header `x-stream-offset`). A stream consumer must set a prefetch and ack by hand:
//! here an ack deletes nothing, it is credit, telling the broker to read on.

use amiquip::{AmqpValue, ConsumerOptions, FieldTable};
use std::process::ExitCode;

const HELP: &str = "Usage: receive_stream [first|last|next|OFFSET|TIME|INTERVAL]
Reads the stream 'hello-stream' (chapter 8) and prints every message, until Ctrl+C, starting
from the first message it keeps (first, the default), the last chunk (last), what comes next
(next), an offset (42), a time (2026-11-29T20:00:00Z) or an interval back from now (30m, 2h, 7D).";

const STREAM: &str = "hello-stream";
const RETENTION_BYTES: i64 = 5_000_000_000;

fn main() -> ExitCode {
    common::run(|| {
        let start = match common::args(HELP)?.as_slice() {
            [] => AmqpValue::LongString("first".to_string()),
            [offset] => {
                streams::parse_offset(offset).map_err(|problem| common::usage(HELP, &problem))?
            }
            _ => return Err(common::usage(HELP, "one offset at most")),
        };

        let session = common::connect()?;
        let channel = session.channel();
        let stream = streams::declare_stream(channel, STREAM, RETENTION_BYTES)?;

        // A prefetch is required (per consumer: not global): the broker sends this many
        // messages ahead of our acks, and reads on as the acks come back.
        channel.qos(0, streams::PREFETCH, false)?;
        let mut arguments = FieldTable::new();
        arguments.insert("x-stream-offset".to_string(), start);
        // Manual acks (no_ack false): the broker refuses a stream consumer without them.
        let consumer = stream.consume(ConsumerOptions {
            arguments,
            ..Default::default()
        })?;
        let deliveries = common::deliveries(&consumer);
        println!("Press control + C to close");

        let mut last = None;
        for delivery in deliveries {
            let delivery = delivery.map_err(|e| streams::reading_failure(e, STREAM, last))?;
            last = streams::offset_of(&delivery);
            println!(
                "Got message: {} from stream {STREAM}",
                String::from_utf8_lossy(&delivery.body).escape_debug()
            );
            // Credit, not removal: the message stays in the stream for every other reader.
            consumer.ack(delivery)?;
        }
        common::cancel(consumer)?;
        session.close()
    })
}
