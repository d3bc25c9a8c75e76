//! A guard between the socket and amiquip 0.4.2, for what amiquip trusts or waits for without
//! limit. amiquip reads frames from any stream it is handed, so it is handed a [`Guarded`] one:
//!
//! - **Every frame is checked before amiquip parses it**, and the connection ends
//!   with one clear line when a frame breaks the protocol's limits: a peer that is not an AMQP
//!   0-9-1 broker (a web server, another AMQP version), a frame over the negotiated frame_max, a
//!   bad frame type or frame end, a message body over [`BODY_MAX`], field tables nested deeper
//!   than [`TABLE_DEPTH_MAX`]. amiquip would otherwise allocate whatever size a peer announces,
//!   recurse until its stack overflows, or panic.
//! - **Heartbeats stay on**: a broker that offers heartbeat 0 would switch off amiquip's only
//!   check that the broker is alive; the guard offers amiquip ours instead.
//! - **Every wait is bounded** by a [`Watchdog`] thread: the whole handshake (to the channel
//!   open) within the connect timeout, and every request that expects an answer (a declare, a
//!   consume) within the request timeout, or at once on a connection the broker blocked (a
//!   resource alarm: it reads nothing more). Then it shuts the socket down, which ends amiquip's
//!   wait. Closing is bounded too ([`close_within`]): amiquip waits for the broker's
//!   Close-Ok for ever, which a broker that blocked the connection (a resource alarm) never sends.
//! - **What the broker said is remembered** ([`Watch`]): how it closed a login (only
//!   ACCESS_REFUSED means a wrong password), whether it blocked the connection, why the guard
//!   ended it. What the guard saw belongs to its connection; the [`registry`] of open sessions
//!   lets an error that arrives without its connection be explained by it.
//! - **Secrets stay out of every line** ([`secrets`]): amiquip logs its login frame, password
//!   included, and some of its errors embed the URL.
//!
//! **TLS goes through the same guard.** The frames must be checked after decryption, so the
//! guard cannot sit between the socket and TLS: [`tls_handshake`] runs native-tls's handshake on
//! our socket, blocking, each step bounded by the connect deadline, then turns the socket under
//! TLS into a non-blocking mio socket, and the [`Guarded`] stream reads and writes through TLS
//! ([`Stream::Tls`]). amiquip gets it with `insecure_open_stream`, as it gets a plain socket:
//! the name only means that amiquip adds no encryption of its own. mio's readiness events come
//! from the TCP socket under TLS; amiquip reads until `WouldBlock`, which drains what TLS has
//! buffered, so no event is missed.
//!
//! The guard knows nothing of the course: its lines say what a peer did, and the course adds the
//! hints (which command shows the broker's state) where it explains them.

mod address;
mod close;
mod failure;
mod frames;
pub mod hint;
mod open;
pub mod registry;
pub mod secrets;
mod stream;
mod watchdog;

pub use address::BrokerAddress;
pub use close::close_within;
pub use failure::Failure;
pub use open::open;
pub use stream::{tls_handshake, Guarded, Socket, Stream, TlsFailure};
pub use watchdog::Watchdog;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The largest frame we accept (and offer): RabbitMQ's default frame_max.
pub const FRAME_MAX: u32 = 131_072;
/// The largest message body we accept: 512 MiB, the hard limit of RabbitMQ's `max_message_size`
/// (its default is 128 MiB on 3.x and 16 MiB on 4.x, and a broker may be configured up to this).
/// A larger body cannot come from a RabbitMQ broker; a smaller one may, and must be taken.
pub const BODY_MAX: u64 = 512 << 20;
/// How deep field tables (a message's headers, the broker's properties) may nest.
pub const TABLE_DEPTH_MAX: usize = 16;
/// Which of RabbitMQ's ports is which, for a peer reached on the wrong one.
pub const PORTS: &str = "RabbitMQ's AMQP port is 5672; 15672 is its management web UI";

/// What the guard and its watchdog know about one connection.
#[derive(Default)]
pub struct Watch {
    /// The handshake and the channel open are done: the handshake deadline no longer applies.
    pub handshake_done: bool,
    /// The broker's Connection.Close, if it sent one: its code and text.
    pub closed_by_broker: Option<(u16, String)>,
    /// The broker's last Channel.Close, if it sent one: its code and text.
    pub closed_channel: Option<(u16, String)>,
    /// The broker closed the socket (end of stream). RabbitMQ refuses a login so, without a
    /// word, to a client that does not announce `authentication_failure_close` (amiquip).
    pub peer_closed: bool,
    /// The reason of the broker's Connection.Blocked, until it unblocks the connection.
    pub blocked: Option<String>,
    /// Why the guard ended the connection, once it did.
    pub tripped: Option<String>,
    /// Whether the peer has sent anything at all (a web server that never answers our protocol
    /// header, such as RabbitMQ's management listener, sends nothing).
    pub received: bool,
    /// Requests waiting for their answer, by channel: the method's class, name, and when sent.
    pub(crate) waiting: HashMap<u16, (u16, &'static str, Instant)>,
    /// The socket or the session is gone: the watchdog ends.
    pub(crate) gone: bool,
}

/// A connection's shared [`Watch`].
pub type Shared = Arc<Mutex<Watch>>;

/// Locks the watch, even if a thread panicked while holding it (it only holds plain data).
pub fn lock(shared: &Shared) -> MutexGuard<'_, Watch> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records why the guard ends the connection (the first reason wins): the line that explains
/// every error of this connection from now on.
fn trip(shared: &Shared, reason: String) -> String {
    lock(shared).tripped.get_or_insert(reason).clone()
}

/// `text` with every control character (an escape sequence's ESC, CR, NUL...) made a blank, so
/// that text from a peer cannot act on the learner's terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
