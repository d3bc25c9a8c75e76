//! Chapter 9, dead letters and retries: the producer of jobs.
//!
//! Terminal 1: `cargo run --bin job_worker`
//! Terminal 2: `cargo run --bin receive_dead`
//! Terminal 3: `cargo run --bin emit_job -- flaky report` (or `fail ...`, `busy ...`, `--ttl 5000 ...`)
//!
//! New here: each job carries an id of its own (`message_id`), which every line about it
//! shows, and which a worker can use to handle a redelivered job only once. `--ttl <ms>` sets
//! the message's `expiration`: a job nobody takes within that time dies (reason `expired`).

use amiquip::{Confirm, Publish};
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "Usage: emit_job [--ttl <ms>] <words>...
Publishes a persistent job to the exchange 'jobs' (chapter 9), with an id of its own.
What the words say decides what job_worker does: 'fail' fails for good, 'flaky' fails twice
before it works, 'busy' fails every time (3 attempts), 'poison' kills the worker.
  --ttl <ms>   the job expires after <ms> milliseconds if no worker took it by then
JOBS_SETTINGS=policy: declare the queues without dead-letter arguments (policies set them).";

fn main() -> ExitCode {
    common::run(|| {
        let (ttl, words) = parse()?;
        let words = words.join(" ");
        if words.is_empty() {
            return Err(common::usage(
                HELP,
                "say what the job is: emit_job <words>...",
            ));
        }
        let settings = dead_letters::settings()?;
        let id = dead_letters::new_job_id();

        let connection = common::connect()?;
        let channel = connection.channel();
        dead_letters::declare(channel, settings)?;

        let confirms = channel.listen_for_publisher_confirms()?;
        let returns = channel.listen_for_returns()?;
        channel.enable_publisher_confirms()?;

        // Persistent, with the job's id as message_id. With --ttl, an expiration: a per-message
        // TTL that the queue checks when the job reaches its head (not before: see the guide).
        let properties = dead_letters::job_properties(&id, ttl);
        let mut publish =
            Publish::with_properties(words.as_bytes(), dead_letters::JOBS, properties);
        publish.mandatory = true;
        channel.basic_publish(dead_letters::JOBS_EXCHANGE, publish)?;

        let wait = Duration::from_secs(30);
        let Some(confirm) = connection.confirm(&confirms, wait)? else {
            return Err(connection.unconfirmed("the job", wait));
        };
        if returns.try_recv().is_ok() {
            anyhow::bail!(common::Failure::new(
                "the broker returned the job: no queue is bound to the exchange 'jobs' with the key 'jobs'"
            )
            .hint("was the queue jobs deleted? Run emit_job again to declare it"));
        }
        if let Confirm::Nack(_) = confirm {
            anyhow::bail!(common::Failure::new(
                "the broker refused the job (nack): it was not stored"
            )
            .hint("a policy may limit the queue with overflow reject-publish; scripts/broker list_policies"));
        }
        println!(" [x] Job {id}: {words}");

        connection.close()
    })
}

/// `--ttl <ms>` (or `--ttl=<ms>`) before the words, then the words as every program reads
/// them (`--help`, `--`), all checked before connecting.
fn parse() -> anyhow::Result<(Option<u64>, Vec<String>)> {
    let mut ttl = None;
    let mut rest = Vec::new();
    let mut args = std::env::args_os().skip(1).map(|arg| {
        // A job's words are text: an argument that is not UTF-8 is refused, never mangled.
        arg.into_string().map_err(|arg| {
            common::usage(
                HELP,
                &format!("the argument '{}' is not UTF-8 text", arg.to_string_lossy()),
            )
        })
    });
    while let Some(arg) = args.next() {
        let arg = arg?;
        let value = match arg.strip_prefix("--ttl") {
            Some("") if rest.is_empty() => args.next().transpose()?,
            Some(value) if rest.is_empty() && value.starts_with('=') => {
                Some(value[1..].to_string())
            }
            _ => {
                rest.push(arg);
                continue;
            }
        };
        let text = value.unwrap_or_default();
        // RabbitMQ takes an expiration of 0 to 2^32-1 ms; more is refused when published.
        match text.parse::<u64>() {
            Ok(ms) if ms <= u64::from(u32::MAX) => ttl = Some(ms),
            _ => {
                return Err(common::usage(
                    HELP,
                    &format!("--ttl takes milliseconds, a whole number up to 4294967295: '{text}'"),
                ))
            }
        }
    }
    Ok((ttl, common::parse_args(rest, HELP)?))
}
