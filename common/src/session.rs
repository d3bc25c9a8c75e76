//! An open connection and the one channel a chapter works on: closed within 5 s, and waits for
//! a confirm or an answer that end at once when the broker blocks the connection (a resource
//! alarm) or the connection is lost, each with its one line.

use crate::report::explain;
use crate::{hint, Failure};
use amiquip::{
    Channel, Confirm, Connection, ConnectionBlockedNotification, Consumer, Delivery, Publish,
};
use crossbeam_channel::{Receiver, RecvError};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// An open connection to the broker and the one channel a chapter works on.
///
/// Get one with [`connect`](crate::connect); take the channel with [`channel`](Self::channel)
/// and end with [`close`](Self::close), which reports any error the broker sent late.
///
/// Closing is bounded, by `close` or when the session is dropped: amiquip 0.4.2 waits without
/// limit for the broker's Close-Ok, which a broker that has blocked the connection (a memory or
/// disk alarm) never sends.
pub struct Session {
    /// `None` only once closed: `close` and `drop` take it, and nothing else.
    open: Option<(Channel, Connection)>,
    /// The broker's Connection.Blocked and Unblocked notifications.
    blocked: Receiver<ConnectionBlockedNotification>,
    /// The connection's watchdog, and what its guard knows; the watchdog ends with the session.
    watchdog: guard::Watchdog,
    /// How long [`Session::publish_confirmed`] waits for the broker's confirm (30 s, or
    /// `?confirm_timeout=MS` in `AMQP_URL`).
    confirm_timeout: Duration,
}

/// How long closing may take before we give up on the broker's answer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

impl Session {
    /// A session of the connection `connection` (whose guard is `watchdog`), on `channel`;
    /// its publishers wait `confirm_timeout` for a confirm.
    pub(crate) fn new(
        channel: Channel,
        connection: Connection,
        blocked: Receiver<ConnectionBlockedNotification>,
        watchdog: guard::Watchdog,
        confirm_timeout: Duration,
    ) -> Session {
        guard::registry::register(watchdog.shared());
        Session {
            open: Some((channel, connection)),
            blocked,
            watchdog,
            confirm_timeout,
        }
    }

    /// The channel: where queues and exchanges are declared, messages published and consumed.
    pub fn channel(&self) -> &Channel {
        match &self.open {
            Some((channel, _)) => channel,
            // Only `close` and `drop` take `open`, and both end the session.
            None => unreachable!("a session is open until it is closed or dropped"),
        }
    }

    /// Closes the channel and the connection cleanly. An error the broker sent for an earlier
    /// asynchronous call (a publish to a missing exchange, say) surfaces here. Without the
    /// broker's answer within 5 s, it says why it may be missing (a blocked connection).
    pub fn close(mut self) -> anyhow::Result<()> {
        let Some((channel, connection)) = self.open.take() else {
            return Ok(());
        };
        let shared = self.watchdog.shared();
        let closed = guard::close_within(channel, connection, CLOSE_TIMEOUT, shared);
        // Closed: whatever its guard saw explains nothing after this.
        guard::registry::unregister(shared);
        let Some((closed_channel, closed_connection)) = closed else {
            return Err(match self.blocked_reason() {
                Some(reason) => blocked(&reason, "and stopped reading what it sends, our close included: what was published last may never reach a queue"),
                None => Failure::new(format!(
                    "the broker did not answer our close within {} s: what was published last may not have reached it",
                    CLOSE_TIMEOUT.as_secs()
                ))
                .hint(format!("is the broker overloaded or frozen? {}", hint::status())),
            }
            .into());
        };
        // The channel's error is the first and the meaningful one; the connection's follows it.
        closed_channel.map_err(|e| self.explain(&e))?;
        closed_connection.map_err(|e| self.explain(&e))?;
        Ok(())
    }

    /// Waits for the broker's next confirm on `confirms`, `within` at most: `Ok(None)` if none
    /// came by then. If the broker blocks this connection first (a memory or disk alarm), it
    /// reads nothing more from us and will not confirm until the alarm is over: an error at
    /// once, with the broker's reason; so is a lost connection, with what the guard saw of it.
    pub fn confirm(
        &self,
        confirms: &Receiver<Confirm>,
        within: Duration,
    ) -> anyhow::Result<Option<Confirm>> {
        match self.wait(confirms, Instant::now() + within, "before confirming")? {
            Some(Ok(confirm)) => Ok(Some(confirm)),
            Some(Err(RecvError)) => Err(self.lost().into()),
            None => Ok(None),
        }
    }

    /// Publishes `publish` to `exchange` as chapter 7 teaches: `mandatory` (a message that no
    /// queue takes comes back), on the channel in confirm mode, and waits 30 s at most for the
    /// broker's confirm (`?confirm_timeout=MS` in `AMQP_URL`). An error, naming `what` (`the
    /// job`), unless the broker acked it and no queue returned it.
    pub fn publish_confirmed(
        &self,
        exchange: &str,
        mut publish: Publish,
        what: &str,
    ) -> anyhow::Result<()> {
        let channel = self.channel();
        let confirms = channel.listen_for_publisher_confirms()?;
        let returns = channel.listen_for_returns()?;
        channel.enable_publisher_confirms()?;
        publish.mandatory = true;
        channel.basic_publish(exchange, publish)?;
        let Some(confirm) = self.confirm(&confirms, self.confirm_timeout)? else {
            return Err(not_confirmed(what, self.confirm_timeout));
        };
        // The broker sends a message's return before its ack.
        if let Ok(returned) = returns.try_recv() {
            let to = match returned.exchange.as_str() {
                "" => format!("there is no queue '{}'", returned.routing_key),
                exchange => format!(
                    "no queue is bound to the exchange '{exchange}' with the key '{}'",
                    returned.routing_key
                ),
            };
            return Err(Failure::new(format!("the broker returned {what}: {to}"))
                .hint("was the queue deleted? Run the program again: it declares it")
                .into());
        }
        if let Confirm::Nack(_) = confirm {
            return Err(Failure::new(format!("the broker refused {what} (nack): it was not stored"))
                .hint(format!(
                    "the broker may be out of disk or memory, a queue full (a policy's max-length with overflow \
                     reject-publish: {}), or a cluster without the majority of its nodes: {}",
                    hint::broker("list_policies"),
                    hint::status()
                ))
                .into());
        }
        Ok(())
    }

    /// Waits until the broker has confirmed the first `count` publishes on this channel in
    /// confirm mode (their confirms come on `confirms`), waiting 5 s at most for each: an error,
    /// naming `what`, for a nack or for silence.
    pub fn confirm_all(
        &self,
        confirms: &Receiver<Confirm>,
        count: u64,
        what: &str,
    ) -> anyhow::Result<()> {
        let wait = Duration::from_secs(5);
        let mut unconfirmed: BTreeSet<u64> = (1..=count).collect();
        while !unconfirmed.is_empty() {
            match self.confirm(confirms, wait)? {
                // `multiple`: the confirm covers every number up to its own.
                Some(Confirm::Ack(ack)) if ack.multiple => {
                    unconfirmed = unconfirmed.split_off(&(ack.delivery_tag + 1));
                }
                Some(Confirm::Ack(ack)) => {
                    unconfirmed.remove(&ack.delivery_tag);
                }
                Some(Confirm::Nack(_)) => {
                    return Err(Failure::new(format!("the broker refused (nacked) {what}"))
                        .hint(format!("is the broker short of disk? {}", hint::status()))
                        .into())
                }
                None => return Err(not_confirmed(what, wait)),
            }
        }
        Ok(())
    }

    /// The next delivery of `consumer` (an answer, for a program that waits for one), until
    /// `deadline` at most: `Ok(None)` when none came by then. The broker blocking this
    /// connection (it published during a resource alarm) ends the wait at once, with an error:
    /// no answer can come until the alarm is over. Ctrl+C meanwhile ends the program at once,
    /// as it ends a producer, since its job is not done.
    pub fn next_delivery(
        &self,
        consumer: &Consumer<'_>,
        deadline: Instant,
    ) -> anyhow::Result<Option<Delivery>> {
        match self.wait(
            consumer.receiver(),
            deadline,
            "while we waited for an answer",
        )? {
            None => Ok(None),
            Some(message) => crate::consume::delivery_of(message.ok()).transpose(),
        }
    }

    /// Waits on `receiver` until `deadline`, or until the broker blocks the connection (an error
    /// that says so, `when`): `None` when the deadline passed.
    fn wait<T>(
        &self,
        receiver: &Receiver<T>,
        deadline: Instant,
        when: &str,
    ) -> anyhow::Result<Option<Result<T, RecvError>>> {
        loop {
            crossbeam_channel::select! {
                recv(receiver) -> message => return Ok(Some(message)),
                recv(self.blocked) -> notification => match notification {
                    Ok(ConnectionBlockedNotification::Blocked(reason)) => {
                        let what = format!("{when}: it reads nothing more from us until its alarm is over");
                        return Err(blocked(&reason, &what).into());
                    }
                    Ok(ConnectionBlockedNotification::Unblocked) => {}
                    Err(RecvError) => return Err(self.lost().into()),
                },
                default(deadline.saturating_duration_since(Instant::now())) => return Ok(None),
            }
        }
    }

    /// An amiquip error of this connection explained: the guard's reason if it ended the
    /// connection (amiquip then only saw its socket fail), else what amiquip says.
    fn explain(&self, error: &amiquip::Error) -> Failure {
        match guard::lock(self.watchdog.shared()).tripped.clone() {
            Some(reason) => Failure::new(reason),
            None => explain(error),
        }
    }

    /// Why the connection ended, from what its guard saw: the guard's own reason, the broker's
    /// close of the channel or the connection, or a connection that simply went.
    fn lost(&self) -> Failure {
        let (tripped, channel, connection) = {
            let watch = guard::lock(self.watchdog.shared());
            let (channel, connection) =
                (watch.closed_channel.clone(), watch.closed_by_broker.clone());
            (watch.tripped.clone(), channel, connection)
        };
        use amiquip::Error as E;
        match (tripped, channel, connection) {
            (Some(reason), _, _) => Failure::new(reason),
            (_, Some((code, message)), _) => explain(&E::ServerClosedChannel {
                channel_id: 1,
                code,
                message,
            }),
            (_, _, Some((code, message))) => explain(&E::ServerClosedConnection { code, message }),
            _ => Failure::new(
                "lost the connection to the broker (it stopped, or the network failed)",
            )
            .hint(format!("is the broker running? {}", hint::status())),
        }
    }

    /// The reason the broker gave for blocking this connection, if it still blocks it (the
    /// guard reads Connection.Blocked and Unblocked as they pass, over TLS too).
    fn blocked_reason(&self) -> Option<String> {
        guard::lock(self.watchdog.shared()).blocked.clone()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Not unregistered: a session dropped without `close` is one whose error is on its way
        // to `describe`, which its guard's verdict may explain. (The watchdog ends after this.)
        if let Some((channel, connection)) = self.open.take() {
            let _ = guard::close_within(channel, connection, CLOSE_TIMEOUT, self.watchdog.shared());
        }
    }
}

/// The line for a connection that the broker blocked (`reason`: a resource alarm), and `what`
/// that means for the program.
fn blocked(reason: &str, what: &str) -> Failure {
    Failure::new(format!(
        "the broker blocked this connection ({}) {what}",
        guard::printable(reason)
    ))
    .hint(format!(
        "the broker is in a resource alarm (low on memory or disk): {}; a queue that only grows, \
         such as tasks a worker never acks, is the usual cause",
        hint::status()
    ))
}

/// The line for `what` (`the job`, `messages 3-9`) that the broker did not confirm `within`: it
/// is alive, but it may not have stored it (a cluster that lost the majority of its nodes).
pub fn not_confirmed(what: &str, within: Duration) -> anyhow::Error {
    Failure::new(format!(
        "the broker did not confirm {what} within {} s: it may not have stored it",
        within.as_secs_f64()
    ))
    .hint(format!(
        "is the broker overloaded, or a cluster without the majority of its nodes? {}",
        hint::status()
    ))
    .into()
}
