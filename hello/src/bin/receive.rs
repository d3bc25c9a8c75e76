//! Chapter 1, Hello World: the consumer.
//!
//! Terminal 1: `cargo run --bin receive`   (prints ` [x] Received Hello World!` per message)
//! Terminal 2: `cargo run --bin send`
//!
//! New here: consuming. The broker pushes each message of the queue to us as it arrives; with
//! automatic acknowledgement it forgets a message as soon as it has sent it. Ctrl+C ends.

use amiquip::{ConsumerOptions, QueueDeclareOptions};
use std::process::ExitCode;

const HELP: &str = "Usage: receive
Prints every message of the queue 'hello' (chapter 1) until Ctrl+C.";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;

        let connection = common::connect()?;
        let channel = connection.channel();

        // Declared here too: whichever program starts first creates the queue.
        let queue = channel.queue_declare("hello", QueueDeclareOptions::default())?;

        // no_ack: the broker treats a message as handled once it is delivered (auto-ack).
        let consumer = queue.consume(ConsumerOptions {
            no_ack: true,
            ..ConsumerOptions::default()
        })?;
        // Asked for before the line below, so that Ctrl+C ends the loop cleanly as soon as the
        // line shows.
        let deliveries = common::deliveries(&consumer);
        println!(" [*] Waiting for messages. To exit press CTRL+C");

        for delivery in deliveries {
            let delivery = delivery?;
            println!(" [x] Received {}", String::from_utf8_lossy(&delivery.body));
        }
        Ok(())
    })
}
