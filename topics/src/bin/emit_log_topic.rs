//! Chapter 5, Topics: the producer of log messages with a topic.
//!
//! Terminal 1: `cargo run --bin receive_logs_topic -- "kern.*"`
//! Terminal 2: `cargo run --bin receive_logs_topic -- "*.critical"`
//! Terminal 3: `cargo run --bin emit_log_topic -- kern.critical "A critical kernel error"`
//!
//! New here: a topic exchange. The routing key is a list of words separated by dots
//! (`<facility>.<severity>`), and queues bind with patterns over those words.

use amiquip::{ExchangeDeclareOptions, ExchangeType, Publish};
use std::process::ExitCode;

const HELP: &str = "Usage: emit_log_topic [routing_key] [words...]
Publishes a log message to the topic exchange 'topic_logs' (chapter 5). With two or more
arguments the first is the routing key (e.g. kern.critical) and the rest the message; with
fewer, the key is 'anonymous.info' and the message 'Hello World!', as in the course.";

fn main() -> ExitCode {
    common::run(|| {
        let args = common::args(HELP)?;
        // As in the original: the first argument is the key only when a message follows it.
        let routing_key = match args.as_slice() {
            [key, _, ..] => common::check_key("routing key", key)?,
            _ => "anonymous.info",
        };
        let message = common::message(args.get(1..).unwrap_or_default(), "Hello World!");

        let connection = common::connect()?;
        let channel = connection.channel();

        let topic_logs = channel.exchange_declare(
            ExchangeType::Topic,
            "topic_logs",
            ExchangeDeclareOptions::default(),
        )?;

        // The exchange matches this dotted key against every binding pattern.
        topic_logs.publish(Publish::new(message.as_bytes(), routing_key))?;
        connection.close()?;
        println!(" [x] Sent {routing_key}:{message}");
        Ok(())
    })
}
