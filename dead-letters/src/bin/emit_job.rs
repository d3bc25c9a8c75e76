//! Chapter 9, dead letters and retries: the producer of jobs.
//!
//! Terminal 1: `cargo run --bin job_worker`
//! Terminal 2: `cargo run --bin receive_dead`
//! Terminal 3: `cargo run --bin emit_job -- flaky report` (or `fail ...`, `busy ...`, `--ttl 5000 ...`)
//!
//! New here: each job carries an id of its own (`message_id`), which every line about it
//! shows, and which a worker can use to handle a redelivered job only once. `--ttl <ms>` sets
//! the message's `expiration`: a job nobody takes within that time dies (reason `expired`).

use amiquip::{AmqpProperties, Publish};
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;

const HELP: &str = "Usage: emit_job [--ttl <ms>] <words>...
Publishes a persistent job to the exchange 'jobs' (chapter 9), with an id of its own.
What the words say decides what job_worker does: 'fail' fails for good, 'flaky' fails twice
before it works, 'busy' fails every time (3 attempts), 'poison' kills the worker.
  --ttl <ms>   the job expires after <ms> milliseconds if no worker took it by then
JOBS_SETTINGS=policy: declare the queues without dead-letter arguments (policies set them).";

fn main() -> ExitCode {
    common::run(|| {
        let mut args = common::Args::read(HELP)?;
        // RabbitMQ takes an expiration of 0 to 2^32-1 ms; more is refused when published.
        let what = "milliseconds, a whole number up to 4294967295";
        let ttl = args.number("--ttl", 0..=u64::from(u32::MAX), what)?;
        let words = args.words()?.join(" ");
        if words.is_empty() {
            return Err(common::usage(
                HELP,
                "say what the job is: emit_job <words>...",
            ));
        }
        let settings = dead_letters::settings()?;
        let id = new_job_id();

        let connection = common::connect()?;
        let channel = connection.channel();
        dead_letters::declare(channel, settings)?;

        // Persistent, with the job's id as message_id. With --ttl, an expiration: a per-message
        // TTL that the queue checks when the job reaches its head (not before: see the guide).
        let mut properties = AmqpProperties::default().with_delivery_mode(2);
        properties = properties.with_message_id(id.clone());
        if let Some(ttl) = ttl {
            properties = properties.with_expiration(ttl.to_string());
        }
        // Confirmed and mandatory, as chapter 7 teaches: the job is stored, or this says why not.
        let job = Publish::with_properties(words.as_bytes(), dead_letters::JOBS, properties);
        connection.publish_confirmed(dead_letters::JOBS_EXCHANGE, job, "the job")?;
        println!(" [x] Job {id}: {words}");

        connection.close()
    })
}

/// A fresh job id: 8 characters, letters and digits alternating (`k3x9q2m7`), random enough
/// that two jobs never share one in practice. The id travels as the message's `message_id`.
fn new_job_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    hasher.write_u128(now.map_or(0, |t| t.as_nanos()));
    hasher.write_u32(std::process::id());
    let mut bits = hasher.finish();
    let mut id = String::new();
    for i in 0..8 {
        let (first, choices) = if i % 2 == 0 { (b'a', 26) } else { (b'0', 10) };
        id.push(char::from(first + (bits % choices) as u8));
        bits /= 26;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_alternate_letters_and_digits() {
        let id = new_job_id();
        assert_eq!(id.len(), 8);
        for (i, c) in id.chars().enumerate() {
            assert!(if i % 2 == 0 {
                c.is_ascii_lowercase()
            } else {
                c.is_ascii_digit()
            });
        }
        // Random enough that two jobs never share one in practice: 1,000 of them, all different.
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_job_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
