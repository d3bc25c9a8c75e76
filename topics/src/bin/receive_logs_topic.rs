//! Chapter 5, Topics: a receiver of the topics that match its patterns.
//!
//! Terminal 1: `cargo run --bin receive_logs_topic -- "#"`            (everything)
//! Terminal 2: `cargo run --bin receive_logs_topic -- "kern.*"`       (all from the kernel)
//! Terminal 3: `cargo run --bin receive_logs_topic -- "*.critical"`   (all critical ones)
//! Terminal 4: `cargo run --bin emit_log_topic -- kern.critical "A critical kernel error"`
//!
//! New here: binding patterns. `*` stands for exactly one word, `#` for zero or more words.
//! Quote them in the shell, which would expand `*` and drop `#`.

use amiquip::{
    ConsumerOptions, ExchangeDeclareOptions, ExchangeType, FieldTable, QueueDeclareOptions,
};
use std::process::ExitCode;

const HELP: &str = "Usage: receive_logs_topic [binding_key]...
Prints the messages published to the topic exchange 'topic_logs' (chapter 5) whose routing
key matches one of the binding keys, as ' [x] routing_key:message', until Ctrl+C.
In a binding key, '*' matches exactly one word and '#' zero or more: \"kern.*\", \"#\".";

fn main() -> ExitCode {
    common::run(|| {
        let binding_keys = common::args(HELP)?;
        if binding_keys.is_empty() {
            return Err(common::usage_line(HELP));
        }
        for binding_key in &binding_keys {
            common::check_key("binding key", binding_key)?;
        }

        let connection = common::connect()?;
        let channel = connection.channel();

        let topic_logs = channel.exchange_declare(
            ExchangeType::Topic,
            "topic_logs",
            ExchangeDeclareOptions::default(),
        )?;
        let queue = channel.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )?;

        // Each pattern is a binding; a message that matches several is still delivered once.
        for binding_key in &binding_keys {
            queue.bind(&topic_logs, binding_key.as_str(), FieldTable::default())?;
        }

        let consumer = queue.consume(ConsumerOptions {
            no_ack: true,
            ..Default::default()
        })?;
        let deliveries = common::deliveries(&consumer);
        println!(" [*] Waiting for logs. To exit press CTRL+C");

        for delivery in deliveries {
            let delivery = delivery?;
            println!(
                " [x] {}:{}",
                delivery.routing_key,
                String::from_utf8_lossy(&delivery.body)
            );
        }
        Ok(())
    })
}
