//! Chapter 9, dead letters and retries: the topology that `emit_job`, `job_worker` and
//! `receive_dead` share, and what they read from a job's headers.
//!
//! ```text
//!                    ┌─── [ jobs.retry ] ◀── exchange "jobs.retry" ◀─────┐
//!                    │ after 5 s (its TTL):                              │ fail for now:
//!                    ▼ dead-lettered back                                │ a copy, then ack
//!   emit_job ──▶ exchange "jobs" ──"jobs"──▶ [ jobs ] ─────────────▶ job_worker
//!                                          quorum, durable
//!                                                │ dies: rejected, expired,
//!                                                │ maxlen, delivery_limit
//!                                                ▼
//!                                  exchange "jobs.dead" (fanout) ──▶ [ jobs.dead ] ──▶ receive_dead
//! ```
//!
//! Every program declares all of it (declaring is idempotent), so any of them may start first.

use amiquip::{
    AmqpProperties, AmqpValue, Channel, ExchangeDeclareOptions, ExchangeType, FieldTable,
    QueueDeclareOptions,
};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// The exchange that `emit_job` publishes to, and the retry queue dead-letters back to.
pub const JOBS_EXCHANGE: &str = "jobs";
/// The work queue (durable, quorum) and the routing key that leads to it.
pub const JOBS: &str = "jobs";
/// The exchange and queue where a job waits before its next attempt.
pub const RETRY: &str = "jobs.retry";
/// The dead-letter exchange of `jobs`, and the queue that keeps the dead letters.
pub const DEAD: &str = "jobs.dead";
/// How long a job waits in `jobs.retry` before it comes back: the queue's message TTL.
pub const RETRY_DELAY_MS: i64 = 5_000;
/// The attempt after which a job that keeps failing for now goes to the dead letters.
pub const ATTEMPTS: u64 = 3;
/// Our own header: how many times the job went through `jobs.retry` (see [`Job::attempt`]).
pub const RETRIES_HEADER: &str = "retries";

/// Where the queues' dead-letter settings come from, as `JOBS_SETTINGS` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settings {
    /// `JOBS_SETTINGS=arguments` (the default): the programs declare them as queue arguments.
    Arguments,
    /// `JOBS_SETTINGS=policy`: an operator's policies set them; the programs declare the queues
    /// with nothing but their type.
    Policy,
}

/// Reads `JOBS_SETTINGS` (`arguments`, the default, or `policy`), before connecting.
pub fn settings() -> anyhow::Result<Settings> {
    match std::env::var("JOBS_SETTINGS").as_deref() {
        Err(_) | Ok("arguments") => Ok(Settings::Arguments),
        Ok("policy") => Ok(Settings::Policy),
        Ok(other) => Err(common::Failure::new(format!(
            "JOBS_SETTINGS is '{other}': it says where the queues' dead-letter settings come from"
        ))
        .hint("JOBS_SETTINGS=arguments (the default: the programs declare them) or JOBS_SETTINGS=policy (an operator's policies set them)")
        .into()),
    }
}

/// Declares the chapter's exchanges, queues and bindings. With [`Settings::Arguments`], the
/// queues carry the arguments that make dead-lettering work. A queue's arguments are fixed
/// when it is created: declaring `jobs` again with other ones is refused (406
/// PRECONDITION_FAILED), which this explains in one line. What may vary (a length limit, a TTL
/// for all of `jobs`, a delivery limit) belongs in a policy, which the broker applies to the
/// existing queue without any redeclaration; with [`Settings::Policy`], policies set it all.
pub fn declare(channel: &Channel, settings: Settings) -> anyhow::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(ExchangeType::Direct, JOBS_EXCHANGE, durable.clone())
        .map_err(refused)?;
    channel
        .exchange_declare(ExchangeType::Fanout, RETRY, durable.clone())
        .map_err(refused)?;
    channel
        .exchange_declare(ExchangeType::Fanout, DEAD, durable)
        .map_err(refused)?;

    // The work queue: quorum (replicated, and it counts deliveries: the delivery limit), and
    // whatever dies in it (rejected without requeue, expired, pushed out by a length limit,
    // delivered too often) is republished by the broker to the exchange jobs.dead.
    let jobs = channel
        .queue_declare(
            JOBS,
            durable_queue(
                settings,
                &[
                    ("x-queue-type", AmqpValue::LongString("quorum".into())),
                    ("x-dead-letter-exchange", AmqpValue::LongString(DEAD.into())),
                ],
            ),
        )
        .map_err(refused)?;
    // The retry queue has no consumer: a job waits there until its TTL ends, and then "dies"
    // (reason expired) into the exchange jobs, with the routing key jobs: back to work.
    let retry = channel
        .queue_declare(
            RETRY,
            durable_queue(
                settings,
                &[
                    ("x-message-ttl", AmqpValue::LongLongInt(RETRY_DELAY_MS)),
                    (
                        "x-dead-letter-exchange",
                        AmqpValue::LongString(JOBS_EXCHANGE.into()),
                    ),
                    (
                        "x-dead-letter-routing-key",
                        AmqpValue::LongString(JOBS.into()),
                    ),
                ],
            ),
        )
        .map_err(refused)?;
    let dead = channel
        .queue_declare(DEAD, durable_queue(settings, &[]))
        .map_err(refused)?;
    channel
        .queue_bind(jobs.name(), JOBS_EXCHANGE, JOBS, FieldTable::new())
        .map_err(refused)?;
    channel
        .queue_bind(retry.name(), RETRY, "", FieldTable::new())
        .map_err(refused)?;
    channel
        .queue_bind(dead.name(), DEAD, "", FieldTable::new())
        .map_err(refused)?;
    Ok(())
}

/// A durable queue's declaration. With policies, it says only what the queue is (quorum or
/// not); everything else is the policies' business.
fn durable_queue(settings: Settings, arguments: &[(&str, AmqpValue)]) -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        arguments: arguments
            .iter()
            .filter(|(name, _)| settings == Settings::Arguments || *name == "x-queue-type")
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect(),
        ..Default::default()
    }
}

/// A declaration the broker refused. A 406 about a dead-letter argument means that the queue
/// was made before, by someone else, with other dead-letter settings: say so in one line.
fn refused(error: amiquip::Error) -> anyhow::Error {
    if let amiquip::Error::ServerClosedChannel {
        code: 406, message, ..
    } = &error
    {
        if let Some(argument) = inequivalent_argument(message) {
            let queue = quoted(message, "for queue '").unwrap_or_default();
            return common::Failure::new(format!(
                "the queue '{queue}' already exists with another '{argument}' than this chapter declares, and a queue's arguments never change (406: {message})"
            ))
            .hint(format!(
                "delete it (scripts/broker delete_queue {queue}) and run again; to vary its dead-lettering, TTL or limits, set a policy instead (scripts/broker set_policy, and JOBS_SETTINGS=policy if the policy sets the dead-lettering): a policy changes a live queue without any redeclaration"
            ))
            .into();
        }
    }
    error.into()
}

/// The argument named by `inequivalent arg 'x-...'` in a 406, if it is one of ours.
fn inequivalent_argument(message: &str) -> Option<String> {
    quoted(message, "inequivalent arg '").filter(|a| a.starts_with("x-"))
}

fn quoted(message: &str, after: &str) -> Option<String> {
    let rest = &message[message.find(after)? + after.len()..];
    Some(rest[..rest.find('\'')?].to_string())
}

/// A fresh job id: 8 characters, letters and digits alternating (`k3x9q2m7`), random enough
/// that two jobs never share one in practice. The id travels as the message's `message_id`.
pub fn new_job_id() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    let mut bits = hasher.finish();
    (0..8)
        .map(|i| {
            let c = if i % 2 == 0 {
                char::from(b'a' + (bits % 26) as u8)
            } else {
                char::from(b'0' + (bits % 10) as u8)
            };
            bits /= 26;
            c
        })
        .collect()
}

/// The properties of a job as `emit_job` publishes it: persistent, with its id, and an
/// expiration (per-message TTL, in milliseconds) when given.
pub fn job_properties(id: &str, ttl_ms: Option<u64>) -> AmqpProperties {
    let properties = AmqpProperties::default()
        .with_delivery_mode(2)
        .with_message_id(id.to_string());
    match ttl_ms {
        Some(ttl) => properties.with_expiration(ttl.to_string()),
        None => properties,
    }
}

/// A job as a worker or the reader of dead letters sees it.
pub struct Job {
    /// The job's id (its `message_id`), or `?` for a message without one.
    pub id: String,
    /// The words: the body as text.
    pub words: String,
    /// Times it went through `jobs.retry` (our header [`RETRIES_HEADER`]).
    pub retries: u64,
    /// Times the quorum queue delivered this copy before (its `x-delivery-count` header).
    pub redeliveries: u64,
}

impl Job {
    /// Reads a delivered job.
    pub fn read(properties: &AmqpProperties, body: &[u8]) -> Job {
        let header = |name: &str| properties.headers().as_ref().and_then(|h| h.get(name));
        Job {
            id: properties
                .message_id()
                .clone()
                .unwrap_or_else(|| "?".to_string()),
            words: String::from_utf8_lossy(body).into_owned(),
            retries: header(RETRIES_HEADER).and_then(integer).unwrap_or(0),
            redeliveries: header("x-delivery-count").and_then(integer).unwrap_or(0),
        }
    }

    /// Which attempt this delivery is: 1 for the first. The broker counts the redeliveries of a
    /// copy in `jobs` (a worker that died holding it) in `x-delivery-count`; the trips through
    /// `jobs.retry` we count ourselves, since each retry is a new message that the worker
    /// publishes, and RabbitMQ 4 starts the `x-death` of such a message afresh (3.10 went on
    /// counting in the `x-death` a client copied: the guide shows both).
    pub fn attempt(&self) -> u64 {
        1 + self.retries + self.redeliveries
    }

    /// The properties of this job's next trip through `jobs.retry`: the same id, persistent,
    /// one more retry counted. The broker's `x-` headers stay behind: they describe the copy
    /// that is being acked, and a client's `x-death` means different things to 3.10 and 4.x.
    pub fn retry_properties(&self) -> AmqpProperties {
        let mut headers = FieldTable::new();
        headers.insert(
            RETRIES_HEADER.to_string(),
            AmqpValue::LongLongInt(i64::try_from(self.retries + 1).unwrap_or(i64::MAX)),
        );
        AmqpProperties::default()
            .with_delivery_mode(2)
            .with_message_id(self.id.clone())
            .with_headers(headers)
    }
}

fn integer(value: &AmqpValue) -> Option<u64> {
    match value {
        AmqpValue::ShortShortInt(n) => u64::try_from(*n).ok(),
        AmqpValue::ShortShortUInt(n) => Some(u64::from(*n)),
        AmqpValue::ShortInt(n) => u64::try_from(*n).ok(),
        AmqpValue::ShortUInt(n) => Some(u64::from(*n)),
        AmqpValue::LongInt(n) => u64::try_from(*n).ok(),
        AmqpValue::LongUInt(n) => Some(u64::from(*n)),
        AmqpValue::LongLongInt(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// Why a message died, from the most recent entry of its `x-death` header, which the broker
/// adds when it dead-letters a message: the reason and the queue it died in.
#[derive(Debug, PartialEq, Eq)]
pub struct Death {
    /// `rejected`, `expired`, `maxlen` or `delivery_limit`.
    pub reason: String,
    /// The queue the message died in.
    pub queue: String,
    /// How many times it died there for that reason (as far as the broker kept count).
    pub count: u64,
}

/// The latest death in `x-death`, or why it cannot be read: the header is missing (the
/// message never was dead-lettered), or it is not what RabbitMQ writes (a foreign producer
/// published its own).
pub fn death(properties: &AmqpProperties) -> Result<Death, String> {
    let header = properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.get("x-death"))
        .ok_or("it has no x-death header: it was published there directly, not dead-lettered")?;
    let AmqpValue::FieldArray(entries) = header else {
        return Err(format!(
            "its x-death header is {}, not the list of tables the broker writes",
            kind(header)
        ));
    };
    // RabbitMQ keeps the most recent death first.
    let Some(latest) = entries.first() else {
        return Err("its x-death header is an empty list".into());
    };
    let AmqpValue::FieldTable(entry) = latest else {
        return Err(format!(
            "its x-death header holds {}, not a table",
            kind(latest)
        ));
    };
    let text = |name: &str| match entry.get(name) {
        Some(AmqpValue::LongString(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "the '{name}' of its x-death is {}, not text",
            kind(other)
        )),
        None => Err(format!("its x-death has no '{name}'")),
    };
    Ok(Death {
        reason: text("reason")?,
        queue: text("queue")?,
        count: entry.get("count").and_then(integer).unwrap_or(0),
    })
}

/// A value's AMQP type, in words, for an error line.
fn kind(value: &AmqpValue) -> &'static str {
    match value {
        AmqpValue::LongString(_) => "text",
        AmqpValue::FieldArray(_) => "a list",
        AmqpValue::FieldTable(_) => "a table",
        AmqpValue::Boolean(_) => "a boolean",
        AmqpValue::Void => "empty",
        AmqpValue::Timestamp(_) => "a timestamp",
        AmqpValue::ByteArray(_) => "bytes",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
            Death {
                reason: "rejected".into(),
                queue: "jobs".into(),
                count: 1
            }
        );
    }

    #[test]
    fn a_malformed_x_death_is_described_never_a_panic() {
        let cases = [
            (
                AmqpValue::LongString("garbage".into()),
                "its x-death header is text, not the list of tables the broker writes",
            ),
            (
                AmqpValue::FieldArray(vec![]),
                "its x-death header is an empty list",
            ),
            (
                AmqpValue::FieldArray(vec![AmqpValue::LongLongInt(7)]),
                "its x-death header holds a number, not a table",
            ),
            (
                AmqpValue::FieldArray(vec![AmqpValue::FieldTable(FieldTable::new())]),
                "its x-death has no 'reason'",
            ),
        ];
        for (value, why) in cases {
            assert_eq!(death(&with_x_death(value)).unwrap_err(), why);
        }
        assert!(death(&AmqpProperties::default())
            .unwrap_err()
            .starts_with("it has no x-death header"));
    }

    #[test]
    fn attempts_count_retries_and_redeliveries() {
        let mut headers = FieldTable::new();
        headers.insert("retries".into(), AmqpValue::LongLongInt(2));
        headers.insert("x-delivery-count".into(), AmqpValue::LongInt(1));
        let properties = AmqpProperties::default()
            .with_message_id("a1b2c3d4".into())
            .with_headers(headers);
        let job = Job::read(&properties, b"flaky");
        assert_eq!((job.id.as_str(), job.attempt()), ("a1b2c3d4", 4));
        let next = job.retry_properties();
        let next = Job::read(&next, b"flaky");
        assert_eq!((next.retries, next.attempt()), (3, 4));
        // A foreign header of the wrong type counts as nothing, never a panic.
        let mut headers = FieldTable::new();
        headers.insert("retries".into(), AmqpValue::LongString("many".into()));
        let job = Job::read(&AmqpProperties::default().with_headers(headers), b"x");
        assert_eq!((job.id.as_str(), job.attempt()), ("?", 1));
    }

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
        assert_ne!(new_job_id(), new_job_id());
    }

    #[test]
    fn a_406_about_a_dead_letter_argument_names_it() {
        let message = "PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue 'jobs' in vhost '/': received 'jobs.dead' but current is 'other'";
        let error = refused(amiquip::Error::ServerClosedChannel {
            channel_id: 1,
            code: 406,
            message: message.into(),
        });
        let line = common::describe(&error);
        assert!(
            line.starts_with(
                "the queue 'jobs' already exists with another 'x-dead-letter-exchange'"
            ),
            "{line}"
        );
        assert!(line.contains("set a policy instead"), "{line}");
    }
}
