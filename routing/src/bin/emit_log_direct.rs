//! Chapter 4, Routing: the producer of log messages with a severity.
//!
//! Terminal 1: `cargo run --bin receive_logs_direct -- warning error > logs_from_rabbit.log`
//! Terminal 2: `cargo run --bin receive_logs_direct -- info warning error`
//! Terminal 3: `cargo run --bin emit_log_direct -- error "Run. Run. Or it will explode."`
//!
//! New here: a direct exchange routes each message by its routing key, here the severity,
//! to the queues bound with exactly that key.

use amiquip::{ExchangeDeclareOptions, ExchangeType, Publish};
use std::process::ExitCode;

const HELP: &str = "Usage: emit_log_direct [severity] [words...]
Publishes a log message to the direct exchange 'direct_logs' (chapter 4) with the severity
(default info) as its routing key; the message is the other words (default 'Hello World!').";

fn main() -> ExitCode {
    common::run(|| {
        let args = common::args(HELP)?;
        let severity =
            common::check_key("routing key", args.first().map_or("info", String::as_str))?;
        let message = common::message(args.get(1..).unwrap_or_default(), "Hello World!");

        let connection = common::connect()?;
        let channel = connection.channel();

        let direct_logs = channel.exchange_declare(
            ExchangeType::Direct,
            "direct_logs",
            ExchangeDeclareOptions::default(),
        )?;

        // The routing key is the severity: only queues bound with this very key get the message.
        direct_logs.publish(Publish::new(message.as_bytes(), severity))?;
        connection.close()?;
        println!(" [x] Sent {severity}:{message}");
        Ok(())
    })
}
