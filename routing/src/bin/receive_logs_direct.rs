//! Chapter 4, Routing: a receiver of the severities it names.
//!
//! Terminal 1: `cargo run --bin receive_logs_direct -- warning error > logs_from_rabbit.log`
//! Terminal 2: `cargo run --bin receive_logs_direct -- info warning error`
//! Terminal 3: `cargo run --bin emit_log_direct -- warning "warning message"`
//!
//! New here: binding keys. One queue may have several bindings (one per severity), and several
//! queues may bind the same key: each of them then gets a copy, as with fanout.

use amiquip::{
    ConsumerOptions, ExchangeDeclareOptions, ExchangeType, FieldTable, QueueDeclareOptions,
};
use std::process::ExitCode;

const HELP: &str = "Usage: receive_logs_direct [info] [warning] [error]
Prints the messages published to the direct exchange 'direct_logs' (chapter 4) with the
severities given, as ' [x] severity:message', until Ctrl+C. Any word is a severity.";

fn main() -> ExitCode {
    common::run(|| {
        let severities = common::args(HELP)?;
        if severities.is_empty() {
            return Err(common::usage_line(HELP));
        }
        for severity in &severities {
            common::check_key("binding key", severity)?;
        }

        let connection = common::connect()?;
        let channel = connection.channel();

        let direct_logs = channel.exchange_declare(
            ExchangeType::Direct,
            "direct_logs",
            ExchangeDeclareOptions::default(),
        )?;
        let queue = channel.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )?;

        // One binding per severity: the exchange copies a message into our queue when its
        // routing key equals one of these binding keys.
        for severity in &severities {
            queue.bind(&direct_logs, severity.as_str(), FieldTable::default())?;
        }

        let consumer = queue.consume(ConsumerOptions {
            no_ack: true,
            ..Default::default()
        })?;
        let deliveries = common::deliveries(&consumer);
        println!(" [*] Waiting for logs. To exit press CTRL+C");

        for delivery in deliveries {
            let delivery = delivery?;
            // The routing key travels with the message: it tells which binding let it in.
            println!(
                " [x] {}:{}",
                delivery.routing_key,
                String::from_utf8_lossy(&delivery.body)
            );
        }
        Ok(())
    })
}
