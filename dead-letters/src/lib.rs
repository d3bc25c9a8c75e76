//! Chapter 9, dead letters and retries: the topology that `emit_job`, `job_worker` and
//! `receive_dead` share (the chapter's README draws it), and how they read a job. Every program
//! declares all of it (declaring is idempotent), so any of them may start first.

use amiquip::{
    AmqpProperties, AmqpValue, Channel, ExchangeDeclareOptions, ExchangeType, FieldTable,
    QueueDeclareOptions,
};
use std::time::Duration;

/// The exchange that `emit_job` publishes to, and the retry queue dead-letters back to.
pub const JOBS_EXCHANGE: &str = "jobs";
/// The work queue (durable, quorum) and the routing key that leads to it.
pub const JOBS: &str = "jobs";
/// The exchange and queue where a job waits before its next attempt.
pub const RETRY: &str = "jobs.retry";
/// The dead-letter exchange of `jobs`, and the queue that keeps the dead letters.
pub const DEAD: &str = "jobs.dead";
/// The attempt after which a job that keeps failing for now goes to the dead letters.
pub const ATTEMPTS: u64 = 3;
/// Our own header: how many times the job went through `jobs.retry` (see [`Job::attempt`]).
pub const RETRIES_HEADER: &str = "retries";

/// What the environment says about the chapter's queues, read before connecting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// `JOBS_SETTINGS=policy`: an operator's policies set the dead-letter settings, and the
    /// programs declare the queues with their type only (the default, `arguments`: all of it).
    pub by_policy: bool,
    /// How long a job waits in `jobs.retry` before it comes back (the queue's message TTL):
    /// `JOBS_RETRY_SECONDS`, 5 s by default. Every program must declare the same.
    pub retry_delay: Duration,
}

/// Reads `JOBS_SETTINGS` and `JOBS_RETRY_SECONDS` (fractions allowed), before connecting.
pub fn settings() -> anyhow::Result<Settings> {
    let by_policy = match std::env::var("JOBS_SETTINGS").ok().as_deref() {
        None | Some("arguments") => false,
        Some("policy") => true,
        Some(other) => return Err(common::Failure::new(format!(
            "JOBS_SETTINGS is '{other}': it says where the queues' dead-letter settings come from"
        ))
        .hint("JOBS_SETTINGS=arguments (the default: the programs declare them) or JOBS_SETTINGS=policy (an operator's policies set them)")
        .into()),
    };
    let retry_delay = common::seconds("JOBS_RETRY_SECONDS", Duration::from_secs(5), false, "1")?;
    Ok(Settings {
        by_policy,
        retry_delay,
    })
}

/// Declares the chapter's exchanges, queues and bindings; unless [`Settings::by_policy`], the
/// queues carry the arguments that make dead-lettering work. A queue's arguments never change
/// (declaring `jobs` with others is refused: 406); a policy changes a live queue.
pub fn declare(channel: &Channel, settings: Settings) -> anyhow::Result<()> {
    let text = |text: &str| AmqpValue::LongString(text.to_string());
    let argument = |name: &str, value| (name.to_string(), value);
    // The work queue: quorum (replicated; it counts deliveries, for a delivery limit). What dies
    // in it (rejected, expired, pushed out by a length limit, delivered too often) the broker
    // republishes to the exchange jobs.dead.
    let quorum = argument("x-queue-type", text("quorum"));
    let mut work = vec![quorum, argument("x-dead-letter-exchange", text(DEAD))];
    // The retry queue has no consumer: a job waits there until its TTL ends, and then "dies"
    // (reason expired) into the exchange jobs, with the routing key jobs: back to work.
    let ttl = i64::try_from(settings.retry_delay.as_millis()).unwrap_or(i64::MAX);
    let ttl = argument("x-message-ttl", AmqpValue::LongLongInt(ttl.max(1)));
    let back = argument("x-dead-letter-exchange", text(JOBS_EXCHANGE));
    let mut retry = vec![ttl, back, argument("x-dead-letter-routing-key", text(JOBS))];
    // With policies, a queue's declaration says only what it is (quorum or not).
    if settings.by_policy {
        work.truncate(1);
        retry.clear();
    }
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for (kind, exchange, queue, key, arguments) in [
        (ExchangeType::Direct, JOBS_EXCHANGE, JOBS, JOBS, work),
        (ExchangeType::Fanout, RETRY, RETRY, "", retry),
        (ExchangeType::Fanout, DEAD, DEAD, "", vec![]),
    ] {
        channel.exchange_declare(kind, exchange, durable.clone())?;
        let options = QueueDeclareOptions {
            durable: true,
            arguments: arguments.into_iter().collect(),
            ..Default::default()
        };
        // A queue made as policies need it (no arguments) refuses ours (406): say how to agree.
        let policies =
            "JOBS_SETTINGS=policy declares the queues without these arguments, as policies need";
        channel
            .queue_declare(queue, options)
            .map_err(|e| common::refused(e, policies))?;
        channel.queue_bind(queue, exchange, key, FieldTable::new())?;
    }
    Ok(())
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
    /// Reads a delivered job. A header of another type than the broker's (or ours) counts 0.
    pub fn read(properties: &AmqpProperties, body: &[u8]) -> Job {
        let header = |name: &str| match properties.headers().as_ref().and_then(|h| h.get(name)) {
            Some(AmqpValue::LongInt(n)) => u64::try_from(*n).unwrap_or(0),
            Some(AmqpValue::LongLongInt(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        let id = properties.message_id().clone();
        Job {
            id: id.unwrap_or_else(|| "?".to_string()),
            words: String::from_utf8_lossy(body).into_owned(),
            retries: header(RETRIES_HEADER),
            redeliveries: header("x-delivery-count"),
        }
    }

    /// Which attempt this delivery is: 1 for the first. The broker counts the redeliveries of a
    /// copy in `jobs` (a worker died holding it); the trips through `jobs.retry` we count: each
    /// is a new message, whose `x-death` RabbitMQ 4 starts afresh (3.10 counted on).
    pub fn attempt(&self) -> u64 {
        1 + self.retries + self.redeliveries
    }

    /// The properties of this job's next trip through `jobs.retry`: the same id, persistent,
    /// one more retry counted. The broker's `x-` headers stay behind: they describe the copy
    /// that is being acked, and a client's `x-death` means different things to 3.10 and 4.x.
    pub fn retry_properties(&self) -> AmqpProperties {
        let retries = AmqpValue::LongLongInt(i64::try_from(self.retries + 1).unwrap_or(i64::MAX));
        let headers = FieldTable::from([(RETRIES_HEADER.to_string(), retries)]);
        let properties = AmqpProperties::default().with_delivery_mode(2);
        properties
            .with_message_id(self.id.clone())
            .with_headers(headers)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn jobs_wait_5_s_before_a_retry_unless_jobs_retry_seconds_says_otherwise() {
        // The one test of this crate that sets these variables.
        let read = |vars: &[(&str, &str)]| {
            for name in ["JOBS_RETRY_SECONDS", "JOBS_SETTINGS"] {
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, value)) => std::env::set_var(name, value),
                    None => std::env::remove_var(name),
                }
            }
            settings()
        };
        let default = read(&[]).unwrap();
        assert_eq!(
            (default.by_policy, default.retry_delay),
            (false, Duration::from_secs(5))
        );
        let short = read(&[("JOBS_RETRY_SECONDS", "0.5"), ("JOBS_SETTINGS", "policy")]).unwrap();
        assert_eq!(
            (short.by_policy, short.retry_delay),
            (true, Duration::from_millis(500))
        );
        for bad in ["soon", "0", "-1"] {
            let error = read(&[("JOBS_RETRY_SECONDS", bad)]).unwrap_err();
            assert!(
                common::describe(&error)
                    .starts_with("JOBS_RETRY_SECONDS is not a number of seconds"),
                "{bad}"
            );
        }
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
        // A foreign header of the wrong type counts as nothing, never a panic.
        let mut headers = FieldTable::new();
        headers.insert("retries".into(), AmqpValue::LongString("many".into()));
        let job = Job::read(&AmqpProperties::default().with_headers(headers), b"x");
        assert_eq!((job.id.as_str(), job.attempt()), ("?", 1));
    }

    #[test]
    fn a_retry_counts_one_more_trip_and_keeps_the_id_and_nothing_of_the_brokers() {
        let mut headers = FieldTable::new();
        headers.insert("retries".into(), AmqpValue::LongLongInt(2));
        headers.insert("x-death".into(), AmqpValue::FieldArray(vec![]));
        let properties = AmqpProperties::default()
            .with_message_id("a1b2c3d4".into())
            .with_headers(headers);
        let next = Job::read(&properties, b"flaky").retry_properties();
        let job = Job::read(&next, b"flaky");
        assert_eq!(
            (job.id.as_str(), job.retries, job.attempt()),
            ("a1b2c3d4", 3, 4)
        );
        assert_eq!(next.delivery_mode(), &Some(2));
        assert!(!next
            .headers()
            .as_ref()
            .is_some_and(|h| h.contains_key("x-death")));
    }
}
