//! Chapter 7, Publisher confirms: four ways to know that the broker has every message.
//!
//! Terminal 1: `cargo run --release --bin publisher_confirms`        (50,000 messages each)
//!             `cargo run --bin publisher_confirms -- 5000`          (a quicker run)
//!
//! New here: confirms as a stream. On a channel in confirm mode the broker numbers what we
//! publish 1, 2, 3... and acks (or nacks) each number, sometimes many at once (`multiple`:
//! everything up to this number). Waiting for each confirm is simple and slow; waiting per batch
//! is faster; tracking the outstanding numbers while publishing on is fastest; a window caps how
//! many may be outstanding. Each strategy runs on a connection of its own and publishes to a
//! server-named exclusive queue, which must hold every message before the next one starts.

use amiquip::{Confirm, Publish, Queue, QueueDeclareOptions};
use crossbeam_channel::Receiver;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const HELP: &str = "Usage: publisher_confirms [message_count]
Publishes message_count messages (default 50,000) four times, each time waiting for the
broker's publisher confirms in another way (individually, in batches of 100, asynchronously,
with a window of 1,000), and prints how long each took (chapter 7).";

/// How long one confirm may keep us waiting, as the official program's `waitForConfirmsOrDie(5_000)`.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const BATCH_SIZE: usize = 100;
const WINDOW: usize = 1_000;

fn main() -> ExitCode {
    common::run(|| {
        let count = match common::args(HELP)?.as_slice() {
            [] => 50_000,
            [n] => match message_count(n) {
                Some(n) if (1..=10_000_000).contains(&n) => n,
                _ => {
                    let problem = format!(
                        "'{n}' is not a message count from 1 to 10,000,000 (e.g. 5000 or 5,000)"
                    );
                    return Err(common::usage(HELP, &problem));
                }
            },
            _ => return Err(common::usage(HELP, "one message count at most")),
        };

        // Strategy 1: publish, then wait for that message's confirm before the next. One round
        // trip per message: simple, and the slowest.
        let elapsed = publish_and_confirm(count, |outstanding| {
            for i in 0..count {
                outstanding.publish(i)?;
                outstanding.wait_until_at_most(0)?;
            }
            Ok(())
        })?;
        println!(
            "Published {} messages individually in {} ms",
            thousands(count),
            thousands(elapsed)
        );

        // Strategy 2: publish a batch, then wait for all its confirms. Far fewer waits; but when
        // something fails we only know that it was somewhere in the batch.
        let elapsed = publish_and_confirm(count, |outstanding| {
            for i in 0..count {
                outstanding.publish(i)?;
                if outstanding.unconfirmed.len() == BATCH_SIZE {
                    outstanding.wait_until_at_most(0)?;
                }
            }
            outstanding.wait_until_at_most(0)
        })?;
        println!(
            "Published {} messages in batch in {} ms",
            thousands(count),
            thousands(elapsed)
        );

        // Strategy 3: never stop to wait. Take in whatever confirms have arrived as we go (each
        // may settle many messages at once), and wait only at the end. Every message is still
        // tracked by its number, so a nack says exactly which ones.
        let elapsed = publish_and_confirm(count, |outstanding| {
            for i in 0..count {
                outstanding.publish(i)?;
                outstanding.settle_arrived()?;
            }
            outstanding.wait_until_at_most(0)
        })?;
        println!(
            "Published {} messages and handled confirms asynchronously in {} ms",
            thousands(count),
            thousands(elapsed)
        );

        // Strategy 4: asynchronous, but at most WINDOW messages unconfirmed at any time: a
        // bound on what we hold in memory (to publish again) and on how far we outrun the broker.
        let elapsed = publish_and_confirm(count, |outstanding| {
            for i in 0..count {
                outstanding.wait_until_at_most(WINDOW - 1)?;
                outstanding.publish(i)?;
            }
            outstanding.wait_until_at_most(0)
        })?;
        println!(
            "Published {} messages with confirmation window in {} ms",
            thousands(count),
            thousands(elapsed)
        );
        Ok(())
    })
}

/// A message count as a learner may write it: `5000`, or with thousands separators as this
/// program prints counts, `5,000`.
fn message_count(text: &str) -> Option<usize> {
    let mut groups = text.split(',');
    let first = groups.next()?;
    let rest: Vec<&str> = groups.collect();
    let digits = |group: &str| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit());
    let well_grouped =
        rest.is_empty() || (first.len() <= 3 && rest.iter().all(|group| group.len() == 3));
    if !digits(first) || !rest.iter().all(|group| digits(group)) || !well_grouped {
        return None;
    }
    text.replace(',', "").parse().ok()
}

/// Runs one strategy on a connection of its own: a fresh server-named exclusive queue, confirm
/// mode, then `strategy` publishes `count` messages and settles their confirms. Returns how
/// many milliseconds that took, once the queue is seen to hold every message.
fn publish_and_confirm(
    count: usize,
    strategy: impl FnOnce(&mut Outstanding) -> anyhow::Result<()>,
) -> anyhow::Result<u128> {
    let connection = common::connect()?;
    let channel = connection.channel();
    let queue = channel.queue_declare(
        "",
        QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        },
    )?;
    // From here on the broker confirms every publish on this channel, numbering them from 1.
    let confirms = channel.listen_for_publisher_confirms()?;
    channel.enable_publisher_confirms()?;

    let start = Instant::now();
    let mut outstanding = Outstanding {
        session: &connection,
        queue: &queue,
        confirms,
        unconfirmed: Unconfirmed::default(),
    };
    if let Err(error) = strategy(&mut outstanding) {
        // A lost connection shows only as confirms that stop coming: closing says why.
        connection.close()?;
        return Err(error);
    }
    let elapsed = start.elapsed().as_millis();

    // Confirmed means the queue has them: check it, as the broker itself counts them.
    let held = channel
        .queue_declare_passive(queue.name())?
        .declared_message_count()
        .unwrap_or(0);
    if usize::try_from(held).ok() != Some(count) {
        anyhow::bail!(common::Failure::new(format!(
            "the queue holds {held} messages after {count} confirmed publishes"
        )));
    }
    connection.close()?;
    Ok(elapsed)
}

/// One strategy's publishing: where to, the broker's confirms, and what is not yet confirmed.
struct Outstanding<'s> {
    session: &'s common::Session,
    queue: &'s Queue<'s>,
    confirms: Receiver<Confirm>,
    unconfirmed: Unconfirmed,
}

impl Outstanding<'_> {
    /// Publishes message `index` (its body: the index as text) and remembers it as unconfirmed.
    fn publish(&mut self, index: usize) -> anyhow::Result<()> {
        let body = index.to_string();
        self.session
            .channel()
            .basic_publish("", Publish::new(body.as_bytes(), self.queue.name()))?;
        self.unconfirmed.published(index);
        Ok(())
    }

    /// Takes in the confirms that have already arrived, without waiting.
    fn settle_arrived(&mut self) -> anyhow::Result<()> {
        while let Ok(confirm) = self.confirms.try_recv() {
            self.unconfirmed.settle(confirm)?;
        }
        Ok(())
    }

    /// Waits until at most `limit` messages are unconfirmed, as every chapter waits for a
    /// confirm (`Session::confirm`): an alarm that blocks the connection ends it at once, and
    /// the broker's silence after [`CONFIRM_TIMEOUT`], naming the messages it never confirmed.
    fn wait_until_at_most(&mut self, limit: usize) -> anyhow::Result<()> {
        while self.unconfirmed.len() > limit {
            let Some(confirm) = self.session.confirm(&self.confirms, CONFIRM_TIMEOUT)? else {
                anyhow::bail!(common::Failure::new(format!(
                    "no confirm within {} s for {}",
                    CONFIRM_TIMEOUT.as_secs(),
                    messages(self.unconfirmed.by_sequence.values().copied())
                ))
                .hint("is the broker short of memory or disk? scripts/broker status"));
            };
            self.unconfirmed.settle(confirm)?;
        }
        Ok(())
    }
}

/// The messages published and not yet confirmed: sequence number (from 1) -> message index.
#[derive(Default)]
struct Unconfirmed {
    by_sequence: BTreeMap<u64, usize>,
    next_sequence: u64,
}

impl Unconfirmed {
    fn len(&self) -> usize {
        self.by_sequence.len()
    }

    /// Message `index` was published: the broker gives it the next sequence number.
    fn published(&mut self, index: usize) {
        self.next_sequence += 1;
        self.by_sequence.insert(self.next_sequence, index);
    }

    /// Settles what one confirm covers: its sequence number alone, or with `multiple` every
    /// number up to it. A nack means the broker did not take those messages: an error.
    fn settle(&mut self, confirm: Confirm) -> anyhow::Result<()> {
        let (payload, acked) = match confirm {
            Confirm::Ack(payload) => (payload, true),
            Confirm::Nack(payload) => (payload, false),
        };
        let settled: Vec<usize> = if payload.multiple {
            let rest = self.by_sequence.split_off(&(payload.delivery_tag + 1));
            std::mem::replace(&mut self.by_sequence, rest)
                .into_values()
                .collect()
        } else {
            self.by_sequence
                .remove(&payload.delivery_tag)
                .into_iter()
                .collect()
        };
        if !acked {
            anyhow::bail!(common::Failure::new(format!(
                "the broker refused (nacked) {}",
                messages(settled.into_iter())
            ))
            .hint("the queue may be full (a max-length policy), or the broker short of memory or disk"));
        }
        Ok(())
    }
}

/// "message 7" or "messages 3-9, 12 (8 in all)": indices in ranges, at most five ranges shown.
fn messages(indices: impl Iterator<Item = usize>) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut total = 0;
    for i in indices {
        total += 1;
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => ranges.push((i, i)),
        }
    }
    let mut shown: Vec<String> = ranges
        .iter()
        .take(5)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if ranges.len() > 5 {
        shown.push("...".to_string());
    }
    match total {
        1 => format!("message {}", shown.join("")),
        _ => format!("messages {} ({total} in all)", shown.join(", ")),
    }
}

/// A number as the official Java program prints it (`%,d`): 50000 -> 50,000.
fn thousands(n: impl ToString) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use amiquip::ConfirmPayload;

    fn ack(delivery_tag: u64, multiple: bool) -> Confirm {
        Confirm::Ack(ConfirmPayload {
            delivery_tag,
            multiple,
        })
    }

    fn outstanding(n: u64) -> Unconfirmed {
        let mut unconfirmed = Unconfirmed::default();
        for index in 0..n as usize {
            unconfirmed.published(index);
        }
        unconfirmed
    }

    #[test]
    fn numbers_have_thousands_separators_as_in_java() {
        assert_eq!(thousands(50_000), "50,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567u128), "1,234,567");
        assert_eq!(thousands(0), "0");
    }

    #[test]
    fn a_multiple_ack_settles_everything_up_to_its_number() {
        let mut o = outstanding(10);
        assert!(o.settle(ack(4, true)).is_ok());
        assert_eq!(
            o.by_sequence.keys().copied().collect::<Vec<_>>(),
            [5, 6, 7, 8, 9, 10]
        );
        assert!(o.settle(ack(7, false)).is_ok());
        assert_eq!(o.len(), 5);
        assert!(o.settle(ack(10, true)).is_ok());
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn a_nack_names_the_messages_it_covers() {
        let mut o = outstanding(20);
        let error = o.settle(Confirm::Nack(ConfirmPayload {
            delivery_tag: 12,
            multiple: true,
        }));
        let line = common::describe(&error.err().unwrap_or_else(|| anyhow::anyhow!("no error")));
        assert!(
            line.starts_with("the broker refused (nacked) messages 0-11 (12 in all)"),
            "{line}"
        );
    }

    #[test]
    fn a_count_may_be_written_with_thousands_separators_as_the_program_prints_it() {
        assert_eq!(message_count("50,000"), Some(50_000));
        assert_eq!(message_count("1,000,000"), Some(1_000_000));
        assert_eq!(message_count("5000"), Some(5_000));
        for bad in [
            "5,0000",
            ",500",
            "50,",
            "1,,000",
            "12345,000",
            "-5",
            "5 000",
            "",
        ] {
            assert_eq!(message_count(bad), None, "{bad}");
        }
    }

    #[test]
    fn message_lists_are_ranges() {
        assert_eq!(messages([7].into_iter()), "message 7");
        assert_eq!(
            messages([3, 4, 5, 9].into_iter()),
            "messages 3-5, 9 (4 in all)"
        );
        assert_eq!(
            messages([1, 3, 5, 7, 9, 11, 13].into_iter()),
            "messages 1, 3, 5, 7, 9, ... (7 in all)"
        );
    }
}
