//! Chapter 8, Streams: what its programs share: a stream's declaration, where a reader starts,
//! each delivery's offset, a reader that the broker stopped, and the [`OffsetStore`].

use amiquip::{
    AmqpProperties, AmqpValue, Channel, Confirm, ConsumerOptions, Delivery, FieldTable, Publish,
    Queue, QueueDeclareOptions,
};
use anyhow::Result;
use common::Session;
use crossbeam_channel::Receiver;

/// How many deliveries a stream consumer may hold unacked (it must set a prefetch): measured on
/// one machine, 10, 100 and 1,000 read alike; over a network, a larger one keeps it fed.
pub const PREFETCH: u16 = 1_000;

/// Declares the stream `name`, keeping at most `retention` bytes. Idempotent: a stream with
/// the same arguments is fine, whoever declared it (the official programs, over their protocol).
pub fn declare_stream<'a>(channel: &'a Channel, name: &str, retention: i64) -> Result<Queue<'a>> {
    // The queue type makes it a stream: an append-only log on disk, which consumers read
    // without removing anything. Retention: beyond it, the oldest segments go (5 GB needs a
    // 64-bit integer). Durable, never exclusive or auto-delete: it outlives its readers.
    let stream = AmqpValue::LongString("stream".to_string());
    let retention = AmqpValue::LongLongInt(retention);
    let options = durable([("x-queue-type", stream), ("x-max-length-bytes", retention)]);
    Ok(channel.queue_declare(name, options)?)
}

/// A durable queue's declaration, with `arguments`.
fn durable<const N: usize>(arguments: [(&str, AmqpValue); N]) -> QueueDeclareOptions {
    let arguments = FieldTable::from(arguments.map(|(name, value)| (name.to_string(), value)));
    QueueDeclareOptions {
        durable: true,
        arguments,
        ..Default::default()
    }
}

/// A stream consumer's options: it starts at `offset` (the argument `x-stream-offset`) and acks
/// by hand, as a stream consumer must: an ack deletes nothing, it tells the broker to read on.
pub fn reading_from(offset: AmqpValue) -> ConsumerOptions {
    let arguments = FieldTable::from([("x-stream-offset".to_string(), offset)]);
    ConsumerOptions {
        arguments,
        ..Default::default()
    }
}

/// The offset of a delivery from `stream`: the broker puts it in the header `x-stream-offset`.
pub fn offset_of(delivery: &Delivery, stream: &str) -> Result<i64> {
    let headers = delivery.properties.headers().as_ref();
    match headers.and_then(|h| h.get("x-stream-offset")) {
        Some(AmqpValue::LongLongInt(offset)) => Ok(*offset),
        Some(AmqpValue::LongInt(offset)) => Ok(i64::from(*offset)),
        _ => anyhow::bail!("a delivery from '{stream}' came without its offset (x-stream-offset)"),
    }
}

/// The line for a reader of `stream` that the broker stopped `after` an offset (`None`: none
/// read yet) because it cannot give it a message over AMQP 0-9-1; any other error as it is.
pub fn reading_failure(error: anyhow::Error, stream: &str, after: Option<i64>) -> anyhow::Error {
    let line = common::describe(&error);
    if !line.contains("INTERNAL_ERROR") {
        return error;
    }
    let position = match after {
        Some(offset) => format!("after offset {offset}"),
        None => "before the first message".to_string(),
    };
    // Measured: a stream-protocol client that publishes raw bytes (the official python-stream
    // send.py) writes a message that is not an AMQP 1.0 message; the broker cannot turn it into
    // AMQP 0-9-1 and closes the connection, at every attempt. It reads a stream by chunks.
    common::Failure::new(format!(
        "the broker could not give us the next message of '{stream}' ({position}) and closed the \
         connection ({line}): most likely a stream-protocol client wrote it as raw bytes, not as \
         an AMQP 1.0 message, and AMQP 0-9-1 cannot read such a message"
    ))
    .hint(
        "have the producer send AMQP 1.0 messages (rstream: AMQPMessage(body=...)); to read what \
         comes from now on: receive_stream next",
    )
    .into()
}

/// A consumer's offset on a stream, kept on the broker: AMQP 0-9-1 has no offset store, so
/// this is a durable queue of its own holding one message, the offset stored last, as text.
pub struct OffsetStore<'a> {
    session: &'a Session,
    queue: Queue<'a>,
    confirms: Receiver<Confirm>,
    stores: u64,
}

impl<'a> OffsetStore<'a> {
    /// Declares the store `name`, and the channel's confirm mode for its stores. Durable; one
    /// message at most (a new one pushes out the one before); classic, where quorum is the
    /// default too: a quorum queue would count each query as a redelivery (20 at most, on 4.x).
    pub fn declare(session: &'a Session, name: &str) -> Result<Self> {
        let channel = session.channel();
        let classic = AmqpValue::LongString("classic".to_string());
        let one = AmqpValue::LongInt(1);
        let options = durable([("x-max-length", one), ("x-queue-type", classic)]);
        let queue = channel.queue_declare(name, options)?;
        let confirms = channel.listen_for_publisher_confirms()?;
        channel.enable_publisher_confirms()?;
        Ok(OffsetStore {
            session,
            queue,
            confirms,
            stores: 0,
        })
    }

    /// The offset stored last, if any, as the stream protocol's `query_offset`: the store's
    /// message, read and put back at once (`basic.get`, then `basic.reject` with requeue).
    pub fn query(&self) -> Result<Option<i64>> {
        let Some(got) = self.queue.get(false)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&got.delivery.body).into_owned();
        got.reject(self.session.channel(), true)?;
        let name = self.queue.name();
        let bad = format!(
            "the offset store '{name}' holds '{}', not an offset",
            text.escape_debug()
        );
        let delete = common::hint::broker(&format!("delete_queue '{name}'"));
        let hint = format!("delete it to read from the first message again: {delete}");
        let offset = text.parse::<i64>().ok().filter(|offset| *offset >= 0);
        Ok(Some(
            offset.ok_or_else(|| common::Failure::new(bad).hint(hint))?,
        ))
    }

    /// Stores `offset`, as the stream protocol's `store_offset`: a persistent publish, not
    /// awaited (see [`flush`](Self::flush)).
    pub fn store(&mut self, offset: i64) -> Result<()> {
        let persistent = AmqpProperties::default().with_delivery_mode(2);
        let text = offset.to_string();
        let message = Publish::with_properties(text.as_bytes(), self.queue.name(), persistent);
        self.session.channel().basic_publish("", message)?;
        self.stores += 1;
        Ok(())
    }

    /// Waits until the broker has confirmed every offset stored (5 s at most for each).
    pub fn flush(&self) -> Result<()> {
        self.session
            .confirm_all(&self.confirms, self.stores, "the offsets stored")
    }
}
