//! Chapter 9, dead letters and retries: the worker, which can fail a job for good or for now.
//!
//! Terminal 1: `cargo run --bin job_worker`
//! Terminal 2: `cargo run --bin receive_dead`
//! Terminal 3: `cargo run --bin emit_job -- flaky report`
//!
//! New here: a job can fail. For good: the worker rejects it without requeue, and the broker
//! dead-letters it to `jobs.dead` (reason `rejected`). For now: the worker publishes a copy to
//! `jobs.retry`, which the broker dead-letters back to `jobs` 5 s later, and acks the original;
//! after 3 attempts, to the dead letters. A `poison` job kills every worker that takes it, until
//! the queue's delivery limit dead-letters it (reason `delivery_limit`).

use amiquip::{ConsumerOptions, Publish};
use dead_letters::{Job, ATTEMPTS, RETRY};
use std::process::ExitCode;

const HELP: &str = "Usage: job_worker
Takes jobs from the queue 'jobs' (chapter 9), one at a time. A job whose words contain 'fail'
fails for good (dead letter at once), 'flaky' fails on attempts 1 and 2, 'busy' on every
attempt (dead letter after the 3rd), 'poison' kills the worker; any other job is done.
JOBS_SETTINGS=policy: declare the queues without dead-letter arguments (policies set them);
JOBS_RETRY_SECONDS: how long a job waits in 'jobs.retry' before its next attempt (default 5).";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;
        // Dead-lettering set by the queues' arguments (default) or by policies: JOBS_SETTINGS.
        let settings = dead_letters::settings()?;

        let connection = common::connect()?;
        let channel = connection.channel();
        dead_letters::declare(channel, settings)?;

        channel.qos(0, 1, false)?;
        let queue = channel.queue_declare_passive(dead_letters::JOBS)?;
        let consumer = queue.consume(ConsumerOptions::default())?;
        let deliveries = common::deliveries(&consumer);
        println!(" [*] Waiting for jobs. To exit press CTRL+C");

        for delivery in deliveries {
            let delivery = delivery?;
            let job = Job::read(&delivery.properties, &delivery.body);
            let attempt = job.attempt();
            println!(" [x] Job {}: {} (attempt {attempt})", job.id, job.words);
            let for_now = job.words.contains("flaky") || job.words.contains("busy");

            if job.words.contains("poison") {
                // A job that crashes whatever handles it. The process dies holding the job
                // unacked, so the broker gives it to the next worker, which dies too...
                let id = &job.id;
                eprintln!("error: job {id} crashed the worker (a poison message; the broker will deliver it again)");
                std::process::exit(1);
            } else if job.words.contains("fail") {
                // Fail for good: reject without requeue. jobs has a dead-letter exchange, so
                // the broker moves the job to jobs.dead with x-death reason "rejected".
                println!(" [!] {} rejected", job.id);
                consumer.reject(delivery, false)?;
            } else if for_now && attempt < ATTEMPTS {
                // Fail for now: a copy of the job goes to jobs.retry, confirmed (chapter 7), and
                // only then is this one acked: until the broker has the copy, the original must
                // stay in jobs. A crash between the two leaves both: the job is doubled, which is
                // why handling a job must be idempotent by its id.
                let copy = Publish::with_properties(&delivery.body, "", job.retry_properties());
                let what = format!("the retry of job {}", job.id);
                connection.publish_confirmed(RETRY, copy, &what)?;
                let delay = settings.retry_delay.as_secs_f64();
                println!(" [~] {} retry in {delay} s", job.id);
                consumer.ack(delivery)?;
            } else if job.words.contains("busy") {
                // Still failing at the last attempt: give up, to the dead letters.
                println!(" [!] {} gave up after {attempt} attempts", job.id);
                consumer.reject(delivery, false)?;
            } else {
                println!(" [x] Done");
                consumer.ack(delivery)?;
            }
        }
        Ok(())
    })
}
