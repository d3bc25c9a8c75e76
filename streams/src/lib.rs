//! Chapter 8, Streams: what the chapter's four programs share.
//!
//! - [`declare_stream`]: a stream is a queue declared durable with `x-queue-type: stream` and a
//!   retention (`x-max-length-bytes`); a name already taken by a classic or quorum queue gets
//!   the broker's 406 explained in one line.
//! - [`parse_offset`]: where a reader starts (`first`, `last`, `next`, an offset, a time, an
//!   interval), as the consumer argument `x-stream-offset` says it.
//! - [`offset_of`]: the offset the broker gives each delivery (its header `x-stream-offset`).
//! - [`reading_failure`]: the line for a reader that the broker stopped (a stream deleted
//!   under it; a message it cannot turn into AMQP 0-9-1).

use amiquip::{AmqpValue, Channel, Delivery, FieldTable, Queue, QueueDeclareOptions};

/// How many deliveries a stream consumer may hold unacknowledged: the broker reads the stream
/// ahead by this many messages. A stream consumer must set one (`basic.qos`), or the broker
/// refuses the consume. Measured replaying 50,000 messages on one machine: 10, 100 and 1,000
/// all gave 41,000 to 61,000 msg/s (the noise is larger than the difference); over a real
/// network, where each ack takes longer to come back, a larger prefetch keeps the reader fed.
pub const PREFETCH: u16 = 1_000;

/// Declares the stream `name`, keeping at most `retention_bytes` bytes (the oldest segments go
/// first). Declaring is idempotent: a stream with the same arguments is fine, whoever declared
/// it (our programs, or the official ones through the stream protocol).
pub fn declare_stream<'a>(
    channel: &'a Channel,
    name: &str,
    retention_bytes: i64,
) -> anyhow::Result<Queue<'a>> {
    let mut arguments = FieldTable::new();
    // The queue type makes it a stream: an append-only log on disk, which consumers read
    // without removing anything.
    arguments.insert(
        "x-queue-type".to_string(),
        AmqpValue::LongString("stream".to_string()),
    );
    // Retention: once the stream holds more than this, its oldest segments are deleted. 5 GB
    // does not fit in 32 bits: a 64-bit integer it is.
    arguments.insert(
        "x-max-length-bytes".to_string(),
        AmqpValue::LongLongInt(retention_bytes),
    );
    // Durable, never exclusive or auto-delete: a stream outlives its readers and writers.
    let declared = channel.queue_declare(
        name,
        QueueDeclareOptions {
            durable: true,
            arguments,
            ..Default::default()
        },
    );
    declared.map_err(|error| match &error {
        amiquip::Error::ServerClosedChannel {
            code: 406, message, ..
        } => not_a_stream(name, message).into(),
        _ => anyhow::Error::new(error),
    })
}

/// The line for a 406 on declaring the stream `name`: the name is taken by another kind of
/// queue (or by a stream with another retention), and a queue's type never changes.
fn not_a_stream(name: &str, message: &str) -> common::Failure {
    let current = message
        .split("but current is '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or("");
    let what = match current {
        "classic" | "quorum" if message.contains("'x-queue-type'") => {
            format!("as a {current} queue")
        }
        // Measured on 3.10.8 and 4.3.6: the broker names the retention first ('current is
        // none'), which a classic or quorum queue lacks, so the type stays unknown here.
        _ => {
            "and is not this stream (a classic or quorum queue, or a stream with another retention)"
                .to_string()
        }
    };
    common::Failure::new(format!(
        "'{name}' already exists {what}, and a queue's type and arguments never change \
         (the broker: {message})"
    ))
    .hint(format!(
        "delete it if you no longer need it: scripts/broker delete_queue '{name}' (its messages go with it)"
    ))
}

/// Where a reader starts, from the command line: `first` (the oldest message kept), `last`
/// (the last chunk written), `next` (only what comes after we subscribe), an offset (`42`), a
/// time (`2026-11-29T20:00:00Z`: the first chunk written at or after it), or an interval back
/// from now (`30m`, `2h`, `7D`; units Y M D h m s). As the consumer argument `x-stream-offset`
/// takes them: text for the words and intervals, a 64-bit integer for an offset, an AMQP
/// timestamp for a time.
pub fn parse_offset(text: &str) -> Result<AmqpValue, String> {
    match text {
        "first" | "last" | "next" => return Ok(AmqpValue::LongString(text.to_string())),
        _ => {}
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map(AmqpValue::LongLongInt)
            .map_err(|_| format!("the offset '{text}' is too large"));
    }
    if let Some(number) = text.strip_suffix(['Y', 'M', 'D', 'h', 'm', 's']) {
        if !number.is_empty() && number.len() <= 9 && number.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(AmqpValue::LongString(text.to_string()));
        }
    }
    if let Some(seconds) = parse_utc_time(text) {
        return Ok(AmqpValue::Timestamp(seconds));
    }
    Err(format!(
        "'{text}' is not an offset: say first, last, next, a number (42), a time \
         (2026-11-29T20:00:00Z) or an interval (30m, 2h, 7D)"
    ))
}

/// Seconds since 1970 for `YYYY-MM-DDTHH:MM:SSZ` (UTC, as RFC 3339 writes it).
fn parse_utc_time(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|d| d.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1970 || !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 59
    {
        return None;
    }
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days * 86_400 + hour * 3_600 + minute * 60 + second).ok()
}

/// The offset of a delivery from a stream: the broker puts it in the header `x-stream-offset`.
pub fn offset_of(delivery: &Delivery) -> Option<i64> {
    match delivery
        .properties
        .headers()
        .as_ref()?
        .get("x-stream-offset")?
    {
        AmqpValue::LongLongInt(offset) => Some(*offset),
        AmqpValue::LongInt(offset) => Some(i64::from(*offset)),
        AmqpValue::LongUInt(offset) => Some(i64::from(*offset)),
        AmqpValue::Timestamp(offset) => i64::try_from(*offset).ok(),
        _ => None,
    }
}

/// The line for a reader of `stream` that the broker stopped, `after` the last offset it read
/// (`None`: none yet). Two cases get their own explanation; any other error stays as it is.
pub fn reading_failure(error: anyhow::Error, stream: &str, after: Option<i64>) -> anyhow::Error {
    if error.is::<common::Interrupted>() {
        return error;
    }
    let line = common::describe(&error);
    let position = match after {
        Some(offset) => format!("after offset {offset}"),
        None => "before the first message".to_string(),
    };
    if line.contains("the broker cancelled the consumer") {
        return common::Failure::new(format!(
            "the stream '{stream}' was deleted while we read it ({position})"
        ))
        .hint("declare it again by running a producer of this chapter, then read again")
        .into();
    }
    if line.contains("INTERNAL_ERROR") {
        // Measured: a stream-protocol client that publishes raw bytes (the official
        // python-stream send.py) writes a message that is not an AMQP 1.0 message; the broker
        // cannot turn it into AMQP 0-9-1 and closes the connection, at every attempt.
        return common::Failure::new(format!(
            "the broker could not give us the next message of '{stream}' ({position}) and closed the \
             connection ({line}): most likely a stream-protocol client wrote it as raw bytes, not as \
             an AMQP 1.0 message, and AMQP 0-9-1 cannot read such a message"
        ))
        .hint(match after {
            Some(offset) => format!(
                "have the producer send AMQP 1.0 messages (rstream: AMQPMessage(body=...)); the broker \
                 reads a stream by chunks, so to get past it read what comes from now on: \
                 receive_stream next (offsets above {offset} in a later chunk work too)"
            ),
            None => "have the producer send AMQP 1.0 messages (rstream: AMQPMessage(body=...)); \
                     to read what comes from now on: receive_stream next"
                .to_string(),
        })
        .into();
    }
    error
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

    #[test]
    fn a_name_taken_by_a_classic_queue_is_explained_in_one_line() {
        let line = not_a_stream(
            "hello-stream",
            "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'hello-stream' in vhost '/': received 'stream' but current is 'classic'",
        )
        .to_string();
        assert!(
            line.starts_with("'hello-stream' already exists as a classic queue"),
            "{line}"
        );
        assert!(line.contains("scripts/broker delete_queue 'hello-stream'"));
        assert!(!line.contains('\n'));
    }
}
