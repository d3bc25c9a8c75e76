//! Chapter 8, Streams (Offset Tracking): the consumer, which remembers how far it has read, on
//! the broker, and resumes there.
//!
//! Terminal 1: `cargo run --bin offset_tracking_send`      (twice, for 200 messages)
//! Terminal 2: `cargo run --bin offset_tracking_receive`   (reads 0 to 99 and stops at the marker;
//!                                                          run again: 100 to 199)
//!
//! New here: offset tracking. The consumer `subscriber_1` stores the offset of what it has
//! processed every 10 messages and at the marker, and starts after the stored offset next time.
//! The stream protocol keeps such offsets in the stream itself (`store_offset`, `query_offset`);
//! AMQP 0-9-1 has nothing of the kind, so this program keeps its offset in a small queue of its
//! own on the broker, `stream-offset-tracking.subscriber_1`: durable, holding one message, the
//! last offset stored. On the broker, so that a restart elsewhere resumes too. Killed at any
//! moment, it re-reads at most what came after the last stored offset, and never skips one.

use amiquip::{
    AmqpProperties, AmqpValue, Channel, Confirm, ConsumerOptions, FieldTable, Publish,
    QueueDeclareOptions,
};
use crossbeam_channel::Receiver;
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "Usage: offset_tracking_receive
Reads the stream 'stream-offset-tracking' (chapter 8) as the consumer 'subscriber_1', from
after the offset it stored last (from the first message the first time), storing its offset
every 10 messages, and stops at the first message containing 'marker'. The offset is kept on
the broker, in the queue 'stream-offset-tracking.subscriber_1'.";

const STREAM: &str = "stream-offset-tracking";
const RETENTION_BYTES: i64 = 2_000_000_000;
const CONSUMER_NAME: &str = "subscriber_1";
/// How long storing an offset may wait for the broker's confirm.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    common::run(|| {
        if !common::args(HELP)?.is_empty() {
            return Err(common::usage(
                HELP,
                "offset_tracking_receive takes no arguments",
            ));
        }

        let session = common::connect()?;
        let channel = session.channel();
        let stream = streams::declare_stream(channel, STREAM, RETENTION_BYTES)?;
        let confirms = channel.listen_for_publisher_confirms()?;
        channel.enable_publisher_confirms()?;
        let mut store =
            OffsetStore::declare(channel, &format!("{STREAM}.{CONSUMER_NAME}"), confirms)?;

        // Where to start: right after the offset stored last, or the stream's first message.
        let stored_last = store.query()?;
        let from = stored_last.map_or(0, |stored| stored + 1);
        let start = match stored_last {
            Some(stored) => AmqpValue::LongLongInt(stored + 1),
            None => AmqpValue::LongString("first".to_string()),
        };

        channel.qos(0, streams::PREFETCH, false)?;
        let mut arguments = FieldTable::new();
        arguments.insert("x-stream-offset".to_string(), start);
        let consumer = stream.consume(ConsumerOptions {
            arguments,
            ..Default::default()
        })?;
        let deliveries = common::deliveries(&consumer);
        println!("Started consuming: Press control +C to close");

        let (mut first, mut processed, mut stored) = (None, None, stored_last);
        let mut count: u64 = 0;
        for delivery in deliveries {
            let delivery = match delivery {
                Ok(delivery) => delivery,
                Err(error) => {
                    // Ctrl+C: store how far we got, so that the next run starts right after it.
                    if error.is::<common::Interrupted>() && processed != stored {
                        if let Some(offset) = processed {
                            store.save(offset)?;
                            store.flush(offset, &session)?;
                        }
                    }
                    return Err(streams::reading_failure(error, STREAM, processed));
                }
            };
            let Some(offset) = streams::offset_of(&delivery) else {
                return Err(common::Failure::new(
                    "a delivery came without its offset (the header x-stream-offset): is 'stream-offset-tracking' a stream?",
                )
                .into());
            };
            let is_marker = String::from_utf8_lossy(&delivery.body).contains("marker");
            consumer.ack(delivery)?;
            if offset < from {
                // The broker starts at the beginning of the chunk that holds `from`: what comes
                // before it was processed by an earlier run.
                continue;
            }
            if first.is_none() {
                println!("First message received");
                first = Some(offset);
            }
            processed = Some(offset);
            count += 1;
            // Every 10 messages, and at the marker. A store is one small publish, not awaited:
            // killed meanwhile, the next run starts after an earlier stored offset, which
            // re-reads a few messages more and skips none.
            if count % 10 == 0 || is_marker {
                store.save(offset)?;
                stored = Some(offset);
            }
            if is_marker {
                // Before we say we are done, the broker has every offset we stored.
                store.flush(offset, &session)?;
                break;
            }
        }
        common::cancel(consumer)?;
        session.close()?;
        if let (Some(first), Some(last)) = (first, processed) {
            println!("Done consuming first_offset: {first} last_offset: {last}");
        }
        Ok(())
    })
}

/// A consumer's offset, kept on the broker in a queue of its own that holds one message: the
/// offset stored last, as decimal text.
struct OffsetStore<'a> {
    channel: &'a Channel,
    queue: amiquip::Queue<'a>,
    confirms: Receiver<Confirm>,
    /// How many offsets we published, and up to which the broker has confirmed them.
    published: u64,
    confirmed: u64,
}

impl<'a> OffsetStore<'a> {
    /// Declares the store's queue: durable (it survives a restart of the broker), a classic
    /// queue (in a vhost whose default queue type is quorum too: a quorum queue would count
    /// every read of the offset as a redelivery and, from RabbitMQ 4.0, drop the offset after
    /// 20), and at most one message, the oldest dropped when a new one comes (`drop-head`).
    /// Its publishes are confirmed (`confirms`: the channel is in confirm mode).
    fn declare(
        channel: &'a Channel,
        name: &str,
        confirms: Receiver<Confirm>,
    ) -> anyhow::Result<Self> {
        let mut arguments = FieldTable::new();
        arguments.insert(
            "x-queue-type".to_string(),
            AmqpValue::LongString("classic".to_string()),
        );
        arguments.insert("x-max-length".to_string(), AmqpValue::LongInt(1));
        arguments.insert(
            "x-overflow".to_string(),
            AmqpValue::LongString("drop-head".to_string()),
        );
        let queue = channel.queue_declare(
            name,
            QueueDeclareOptions {
                durable: true,
                arguments,
                ..Default::default()
            },
        )?;
        Ok(OffsetStore {
            channel,
            queue,
            confirms,
            published: 0,
            confirmed: 0,
        })
    }

    /// The offset stored last, if any: the queue's one message, read and put back at once
    /// (`basic.get`, then `basic.reject` with requeue), so that it stays for the next run.
    fn query(&self) -> anyhow::Result<Option<i64>> {
        let Some(got) = self.queue.get(false)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&got.delivery.body).into_owned();
        got.reject(self.channel, true)?;
        match text.parse::<i64>() {
            Ok(offset) if offset >= 0 => Ok(Some(offset)),
            _ => Err(common::Failure::new(format!(
                "the offset store '{}' holds '{}', not an offset",
                self.queue.name(),
                text.escape_debug()
            ))
            .hint(format!(
                "delete it to read from the first message again: scripts/broker delete_queue '{}'",
                self.queue.name()
            ))
            .into()),
        }
    }

    /// Stores `offset`: a persistent message that replaces the one before (`x-max-length` 1).
    /// As the stream protocol's `store_offset`, it does not wait: the broker's confirms are
    /// taken in as they come (a nack is an error), and awaited by [`flush`](Self::flush).
    fn save(&mut self, offset: i64) -> anyhow::Result<()> {
        let properties = AmqpProperties::default().with_delivery_mode(2);
        self.channel.basic_publish(
            "",
            Publish::with_properties(offset.to_string().as_bytes(), self.queue.name(), properties),
        )?;
        self.published += 1;
        while let Ok(confirm) = self.confirms.try_recv() {
            self.settle(confirm, offset)?;
        }
        Ok(())
    }

    /// Waits until the broker has confirmed every offset stored, `offset` the last one.
    fn flush(&mut self, offset: i64, session: &common::Session) -> anyhow::Result<()> {
        while self.confirmed < self.published {
            match session.confirm(&self.confirms, CONFIRM_TIMEOUT)? {
                Some(confirm) => self.settle(confirm, offset)?,
                None => {
                    return Err(common::Failure::new(format!(
                        "the broker did not confirm storing offset {offset} within {} s",
                        CONFIRM_TIMEOUT.as_secs()
                    ))
                    .hint("is it overloaded? scripts/broker status")
                    .into())
                }
            }
        }
        Ok(())
    }

    /// Takes in one confirm (in order, on one queue: its number is how many are confirmed).
    fn settle(&mut self, confirm: Confirm, offset: i64) -> anyhow::Result<()> {
        match confirm {
            Confirm::Ack(payload) => {
                self.confirmed = self.confirmed.max(payload.delivery_tag);
                Ok(())
            }
            Confirm::Nack(_) => Err(common::Failure::new(format!(
                "the broker refused to store an offset (nack; the last one stored: {offset})"
            ))
            .hint("is the broker short of disk? scripts/broker status")
            .into()),
        }
    }
}
