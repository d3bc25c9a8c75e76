//! Chapter 2, Work Queues: the producer of tasks.
//!
//! Terminals 1 and 2: `cargo run --bin worker`
//! Terminal 3:        `cargo run --bin new_task -- First message.` (one second of work per dot)
//!
//! New here: a durable queue and persistent messages, so that queued tasks survive a broker
//! restart. (Not a full guarantee: only chapter 7's publisher confirms tell that it has them.)

use amiquip::{AmqpProperties, Publish, QueueDeclareOptions};
use std::process::ExitCode;

const HELP: &str = "Usage: new_task [words...]
Queues a task on the durable queue 'task_queue' (chapter 2): the words joined by spaces, default
'Hello World!'; each '.' is a second of work. --confirm first: await the broker's confirm (ch. 7).";

fn main() -> ExitCode {
    common::run(|| {
        let mut args = common::Args::read(HELP)?;
        let confirm = args.flag("--confirm");
        let message = common::message(&args.words()?, "Hello World!");

        let connection = common::connect()?;
        let channel = connection.channel();

        // durable: the queue itself survives a broker restart. Every program that declares
        // task_queue must say so, or the broker refuses the declaration (PRECONDITION_FAILED).
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel.queue_declare("task_queue", durable)?;

        // delivery_mode 2 = persistent: on disk, the task survives a restart as its queue does.
        let properties = AmqpProperties::default().with_delivery_mode(2);
        let task = Publish::with_properties(message.as_bytes(), "task_queue", properties);
        match confirm {
            true => connection.publish_confirmed("", task, "the task")?,
            false => channel.basic_publish("", task)?,
        }

        connection.close()?;
        println!(" [x] Sent {message}");
        Ok(())
    })
}
