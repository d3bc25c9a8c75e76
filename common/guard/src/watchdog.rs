//! The watchdog: a thread per connection that ends what amiquip would wait for without limit.

use crate::{lock, printable, trip, Shared};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection's watchdog: it runs until this is dropped (or the connection's stream is).
pub struct Watchdog {
    shared: Shared,
}

impl Watchdog {
    /// Starts the watchdog of a connection: `socket` is a clone of its TCP socket, `deadline`
    /// ends the handshake (`timeout` after the start), a request waits `request_timeout` at
    /// most for its answer, `at` names the broker in messages.
    pub fn start(
        socket: TcpStream,
        deadline: Instant,
        timeout: Duration,
        request_timeout: Duration,
        at: String,
    ) -> Watchdog {
        let shared: Shared = Arc::default();
        let watched = Arc::clone(&shared);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            let reason = {
                let watch = lock(&watched);
                if watch.gone || watch.tripped.is_some() {
                    return;
                }
                let blocked = match &watch.blocked {
                    Some(reason) => format!(
                        " (it blocked this connection: {}; is it in a resource alarm?)",
                        printable(reason)
                    ),
                    None => String::new(),
                };
                // A blocked connection is not read (the broker blocks one that published during
                // a resource alarm): a request waiting on it cannot be answered until the alarm is
                // over, and is ended now (a consumer cancelled after the publish, say).
                let unanswerable = watch.blocked.as_ref().and_then(|reason| {
                    let (_, name, _) = watch.waiting.values().next()?;
                    Some(format!(
                        "the broker blocked this connection ({}) and reads nothing more from us: \
                         our {name} gets no answer until its resource alarm is over",
                        printable(reason)
                    ))
                });
                if unanswerable.is_some() {
                    unanswerable
                } else if !watch.handshake_done && Instant::now() > deadline {
                    Some(format!(
                        "the broker at {at} did not complete the AMQP handshake within {} ms{blocked}",
                        timeout.as_millis()
                    ))
                } else {
                    watch
                        .waiting
                        .values()
                        .find(|(_, _, since)| since.elapsed() > request_timeout)
                        .map(|(_, name, _)| {
                            format!(
                                "the broker did not answer our {name} within {}{blocked}",
                                seconds(request_timeout)
                            )
                        })
                }
            };
            if let Some(reason) = reason {
                trip(&watched, reason);
                // amiquip's wait ends when its socket does.
                let _ = socket.shutdown(Shutdown::Both);
                return;
            }
        });
        Watchdog { shared }
    }

    /// What the guard and the watchdog know about the connection.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }
}

/// A bound as a learner reads it: `20 s`, `1.5 s`.
fn seconds(bound: Duration) -> String {
    format!("{} s", bound.as_secs_f64())
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        lock(&self.shared).gone = true;
    }
}
