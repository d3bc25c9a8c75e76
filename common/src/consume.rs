//! A consumer's loop: deliveries until Ctrl+C or until the broker ends them, work that Ctrl+C
//! interrupts, and a clean cancel.

use crate::report::{explain, lost_connection};
use crate::{hint, interrupt, Failure, Interrupted};
use amiquip::{Consumer, ConsumerMessage, Delivery};
use std::time::{Duration, Instant};

/// The deliveries of `consumer`, one by one, until Ctrl+C or SIGTERM (an [`Interrupted`]
/// error, which [`run`](crate::run) reports as `Interrupted`, exit 0) or until the broker or the
/// network ends the consumer (an error that says how).
///
/// From this call on the program counts as waiting, so Ctrl+C ends it cleanly: call it before
/// printing that the program waits.
pub fn deliveries<'c, 'a>(
    consumer: &'c Consumer<'a>,
) -> impl Iterator<Item = anyhow::Result<Delivery>> + 'c {
    let stop = interrupt::receiver();
    std::iter::from_fn(move || {
        crossbeam_channel::select! {
            recv(consumer.receiver()) -> message => delivery_of(message.ok()),
            recv(stop) -> _ => Some(Err(Interrupted.into())),
        }
    })
}

/// Spends `duration` doing the "work" of a task, or returns [`Interrupted`] as soon as Ctrl+C
/// or SIGTERM arrives, so that an interrupted worker never acknowledges unfinished work.
pub fn work(duration: Duration) -> Result<(), Interrupted> {
    // Nothing is ever sent on it: it only disconnects, when a signal comes.
    match interrupt::receiver().recv_timeout(duration) {
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Ok(()),
        _ => Err(Interrupted),
    }
}

/// Cancels `consumer` so that the connection can go on, or close cleanly, without it.
///
/// Dropping an amiquip 0.4.2 `Consumer` cancels it too, but amiquip wakes the program with the
/// broker's Cancel-Ok before it tells the consumer, and if the consumer is gone by then its I/O
/// thread fails and the connection is lost ("i/o loop dropped sending side of a channel").
/// This waits (5 s at most) until the consumer has been told. Like every amiquip call, the
/// cancel itself waits for the broker's answer, which a connection that the broker blocked (it
/// published during a resource alarm) never gets: cancel once the publishes are confirmed.
pub fn cancel(consumer: Consumer<'_>) -> anyhow::Result<()> {
    let receiver = consumer.receiver().clone();
    consumer.cancel().map_err(|e| explain(&e))?;
    drop(consumer);
    let deadline = Instant::now() + Duration::from_secs(5);
    // Deliveries still on their way are dropped: unacked ones go back to the queue.
    while let Ok(message) = receiver.recv_deadline(deadline) {
        if matches!(message, ConsumerMessage::ClientCancelled) {
            break;
        }
    }
    Ok(())
}

/// Ends our side of `consumer` without cancelling it, for a program that closes its session
/// next: closing the channel ends the consumer at the broker anyway, where a cancel first (or
/// dropping the consumer, which cancels it) would wait one more round trip for nothing.
/// Deliveries that come meanwhile are dropped with the channel.
pub fn leave(consumer: Consumer<'_>) {
    // amiquip's Consumer cancels when dropped: not dropping it is the only way not to.
    std::mem::forget(consumer);
}

/// What a consumer's message means for the program: a delivery, the end of the consumer
/// (`None`, after we cancelled or closed it), or an error that says why the broker or the
/// network ended it (`message` is `None` when amiquip's I/O thread is gone).
pub(crate) fn delivery_of(message: Option<ConsumerMessage>) -> Option<anyhow::Result<Delivery>> {
    match message {
        Some(ConsumerMessage::Delivery(delivery)) => Some(Ok(delivery)),
        Some(
            ConsumerMessage::ServerClosedChannel(e) | ConsumerMessage::ServerClosedConnection(e),
        ) => Some(Err(explain(&e).into())),
        Some(ConsumerMessage::ServerCancelled) => Some(Err(Failure::new(
            "the broker cancelled the consumer: its queue was deleted",
        )
        .hint("declare it again (the programs that use it declare it), then rerun this one")
        .into())),
        Some(
            ConsumerMessage::ClientCancelled
            | ConsumerMessage::ClientClosedChannel
            | ConsumerMessage::ClientClosedConnection,
        ) => None,
        None => Some(Err(lost_connection(
            Failure::new("lost the connection to the broker (it stopped, or the network failed)")
                .hint(format!("is the broker running? {}", hint::status())),
        )
        .into())),
    }
}
