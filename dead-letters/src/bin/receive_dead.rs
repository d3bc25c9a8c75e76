//! Chapter 9, dead letters and retries: the reader of the dead letters.
//!
//! Terminal 1: `cargo run --bin receive_dead`
//! Terminal 2: `cargo run --bin emit_job -- --ttl 2000 nobody takes this`
//!
//! New here: the `x-death` header. When the broker dead-letters a message it adds an entry
//! (the latest first) that says why (`rejected`, `expired`, `maxlen`, `delivery_limit`), in
//! which queue, and how many times. A message someone published here directly has none, or
//! one the broker never wrote: this program says so in one line and goes on.

use amiquip::ConsumerOptions;
use dead_letters::{death, Job, DEAD};
use std::process::ExitCode;

const HELP: &str = "Usage: receive_dead
Reads the dead letters of chapter 9 (the queue 'jobs.dead') and prints why each one died,
from its x-death header: the reason and the queue it died in.
JOBS_SETTINGS=policy: declare the queues without dead-letter arguments (policies set them).";

fn main() -> ExitCode {
    common::run(|| {
        common::args(HELP)?;
        let settings = dead_letters::settings()?;

        let connection = common::connect()?;
        let channel = connection.channel();
        dead_letters::declare(channel, settings)?;

        let queue = channel.queue_declare_passive(DEAD)?;
        let consumer = queue.consume(ConsumerOptions::default())?;
        let deliveries = common::deliveries(&consumer);
        println!(" [*] Waiting for dead letters. To exit press CTRL+C");

        for delivery in deliveries {
            let delivery = delivery?;
            let job = Job::read(&delivery.properties, &delivery.body);
            match death(&delivery.properties) {
                Ok(death) => println!(
                    " [x] Dead {}: {} (reason {}, from {})",
                    job.id, job.words, death.reason, death.queue
                ),
                Err(why) => println!(
                    " [!] Dead {}: {} (cannot say why: {why})",
                    job.id, job.words
                ),
            }
            // Read and reported: the dead letter may go.
            consumer.ack(delivery)?;
        }
        Ok(())
    })
}
