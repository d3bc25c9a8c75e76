//! Chapter 3, Publish/Subscribe: the producer of log messages.
//!
//! Terminals 1 and 2: `cargo run --bin receive_logs`
//! Terminal 3:        `cargo run --bin emit_log` (both receivers print ` [x] info: Hello World!`)
//!
//! New here: exchanges. A producer never sends to a queue directly: it sends to an exchange,
//! and the exchange decides which queues get a copy. A fanout exchange copies every message to
//! every queue bound to it.

use amiquip::{ExchangeDeclareOptions, ExchangeType, Publish};
use std::process::ExitCode;

const HELP: &str = "Usage: emit_log [words...]
Publishes a log message to the fanout exchange 'logs' (chapter 3): the words joined by
spaces, default 'info: Hello World!'. Every running receive_logs gets a copy.";

fn main() -> ExitCode {
    common::run(|| {
        let message = common::message(&common::args(HELP)?, "info: Hello World!");

        let connection = common::connect()?;
        let channel = connection.channel();

        // The fanout exchange 'logs': declaring it is idempotent, like declaring a queue.
        let logs = channel.exchange_declare(
            ExchangeType::Fanout,
            "logs",
            ExchangeDeclareOptions::default(),
        )?;

        // The routing key is ignored by a fanout exchange. With no receiver running, no queue
        // is bound, and the message is simply dropped: logs are only for who listens now.
        logs.publish(Publish::new(message.as_bytes(), ""))?;

        // Sent once the broker has read it, which its answer to our close shows.
        connection.close()?;
        println!(" [x] Sent {message}");
        Ok(())
    })
}
