//! Chapter 2, Work Queues: the worker.
//!
//! Terminals 1 and 2: `cargo run --bin worker`
//! Terminal 3:        `cargo run --bin new_task -- Second message..`
//!
//! New here: manual acknowledgements and fair dispatch. Several workers consume the same queue;
//! the broker hands each task to one of them, and forgets it only once the worker acks it.
//! Kill a worker mid-task and its task goes to another worker: nothing is lost.
//! `WORKER_SECONDS_PER_DOT` (default 1) sets how long one '.' of a task takes.

use amiquip::{ConsumerOptions, QueueDeclareOptions};
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "Usage: worker
Takes tasks from the durable queue 'task_queue' (chapter 2), one at a time, and works one
second per '.' in each (WORKER_SECONDS_PER_DOT changes that), then acknowledges it.";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;
        let per_dot = seconds_per_dot()?;

        let connection = common::connect()?;
        let channel = connection.channel();

        // Same declaration as new_task's: durable, so queued tasks outlive a broker restart.
        let queue = channel.queue_declare(
            "task_queue",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
        )?;

        // Fair dispatch: at most one unacknowledged task per worker. Without it the broker
        // deals tasks round-robin as they arrive, and a worker stuck on a long task would
        // still be handed every other task, while its neighbour sits idle.
        channel.qos(0, 1, false)?;

        // no_ack stays false: manual acknowledgement. Until we ack, the task stays ours
        // ("unacked"); if our connection dies first, the broker gives it to another worker.
        let consumer = queue.consume(ConsumerOptions::default())?;
        let deliveries = common::deliveries(&consumer);
        println!(" [*] Waiting for messages. To exit press CTRL+C");

        for delivery in deliveries {
            let delivery = delivery?;
            let body = String::from_utf8_lossy(&delivery.body).into_owned();
            println!(" [x] Received {body}");

            // The "work": one unit per dot. Ctrl+C here returns at once, without the ack.
            let dots = u32::try_from(body.matches('.').count()).unwrap_or(u32::MAX);
            common::work(per_dot.saturating_mul(dots))?;
            println!(" [x] Done");

            // Ack only after the work is done, on the channel the task came from: now the
            // broker may forget it. Acking on receipt would lose the task if we died working.
            consumer.ack(delivery)?;
        }
        Ok(())
    })
}

/// How long one '.' of a task takes: `WORKER_SECONDS_PER_DOT` (fractions allowed), 1 s by default.
fn seconds_per_dot() -> anyhow::Result<Duration> {
    common::seconds(
        "WORKER_SECONDS_PER_DOT",
        Duration::from_secs(1),
        true,
        "0.1",
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn without_worker_seconds_per_dot_a_dot_is_one_second_of_work() {
        // The tests run workers with a shorter dot; this is what a learner's worker does.
        std::env::remove_var("WORKER_SECONDS_PER_DOT");
        assert_eq!(
            super::seconds_per_dot().unwrap(),
            std::time::Duration::from_secs(1)
        );
        std::env::set_var("WORKER_SECONDS_PER_DOT", "0");
        assert!(super::seconds_per_dot().unwrap().is_zero());
    }
}
