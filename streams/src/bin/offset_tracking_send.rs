//! Chapter 8, Streams (Offset Tracking): the producer, which appends 100 messages to a stream,
//! the last one a marker.
//!
//! Terminal 1: `cargo run --bin offset_tracking_send`
//! Terminal 2: `cargo run --bin offset_tracking_receive`
//!
//! New here: nothing on the producer's side but a batch: 99 messages `hello: 0` ... `hello: 98`
//! and a last one, `marker: 99`, which tells the receiver where this batch ends. Every publish is
//! confirmed (as in chapter 7, asynchronously: the broker acks many at once).

use amiquip::{Confirm, Publish};
use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "Usage: offset_tracking_send
Appends 100 messages to the stream 'stream-offset-tracking' (chapter 8): 'hello: 0' to
'hello: 98', then 'marker: 99'; declares the stream (retention 2,000,000,000 bytes) if needed
and waits until the broker has confirmed every message.";

const STREAM: &str = "stream-offset-tracking";
const RETENTION_BYTES: i64 = 2_000_000_000;
const MESSAGES: u64 = 100;
/// How long the broker may stay silent before we give up on its confirms.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    common::run(|| {
        if !common::args(HELP)?.is_empty() {
            return Err(common::usage(
                HELP,
                "offset_tracking_send takes no arguments",
            ));
        }

        let session = common::connect()?;
        let channel = session.channel();
        streams::declare_stream(channel, STREAM, RETENTION_BYTES)?;
        let confirms = channel.listen_for_publisher_confirms()?;
        channel.enable_publisher_confirms()?;

        println!("Publishing {MESSAGES} messages");
        // The broker numbers our publishes 1, 2, 3...: the ones it has not confirmed yet.
        let mut unconfirmed: BTreeSet<u64> = (1..=MESSAGES).collect();
        for i in 0..MESSAGES {
            let body = if i < MESSAGES - 1 {
                format!("hello: {i}")
            } else {
                format!("marker: {i}")
            };
            channel.basic_publish("", Publish::new(body.as_bytes(), STREAM))?;
        }
        let mut refused = 0;
        while !unconfirmed.is_empty() {
            let confirm = match session.confirm(&confirms, CONFIRM_TIMEOUT)? {
                Some(confirm) => confirm,
                None => {
                    let what = format!("{} of the {MESSAGES} messages", unconfirmed.len());
                    return Err(session.unconfirmed(&what, CONFIRM_TIMEOUT));
                }
            };
            let (payload, acked) = match confirm {
                Confirm::Ack(payload) => (payload, true),
                Confirm::Nack(payload) => (payload, false),
            };
            // `multiple`: the confirm covers every number up to its own.
            let settled: Vec<u64> = if payload.multiple {
                let rest = unconfirmed.split_off(&(payload.delivery_tag + 1));
                std::mem::replace(&mut unconfirmed, rest)
                    .into_iter()
                    .collect()
            } else {
                unconfirmed
                    .take(&payload.delivery_tag)
                    .into_iter()
                    .collect()
            };
            if !acked {
                refused += settled.len();
            }
        }
        println!("Messages confirmed: {}", refused == 0);
        if refused > 0 {
            return Err(common::Failure::new(format!(
                "the broker refused (nacked) {refused} of the {MESSAGES} messages"
            ))
            .hint("is the broker short of disk? scripts/broker status")
            .into());
        }
        session.close()
    })
}
