//! Chapter 7, Publisher confirms: four ways to know that the broker has every message.
//!
//! Terminal 1: `cargo run --release --bin publisher_confirms`        (50,000 messages each)
//!             `cargo run --bin publisher_confirms -- 5000`          (a quicker run)
//!
//! New here: confirms as a stream. On a channel in confirm mode the broker numbers what we
//! publish 1, 2, 3... and acks (or nacks) each number, sometimes many at once (`multiple`:
//! everything up to this number). Each strategy has a connection and a queue of its own.

use amiquip::{Confirm, Publish, QueueDeclareOptions};
use crossbeam_channel::Receiver;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const HELP: &str = "Usage: publisher_confirms [message_count]
Publishes message_count messages (default 50,000) four times, waiting for the broker's confirms
each time in another way (individually, in batches of 100, asynchronously, with a window of
1,000), and prints how long each took (chapter 7).";

/// How long one confirm may keep us waiting, as the official program's `waitForConfirmsOrDie(5_000)`.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const BATCH_SIZE: usize = 100;
const WINDOW: usize = 1_000;

fn main() -> ExitCode {
    common::run(|| {
        let count = message_count(common::Args::read(HELP)?)?;

        // Strategy 1: publish, then wait for that message's confirm before the next. One round
        // trip per message: simple, and the slowest.
        publish_and_confirm(count, "individually", |pending| {
            for i in 0..count {
                pending.publish(i)?;
                pending.wait_until_at_most(0)?;
            }
            Ok(())
        })?;

        // Strategy 2: publish a batch, then wait for all its confirms. Far fewer waits; but when
        // something fails we only know that it was somewhere in the batch.
        publish_and_confirm(count, "in batch", |pending| {
            for i in 0..count {
                pending.publish(i)?;
                if pending.unconfirmed.len() == BATCH_SIZE {
                    pending.wait_until_at_most(0)?;
                }
            }
            pending.wait_until_at_most(0)
        })?;

        // Strategy 3: never stop to wait. Take in whatever confirms have arrived as we go (each
        // may settle many messages at once), and wait only at the end. Every message is still
        // tracked by its number, so a nack says exactly which ones.
        publish_and_confirm(count, "and handled confirms asynchronously", |pending| {
            for i in 0..count {
                pending.publish(i)?;
                while let Ok(confirm) = pending.confirms.try_recv() {
                    settle(&mut pending.unconfirmed, confirm)?;
                }
            }
            pending.wait_until_at_most(0)
        })?;

        // Strategy 4: asynchronous, but at most WINDOW messages unconfirmed at any time: a
        // bound on what we hold in memory (to publish again) and on how far we outrun the broker.
        publish_and_confirm(count, "with confirmation window", |pending| {
            for i in 0..count {
                pending.wait_until_at_most(WINDOW - 1)?;
                pending.publish(i)?;
            }
            pending.wait_until_at_most(0)
        })?;
        Ok(())
    })
}

/// How many messages each strategy publishes: the argument (`5000` or `5,000`), else 50,000.
fn message_count(args: common::Args) -> anyhow::Result<usize> {
    let what = "a message count from 1 to 10,000,000 (e.g. 5000 or 5,000)";
    let count = |n: &str| common::number(n, 1..=10_000_000, what);
    let n = args.one(50_000, count, "one message count at most")?;
    Ok(usize::try_from(n)?)
}

/// Runs one strategy on a connection and exclusive queue of its own, in confirm mode: `strategy`
/// publishes `count` messages and settles their confirms; once the queue holds them all, prints
/// how long that took, as the official Java program does.
fn publish_and_confirm(
    count: usize,
    how: &str,
    strategy: impl FnOnce(&mut Outstanding) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let session = common::connect()?;
    let channel = session.channel();
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let queue = channel.queue_declare("", exclusive)?;
    // From here on the broker confirms every publish on this channel, numbering them from 1.
    let confirms = channel.listen_for_publisher_confirms()?;
    channel.enable_publisher_confirms()?;

    let start = Instant::now();
    let mut outstanding = Outstanding {
        session: &session,
        queue: queue.name(),
        confirms,
        unconfirmed: BTreeMap::new(),
        published: 0,
    };
    strategy(&mut outstanding)?;
    let elapsed = start.elapsed().as_millis();

    // Confirmed means the queue has them: check it, as the broker itself counts them.
    let held = channel.queue_declare_passive(queue.name())?;
    let held = held.declared_message_count().unwrap_or(0);
    if usize::try_from(held).ok() != Some(count) {
        let line = format!("the queue holds {held} messages after {count} confirmed publishes");
        anyhow::bail!(common::Failure::new(line));
    }
    session.close()?;
    let (count, elapsed) = (thousands(count), thousands(elapsed));
    println!("Published {count} messages {how} in {elapsed} ms");
    Ok(())
}

/// One strategy's publishing: where to, the confirms, what is unconfirmed (sequence -> index).
struct Outstanding<'s> {
    session: &'s common::Session,
    queue: &'s str,
    confirms: Receiver<Confirm>,
    unconfirmed: BTreeMap<u64, usize>,
    published: u64,
}

impl Outstanding<'_> {
    /// Publishes message `index` (the index as text), unconfirmed under the next sequence number.
    fn publish(&mut self, index: usize) -> anyhow::Result<()> {
        let body = index.to_string();
        let message = Publish::new(body.as_bytes(), self.queue);
        self.session.channel().basic_publish("", message)?;
        self.published += 1;
        self.unconfirmed.insert(self.published, index);
        Ok(())
    }

    /// Waits until at most `limit` messages are unconfirmed (`Session::confirm`: an alarm ends
    /// it at once, silence after [`CONFIRM_TIMEOUT`], naming the messages never confirmed).
    fn wait_until_at_most(&mut self, limit: usize) -> anyhow::Result<()> {
        while self.unconfirmed.len() > limit {
            let Some(confirm) = self.session.confirm(&self.confirms, CONFIRM_TIMEOUT)? else {
                let what = messages(self.unconfirmed.values().copied());
                return Err(common::not_confirmed(&what, CONFIRM_TIMEOUT));
            };
            settle(&mut self.unconfirmed, confirm)?;
        }
        Ok(())
    }
}

/// Settles one confirm: its sequence number, or with `multiple` all up to it. A nack: an error.
fn settle(unconfirmed: &mut BTreeMap<u64, usize>, confirm: Confirm) -> anyhow::Result<()> {
    let (payload, acked) = match confirm {
        Confirm::Ack(payload) => (payload, true),
        Confirm::Nack(payload) => (payload, false),
    };
    let settled: Vec<usize> = match payload.multiple {
        true => {
            let rest = unconfirmed.split_off(&(payload.delivery_tag + 1));
            std::mem::replace(unconfirmed, rest).into_values().collect()
        }
        false => Vec::from_iter(unconfirmed.remove(&payload.delivery_tag)),
    };
    if !acked {
        let refused = messages(settled.into_iter());
        anyhow::bail!(common::Failure::new(format!("the broker refused (nacked) {refused}")).hint(
            "the queue may be full (a max-length policy), or the broker short of memory or disk"
        ));
    }
    Ok(())
}

/// "message 7" or "messages 3-9, 12 (8 in all)": indices in ranges, at most five ranges shown.
fn messages(indices: impl Iterator<Item = usize>) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for i in indices {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => ranges.push((i, i)),
        }
    }
    let total: usize = ranges.iter().map(|(first, last)| last - first + 1).sum();
    let range = |&(first, last): &(usize, usize)| match first == last {
        true => first.to_string(),
        false => format!("{first}-{last}"),
    };
    let mut shown: Vec<String> = ranges.iter().take(5).map(range).collect();
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
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or("?"))
        .collect();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use amiquip::ConfirmPayload;

    fn ack(delivery_tag: u64, multiple: bool) -> Confirm {
        Confirm::Ack(ConfirmPayload {
            delivery_tag,
            multiple,
        })
    }

    /// `n` messages published, none confirmed: sequence numbers 1..=n, indices 0..n.
    fn outstanding(n: u64) -> BTreeMap<u64, usize> {
        (1..=n)
            .map(|sequence| (sequence, sequence as usize - 1))
            .collect()
    }

    #[test]
    fn the_default_is_50000_messages_as_in_the_official_program() {
        // Four strategies of 50,000 publishes each: what a run without arguments does (the
        // strategies themselves run with a small count against the fake broker and a real one).
        let count = |args: &[&str]| message_count(common::Args::from_words(HELP, args));
        assert_eq!(count(&[]).unwrap(), 50_000);
        assert_eq!(count(&["2,500"]).unwrap(), 2_500);
        assert!(count(&["0"]).is_err());
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
        assert!(settle(&mut o, ack(4, true)).is_ok());
        assert_eq!(o.keys().copied().collect::<Vec<_>>(), [5, 6, 7, 8, 9, 10]);
        assert!(settle(&mut o, ack(7, false)).is_ok());
        assert_eq!(o.len(), 5);
        assert!(settle(&mut o, ack(10, true)).is_ok());
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn a_nack_names_the_messages_it_covers() {
        let mut o = outstanding(20);
        let error = settle(
            &mut o,
            Confirm::Nack(ConfirmPayload {
                delivery_tag: 12,
                multiple: true,
            }),
        );
        let line = common::describe(&error.err().unwrap_or_else(|| anyhow::anyhow!("no error")));
        assert!(
            line.starts_with("the broker refused (nacked) messages 0-11 (12 in all)"),
            "{line}"
        );
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
