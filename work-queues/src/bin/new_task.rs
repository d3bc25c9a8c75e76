//! Chapter 2, Work Queues: the producer of tasks.
//!
//! Terminals 1 and 2: `cargo run --bin worker`
//! Terminal 3:        `cargo run --bin new_task -- First message.` (one second of work per dot)
//!
//! New here: a durable queue and persistent messages, so that queued tasks survive a restart
//! of the broker. Beyond the original course: publisher confirms. ` [x] Sent` is printed only
//! once the broker has taken responsibility for the task (for a persistent message in a durable
//! queue, that means written to disk).

use amiquip::{AmqpProperties, Confirm, Publish, QueueDeclareOptions};
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "Usage: new_task [words...]
Queues a task on the durable queue 'task_queue' (chapter 2): the words joined by spaces,
default 'Hello World!'. Each '.' in it is one second of work for a worker.";

fn main() -> ExitCode {
    common::run(|| {
        let message = common::message(&common::args(HELP)?, "Hello World!");

        let connection = common::connect()?;
        let channel = connection.channel();

        // durable: the queue itself survives a broker restart. Every program that declares
        // task_queue must say so, or the broker refuses the declaration (PRECONDITION_FAILED).
        channel.queue_declare(
            "task_queue",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
        )?;

        // Publisher confirms: the broker acks (or nacks) every message we publish on this
        // channel. A message it cannot route to any queue comes back as a "return".
        let confirms = channel.listen_for_publisher_confirms()?;
        let returns = channel.listen_for_returns()?;
        channel.enable_publisher_confirms()?;

        // delivery_mode 2 = persistent: the broker writes the message to disk, so the task
        // survives a restart too (a durable queue alone keeps only the queue, not its messages).
        // mandatory: if no queue takes the task, the broker returns it instead of dropping it.
        let properties = AmqpProperties::default().with_delivery_mode(2);
        let mut publish = Publish::with_properties(message.as_bytes(), "task_queue", properties);
        publish.mandatory = true;
        channel.basic_publish("", publish)?;

        // Wait for the broker's word on this one message before we say it is sent.
        let wait = Duration::from_secs(30);
        let Some(confirm) = connection.confirm(&confirms, wait)? else {
            // No word: the connection may be lost, or the broker unable to store the task.
            return Err(connection.unconfirmed("the task", wait));
        };
        if returns.try_recv().is_ok() {
            anyhow::bail!(common::Failure::new(
                "the broker returned the task: no queue is bound to take it"
            )
            .hint("was task_queue deleted? Run new_task again to declare it"));
        }
        if let Confirm::Nack(_) = confirm {
            anyhow::bail!(common::Failure::new(
                "the broker refused the task (nack): it was not stored"
            )
            .hint("the broker may be out of disk or memory, or a cluster without the majority of its nodes; scripts/broker status (scripts/broker cluster status)"));
        }
        println!(" [x] Sent {message}");

        connection.close()
    })
}
