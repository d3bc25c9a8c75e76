//! Chapter 3, Publish/Subscribe: a receiver of log messages.
//!
//! Terminals 1 and 2: `cargo run --bin receive_logs`
//! Terminal 3:        `cargo run --bin emit_log`
//!
//! New here: a temporary queue of our own, bound to the exchange. Each receiver gets a fresh,
//! server-named queue that lives only as long as its connection; the binding tells the
//! exchange to copy messages into it.

use amiquip::{
    ConsumerOptions, ExchangeDeclareOptions, ExchangeType, FieldTable, QueueDeclareOptions,
};
use std::process::ExitCode;

const HELP: &str = "Usage: receive_logs
Prints every message published to the fanout exchange 'logs' (chapter 3) until Ctrl+C.";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;

        let connection = common::connect()?;
        let channel = connection.channel();

        let logs = channel.exchange_declare(
            ExchangeType::Fanout,
            "logs",
            ExchangeDeclareOptions::default(),
        )?;

        // Name "": the broker picks a unique name (amq.gen-...). exclusive: the queue is ours
        // alone and is deleted when our connection closes, so old receivers leave no queues.
        let queue = channel.queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )?;

        // The binding: "exchange logs, send copies to this queue".
        queue.bind(&logs, "", FieldTable::default())?;

        let consumer = queue.consume(ConsumerOptions {
            no_ack: true,
            ..Default::default()
        })?;
        let deliveries = common::deliveries(&consumer);
        println!(" [*] Waiting for logs. To exit press CTRL+C");

        for delivery in deliveries {
            let delivery = delivery?;
            println!(" [x] {}", String::from_utf8_lossy(&delivery.body));
        }
        Ok(())
    })
}
