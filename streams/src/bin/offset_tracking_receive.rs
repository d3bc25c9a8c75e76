//! Chapter 8, Streams (Offset Tracking): the consumer, which remembers how far it has read, on
//! the broker, and resumes there.
//!
//! Terminal 1: `cargo run --bin offset_tracking_send`      (twice, for 200 messages)
//! Terminal 2: `cargo run --bin offset_tracking_receive`   (0 to 99, stops at the marker; again:
//!                                                          100 to 199)
//!
//! New here: offset tracking. The consumer `subscriber_1` stores the offset it has processed
//! every 10 messages and where it stops, and starts after it next time. The stream protocol
//! keeps such offsets in the stream; AMQP 0-9-1 has nothing of the kind, so this program keeps
//! its offset on the broker, in a queue of its own holding one message: the offset stored last.

use amiquip::AmqpValue;
use std::process::ExitCode;

const HELP: &str = "Usage: offset_tracking_receive
Reads the stream 'stream-offset-tracking' (chapter 8) as the consumer 'subscriber_1', from after
the offset it stored last (from the first message the first time), storing its offset every 10
messages, and stops at the first message containing 'marker'. The offset is kept on the broker,
in the queue 'stream-offset-tracking.subscriber_1'.";

const STREAM: &str = "stream-offset-tracking";
const STORE: &str = "stream-offset-tracking.subscriber_1";

fn main() -> ExitCode {
    common::run(|| {
        common::Args::read(HELP)?.none()?;

        let session = common::connect()?;
        let channel = session.channel();
        let stream = streams::declare_stream(channel, STREAM, 2_000_000_000)?;

        // Where to start: after the offset stored last (as the stream protocol's query_offset),
        // or at the stream's first message.
        let mut store = streams::OffsetStore::declare(&session, STORE)?;
        let stored = store.query()?;
        let from = stored.map_or(0, |offset| offset + 1);
        let start = match stored {
            Some(_) => AmqpValue::LongLongInt(from),
            None => AmqpValue::LongString("first".to_string()),
        };

        channel.qos(0, streams::PREFETCH, false)?;
        let consumer = stream.consume(streams::reading_from(start))?;
        let deliveries = common::deliveries(&consumer);
        println!("Started consuming: Press control +C to close");

        let (mut first, mut last, mut stored, mut count, mut interrupted) =
            (None, None, stored, 0, None);
        for delivery in deliveries {
            let delivery = match delivery {
                Err(error) if error.is::<common::Interrupted>() => {
                    interrupted = Some(error);
                    break;
                }
                delivery => delivery.map_err(|e| streams::reading_failure(e, STREAM, last))?,
            };
            let offset = streams::offset_of(&delivery, STREAM)?;
            let is_marker = String::from_utf8_lossy(&delivery.body).contains("marker");
            consumer.ack(delivery)?;
            // The broker starts at the chunk that holds `from`: what comes before it was
            // processed by an earlier run.
            if offset < from {
                continue;
            }
            if first.is_none() {
                println!("First message received");
                first = Some(offset);
            }
            (last, count) = (Some(offset), count + 1);
            // Every 10 messages. Killed meanwhile, the next run starts after an earlier stored
            // offset: it re-reads a few messages more, and skips none.
            if count % 10 == 0 {
                store.store(offset)?;
                stored = last;
            }
            if is_marker {
                break;
            }
        }
        // At the marker, or on Ctrl+C: store how far we got, then wait until the broker has
        // every offset stored, before the program says so.
        if let Some(offset) = last.filter(|_| last != stored) {
            store.store(offset)?;
        }
        store.flush()?;
        if let Some(interrupted) = interrupted {
            return Err(interrupted);
        }
        common::cancel(consumer)?;
        session.close()?;
        if let (Some(first), Some(last)) = (first, last) {
            println!("Done consuming first_offset: {first} last_offset: {last}");
        }
        Ok(())
    })
}
