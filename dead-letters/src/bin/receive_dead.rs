//! Chapter 9, dead letters and retries: the reader of the dead letters.
//!
//! Terminal 1: `cargo run --bin receive_dead`
//! Terminal 2: `cargo run --bin emit_job -- --ttl 2000 nobody takes this`
//!
//! New here: the `x-death` header. When the broker dead-letters a message it adds an entry
//! (the latest first) that says why (`rejected`, `expired`, `maxlen`, `delivery_limit`), in
//! which queue, and how many times. A message someone published here directly has none, or
//! one the broker never wrote: this program says so in one line and goes on.

use amiquip::{AmqpProperties, AmqpValue, ConsumerOptions};
use dead_letters::{Job, DEAD};
use std::process::ExitCode;

const HELP: &str = "Usage: receive_dead
Reads the dead letters of chapter 9 (the queue 'jobs.dead') and prints why each one died,
from its x-death header: the reason and the queue it died in.
JOBS_SETTINGS=policy: declare the queues without dead-letter arguments (policies set them).";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;
        let settings = dead_letters::settings()?;

        let connection = common::connect()?;
        let channel = connection.channel();
        dead_letters::declare(channel, settings)?;

        let queue = channel.queue_declare_passive(DEAD)?;
        let consumer = queue.consume(ConsumerOptions::default())?;
        let deliveries = common::deliveries(&consumer);
        println!(" [*] Waiting for dead letters. To exit press CTRL+C");

        for delivery in deliveries {
            let delivery = delivery?;
            let Job { id, words, .. } = Job::read(&delivery.properties, &delivery.body);
            match death(&delivery.properties) {
                Ok((reason, queue)) => {
                    println!(" [x] Dead {id}: {words} (reason {reason}, from {queue})")
                }
                Err(why) => println!(" [!] Dead {id}: {words} (cannot say why: {why})"),
            }
            // Read and reported: the dead letter may go.
            consumer.ack(delivery)?;
        }
        Ok(())
    })
}

/// Why a message died: the reason and the queue of the latest entry of its `x-death` header
/// (the broker adds one, the latest first, each time it dead-letters a message); or why that
/// cannot be read: no header (never dead-lettered), or not what RabbitMQ writes.
fn death(properties: &AmqpProperties) -> Result<(String, String), String> {
    let headers = properties.headers().as_ref();
    let Some(header) = headers.and_then(|headers| headers.get("x-death")) else {
        return Err(
            "it has no x-death header: it was published there directly, not dead-lettered".into(),
        );
    };
    let latest = match header {
        AmqpValue::FieldArray(entries) => entries.first(),
        _ => None,
    };
    let text = |name: &str| match latest {
        Some(AmqpValue::FieldTable(entry)) => match entry.get(name) {
            Some(AmqpValue::LongString(text)) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    };
    match (text("reason"), text("queue")) {
        (Some(reason), Some(queue)) => Ok((reason, queue)),
        _ => Err("its x-death header is not the broker's: a list of tables, each with a reason and a queue".into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use amiquip::FieldTable;

    fn with_x_death(value: AmqpValue) -> AmqpProperties {
        let mut headers = FieldTable::new();
        headers.insert("x-death".into(), value);
        AmqpProperties::default().with_headers(headers)
    }

    fn entry(reason: &str, queue: &str, count: i64) -> AmqpValue {
        let mut table = FieldTable::new();
        table.insert("reason".into(), AmqpValue::LongString(reason.into()));
        table.insert("queue".into(), AmqpValue::LongString(queue.into()));
        table.insert("count".into(), AmqpValue::LongLongInt(count));
        AmqpValue::FieldTable(table)
    }

    #[test]
    fn the_latest_death_is_the_first_entry() {
        let properties = with_x_death(AmqpValue::FieldArray(vec![
            entry("rejected", "jobs", 1),
            entry("expired", "jobs.retry", 2),
        ]));
        assert_eq!(
            death(&properties).unwrap(),
            ("rejected".to_string(), "jobs".to_string())
        );
    }

    #[test]
    fn a_malformed_x_death_is_described_never_a_panic() {
        let foreign = "its x-death header is not the broker's: a list of tables, each with a reason and a queue";
        for value in [
            AmqpValue::LongString("garbage".into()),
            AmqpValue::FieldArray(vec![]),
            AmqpValue::FieldArray(vec![AmqpValue::LongLongInt(7)]),
            AmqpValue::FieldArray(vec![AmqpValue::FieldTable(FieldTable::new())]),
        ] {
            assert_eq!(death(&with_x_death(value)).unwrap_err(), foreign);
        }
        assert!(death(&AmqpProperties::default())
            .unwrap_err()
            .starts_with("it has no x-death header"));
    }
}
