//! The stream amiquip reads and writes: the socket (or TLS over it), with the frame checks in
//! between.

use crate::frames::{Inbound, Outbound};
use crate::{lock, trip, Shared};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// The stream under the guard: the TCP socket, or TLS over it.
pub enum Stream {
    /// `amqp://`: the socket itself.
    Plain(mio::net::TcpStream),
    /// `amqps://`: TLS over the socket, its handshake done ([`tls_handshake`]).
    Tls(native_tls::TlsStream<Socket>),
}

impl Stream {
    /// The TCP socket, for mio's readiness events.
    fn socket(&self) -> io::Result<&mio::net::TcpStream> {
        match self {
            Stream::Plain(socket) => Ok(socket),
            Stream::Tls(tls) => match tls.get_ref() {
                Socket::Mio(socket) => Ok(socket),
                _ => Err(io::Error::other("the TLS handshake is not done")),
            },
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// The socket under TLS: blocking, each read and write bounded by the connect deadline, for
/// the handshake; then non-blocking, for amiquip's event loop (a mio socket). Switching under
/// the TLS stream keeps TLS's state, and works wherever mio does (a mio socket can join only
/// one event loop, amiquip's).
pub enum Socket {
    /// During the handshake.
    Blocking(TcpStream, Instant),
    /// Once amiquip takes over.
    Mio(mio::net::TcpStream),
    /// Between the two.
    Switching,
}

impl Socket {
    /// Sets the socket's timeouts to what is left before the deadline (an error if nothing).
    fn bounded(&self) -> io::Result<&TcpStream> {
        match self {
            Socket::Blocking(socket, deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                socket.set_read_timeout(Some(left))?;
                socket.set_write_timeout(Some(left))?;
                Ok(socket)
            }
            _ => Err(io::Error::other("not a blocking socket")),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Mio(socket) => socket.read(buf),
            _ => self.bounded()?.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Mio(socket) => socket.write(buf),
            _ => self.bounded()?.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Socket::Mio(socket) => socket.flush(),
            Socket::Blocking(socket, _) => socket.flush(),
            Socket::Switching => Ok(()),
        }
    }
}

/// Why a TLS handshake did not complete.
pub enum TlsFailure {
    /// TLS itself failed (an untrusted certificate, a peer that does not speak TLS...).
    Tls(String),
    /// No handshake by the deadline.
    TimedOut,
    /// The socket could not be made non-blocking for amiquip.
    Io(io::Error),
}

/// Runs the TLS handshake with `domain` on `socket`, until `deadline` at most, verifying the
/// peer's certificate as `connector` says; then makes the socket under TLS non-blocking, for
/// amiquip.
pub fn tls_handshake(
    connector: &native_tls::TlsConnector,
    domain: &str,
    socket: TcpStream,
    deadline: Instant,
) -> Result<native_tls::TlsStream<Socket>, TlsFailure> {
    use native_tls::HandshakeError;
    let mut step = connector.connect(domain, Socket::Blocking(socket, deadline));
    let mut tls = loop {
        match step {
            Ok(tls) => break tls,
            Err(HandshakeError::Failure(e)) => {
                return Err(match Instant::now() >= deadline {
                    true => TlsFailure::TimedOut,
                    false => TlsFailure::Tls(e.to_string()),
                })
            }
            // A read timeout (WouldBlock on Unix): again, until the deadline.
            Err(HandshakeError::WouldBlock(mid)) => {
                if Instant::now() >= deadline {
                    return Err(TlsFailure::TimedOut);
                }
                step = mid.handshake();
            }
        }
    };
    let Socket::Blocking(socket, _) = std::mem::replace(tls.get_mut(), Socket::Switching) else {
        unreachable!("the socket is blocking until here");
    };
    socket
        .set_read_timeout(None)
        .and_then(|()| socket.set_write_timeout(None))
        .map_err(TlsFailure::Io)?;
    *tls.get_mut() = Socket::Mio(mio::net::TcpStream::from_stream(socket).map_err(TlsFailure::Io)?);
    Ok(tls)
}

/// The stream that amiquip reads and writes, with the checks of this module in between.
pub struct Guarded {
    socket: Stream,
    inbound: Inbound,
    outbound: Outbound,
    shared: Shared,
}

impl Guarded {
    /// Guards `socket` (plain or TLS) for a connection that asks for `heartbeat` seconds.
    pub fn new(socket: Stream, heartbeat: u16, shared: Shared) -> Guarded {
        Guarded {
            socket,
            inbound: Inbound::new(heartbeat),
            outbound: Outbound::default(),
            shared,
        }
    }
}

impl Guarded {
    /// A reset or broken socket is the broker closing it too (RabbitMQ may reset it when it
    /// refuses a login), and so is a TLS stream cut without TLS's own goodbye.
    fn note_closed(&self, error: &io::Error) {
        use io::ErrorKind as K;
        if matches!(
            error.kind(),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
        ) || error.to_string().contains("unexpected eof")
        {
            lock(&self.shared).peer_closed = true;
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        lock(&self.shared).gone = true;
    }
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(reason) = lock(&self.shared).tripped.clone() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, reason));
        }
        loop {
            let ready = self.inbound.ready();
            if !ready.is_empty() {
                let n = ready.len().min(buf.len());
                buf[..n].copy_from_slice(&ready[..n]);
                self.inbound.handed(n);
                return Ok(n);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self
                .socket
                .read(&mut chunk)
                .inspect_err(|e| self.note_closed(e))?;
            if n == 0 {
                lock(&self.shared).peer_closed = true;
                return Ok(0);
            }
            lock(&self.shared).received = true;
            if let Err(problem) = self.inbound.feed(&chunk[..n], &self.shared) {
                let reason = trip(&self.shared, problem);
                return Err(io::Error::new(io::ErrorKind::InvalidData, reason));
            }
        }
    }
}

impl Write for Guarded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self
            .socket
            .write(buf)
            .inspect_err(|e| self.note_closed(e))?;
        self.outbound.feed(&buf[..n], &self.shared);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

impl mio::Evented for Guarded {
    fn register(
        &self,
        poll: &mio::Poll,
        token: mio::Token,
        interest: mio::Ready,
        opts: mio::PollOpt,
    ) -> io::Result<()> {
        self.socket.socket()?.register(poll, token, interest, opts)
    }

    fn reregister(
        &self,
        poll: &mio::Poll,
        token: mio::Token,
        interest: mio::Ready,
        opts: mio::PollOpt,
    ) -> io::Result<()> {
        self.socket
            .socket()?
            .reregister(poll, token, interest, opts)
    }

    fn deregister(&self, poll: &mio::Poll) -> io::Result<()> {
        self.socket.socket()?.deregister(poll)
    }
}

impl amiquip::IoStream for Guarded {}
