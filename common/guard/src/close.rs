//! Closing within a bound: amiquip 0.4.2 waits for the broker's Close-Ok without limit.

use crate::{lock, Shared};
use amiquip::{Channel, Connection};
use std::time::{Duration, Instant};

/// Closes `channel`, then `connection`, in a thread of its own, and waits for that `limit` at
/// most, or until the broker blocks the connection (a resource alarm: it then reads nothing
/// more from us, our close included). `None` if it did not end (the thread is left waiting,
/// until the program exits); else each close's outcome.
pub fn close_within(
    channel: Channel,
    connection: Connection,
    limit: Duration,
    watch: &Shared,
) -> Option<(amiquip::Result<()>, amiquip::Result<()>)> {
    let (done, result) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let closed_channel = channel.close();
        let closed_connection = connection.close();
        let _ = done.send((closed_channel, closed_connection));
    });
    let deadline = Instant::now() + limit;
    loop {
        let step = (Instant::now() + Duration::from_millis(20)).min(deadline);
        match result.recv_deadline(step) {
            Ok(closed) => return Some(closed),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if Instant::now() >= deadline || lock(watch).blocked.is_some() {
                    return None;
                }
            }
        }
    }
}
