//! Chapter 8, Streams (Hello World): the consumer, which reads a stream from its start.
//!
//! Terminal 1: `cargo run --bin receive_stream`            (from the first message kept)
//!             `cargo run --bin receive_stream -- next`    (only what comes from now on)
//! Terminal 2: `cargo run --bin send_stream`
//!
//! New here: reading a stream. Nothing is removed: run two receivers, or one again, and each
//! gets every message. Where to start is the consumer argument `x-stream-offset`: `first`,
//! `last`, `next`, an offset, a time or an interval back from now. Each delivery carries its
//! offset (the header `x-stream-offset`), which it prints. A stream consumer must set a
//! prefetch and ack by hand: here an ack deletes nothing, it is credit, telling the broker to
//! read on.

use amiquip::AmqpValue;
use std::process::ExitCode;

const HELP: &str = "Usage: receive_stream [first|last|next|OFFSET|TIME|INTERVAL]
Reads the stream 'hello-stream' (chapter 8) and prints every message, until Ctrl+C, starting
from the first message it keeps (first, the default), the last chunk (last), what comes next
(next), an offset (42), a time (2026-11-29T20:00:00Z) or an interval back from now (30m, 2h, 7D).";

const STREAM: &str = "hello-stream";
const RETENTION_BYTES: i64 = 5_000_000_000;

fn main() -> ExitCode {
    common::run(|| {
        let first = AmqpValue::LongString("first".to_string());
        let args = common::Args::read(HELP)?;
        let start = args.one(first, parse_offset, "one offset at most")?;

        let session = common::connect()?;
        let channel = session.channel();
        let stream = streams::declare_stream(channel, STREAM, RETENTION_BYTES)?;

        // A prefetch is required (per consumer: not global): the broker sends this many
        // messages ahead of our acks, and reads on as the acks come back.
        channel.qos(0, streams::PREFETCH, false)?;
        let consumer = stream.consume(streams::reading_from(start))?;
        let deliveries = common::deliveries(&consumer);
        println!("Press control + C to close");

        let mut last = None;
        for delivery in deliveries {
            let delivery = delivery.map_err(|e| streams::reading_failure(e, STREAM, last))?;
            // Each message has its offset: its place in the stream, from 0.
            let offset = streams::offset_of(&delivery, STREAM)?;
            let body = String::from_utf8_lossy(&delivery.body);
            println!(
                "Got message: {} from stream {STREAM} with offset: {offset}",
                body.escape_debug()
            );
            last = Some(offset);
            // Credit, not removal: the message stays in the stream for every other reader.
            consumer.ack(delivery)?;
        }
        common::cancel(consumer)?;
        session.close()
    })
}

/// Where a reader starts, from the command line: `first` (the oldest message kept), `last`
/// (the last chunk written), `next` (only what comes after we subscribe), an offset (`42`), a
/// time (`2026-11-29T20:00:00Z`: the first chunk written at or after it), or an interval back
/// from now (`30m`, `2h`, `7D`; units Y M D h m s), as `x-stream-offset` takes them: text for
/// the words and intervals, a 64-bit integer for an offset, an AMQP timestamp for a time.
fn parse_offset(text: &str) -> Result<AmqpValue, String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let interval = text.strip_suffix(['Y', 'M', 'D', 'h', 'm', 's']);
    if matches!(text, "first" | "last" | "next")
        || interval.is_some_and(|n| digits(n) && n.len() < 10)
    {
        Ok(AmqpValue::LongString(text.to_string()))
    } else if digits(text) {
        let offset = text
            .parse()
            .map_err(|_| format!("the offset '{text}' is too large"))?;
        Ok(AmqpValue::LongLongInt(offset))
    } else if let Some(seconds) = common::utc_time(text) {
        Ok(AmqpValue::Timestamp(seconds))
    } else {
        Err(format!(
            "'{text}' is not an offset: say first, last, next, a number (42), a time \
             (2026-11-29T20:00:00Z) or an interval (30m, 2h, 7D)"
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn offsets_are_words_numbers_times_or_intervals() {
        for word in [
            "first", "last", "next", "30m", "2h", "7D", "1Y", "10s", "3M",
        ] {
            assert_eq!(
                parse_offset(word),
                Ok(AmqpValue::LongString(word.to_string()))
            );
        }
        assert_eq!(parse_offset("0"), Ok(AmqpValue::LongLongInt(0)));
        assert_eq!(parse_offset("42"), Ok(AmqpValue::LongLongInt(42)));
        assert_eq!(
            parse_offset("1970-01-02T00:00:01Z"),
            Ok(AmqpValue::Timestamp(86_401))
        );
        assert_eq!(
            parse_offset("2026-11-29T20:00:00Z"),
            Ok(AmqpValue::Timestamp(1_795_982_400))
        );
        assert_eq!(
            parse_offset("2024-02-29T00:00:00Z"),
            Ok(AmqpValue::Timestamp(1_709_164_800))
        );
    }

    #[test]
    fn anything_else_is_not_an_offset() {
        for bad in [
            "",
            "-1",
            "1.5",
            "forty",
            "FIRST",
            "30x",
            "m",
            "2023-02-29T00:00:00Z",
            "2026-11-29 20:00:00",
            "99999999999999999999",
        ] {
            assert!(parse_offset(bad).is_err(), "{bad:?}");
        }
        assert!(parse_offset("forty")
            .unwrap_err()
            .contains("is not an offset"));
    }
}
