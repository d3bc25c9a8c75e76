//! Chapter 1, Hello World: the producer.
//!
//! Terminal 1: `cargo run --bin receive`   (waits for messages)
//! Terminal 2: `cargo run --bin send`      (prints ` [x] Sent 'Hello World!'`)
//!
//! New here: a connection and a channel, declaring a queue, and publishing through the
//! default exchange, whose routing key is simply the name of the queue to deliver to.

use amiquip::{Publish, QueueDeclareOptions};
use std::process::ExitCode;

const HELP: &str = "Usage: send
Sends 'Hello World!' to the queue 'hello' (chapter 1).";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;

        let connection = common::connect()?;
        let channel = connection.channel();

        // Make sure the queue exists before we send to it: a message sent to a queue that does
        // not exist is dropped. Declaring is idempotent, so sender and receiver both do it.
        channel.queue_declare("hello", QueueDeclareOptions::default())?;

        // The default exchange ("") routes each message to the queue named by its routing key.
        channel.basic_publish("", Publish::new(b"Hello World!", "hello"))?;

        // Closing flushes the message to the broker and reports anything it refused. Only then
        // do we say it is sent: a broker in a resource alarm blocks a publishing connection and
        // stops reading it, and close says so instead (within 5 s).
        connection.close()?;
        println!(" [x] Sent 'Hello World!'");
        Ok(())
    })
}
