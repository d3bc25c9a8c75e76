//! A scripted AMQP 0-9-1 peer on loopback: enough of a broker for the course's programs to
//! connect, declare, publish, confirm and consume, that misbehaves in one chosen way, to test
//! that every program ends with one clear line, in bounded time, whatever a peer sends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How the fake broker misbehaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Misbehaviour {
    /// None: a healthy broker (to show that the fake is good enough for every program).
    None,
    /// Answers the protocol header as a web server does: an HTTP error.
    Http,
    /// Answers with the protocol header of AMQP 1.0.
    Amqp10,
    /// Sends heartbeats, never Connection.Start.
    HeartbeatsInsteadOfStart,
    /// A Connection.Start whose properties nest field tables 1000 deep (a 5 KB frame).
    DeepTableInStart,
    /// Says nothing after our login (Start-Ok).
    SilentAfterLogin,
    /// Sends garbage after our login.
    GarbageAfterLogin,
    /// Refuses the login as RabbitMQ does: Connection.Close 403 ACCESS_REFUSED.
    RefusesLogin,
    /// A Tune offering heartbeat 0, then silence.
    TuneHeartbeat0ThenSilence,
    /// Heartbeats, but no answer to Channel.Open.
    NoChannelOpenOk,
    /// Once the channel is open, heartbeats but no answer to any request.
    NoAnswers,
    /// At the first request, a Connection.Close whose text holds an escape sequence, CR and NUL.
    CloseWithControlCharacters,
    /// At the first request, a frame announcing 1.2 GB (as an HTTP answer read as AMQP does).
    HugeFrame,
    /// At the first request, a frame with a bad frame-end byte.
    BadFrameEnd,
    /// To a consumer, a delivery announcing a body of 2^64-1 bytes.
    BodyOf2Pow64,
    /// To a consumer, a delivery announcing a body of 1 TiB.
    BodyOf1TiB,
    /// To a consumer, a delivery whose headers nest field tables 1000 deep.
    DeepHeaders,
    /// At the first request, 64 seeded random frames, some valid, most mutated or cut short.
    Fuzz {
        /// The seed of the byte stream; each connection adds its number to it.
        seed: u64,
    },
}

/// A fake broker listening on a loopback port of its own until dropped.
pub struct FakeBroker {
    /// Its port.
    pub port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    published: Arc<AtomicUsize>,
}

/// What the fake broker's connections share: when to stop, and what they count.
#[derive(Clone)]
struct Counters {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    published: Arc<AtomicUsize>,
}

/// The test's own TLS certificates, made once per test process with openssl in a temporary
/// folder: a CA, and a server certificate it signed for `localhost` and `127.0.0.1`.
struct Certificates {
    ca: PathBuf,
    acceptor: native_tls::TlsAcceptor,
}

/// The start of the name of a test process's certificate folder; its pid follows.
const CERTIFICATES: &str = "course-fake-broker-tls-";

/// Removes, from `temp`, the certificate folders of test processes that have ended (Linux:
/// no `/proc/PID`), so that runs do not pile up CA keys in /tmp. A process cannot remove its
/// own: the CA file is read by the programs it starts until the very end.
fn remove_ended_processes_certificates(temp: &Path) {
    let (Ok(entries), true) = (std::fs::read_dir(temp), Path::new("/proc/self").exists()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(CERTIFICATES)) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn certificates() -> &'static Certificates {
    static MADE: OnceLock<Certificates> = OnceLock::new();
    MADE.get_or_init(|| {
        remove_ended_processes_certificates(&std::env::temp_dir());
        let dir = std::env::temp_dir().join(format!("{CERTIFICATES}{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        for args in [
            "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=fake-broker-test-CA -keyout ca.key -out ca.pem",
            "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem",
        ] {
            let output = Command::new("openssl")
                .args(args.split(' '))
                .current_dir(&dir)
                .output()
                .expect("openssl, to make the fake broker's TLS certificates");
            assert!(output.status.success(), "openssl {args}: {output:?}");
        }
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        let identity =
            native_tls::Identity::from_pkcs8(&read("server.pem"), &read("server.key")).unwrap();
        Certificates {
            ca: dir.join("ca.pem"),
            acceptor: native_tls::TlsAcceptor::new(identity).unwrap(),
        }
    })
}

impl FakeBroker {
    /// Starts a fake broker that misbehaves as `misbehaviour` says, with every connection.
    pub fn start(misbehaviour: Misbehaviour) -> FakeBroker {
        Self::listen(misbehaviour, false)
    }

    /// As [`start`](Self::start), behind TLS (`amqps://`) with a certificate for `localhost`
    /// and `127.0.0.1` signed by the test's own CA ([`ca_file`](Self::ca_file)).
    pub fn start_tls(misbehaviour: Misbehaviour) -> FakeBroker {
        Self::listen(misbehaviour, true)
    }

    /// The PEM file of the CA that signed the TLS fake broker's certificate, to trust with
    /// `RABBITMQ_CACERTFILE`.
    pub fn ca_file() -> PathBuf {
        certificates().ca.clone()
    }

    fn listen(misbehaviour: Misbehaviour, tls: bool) -> FakeBroker {
        let acceptor = tls.then(|| certificates().acceptor.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counters = Counters {
            stop: Arc::new(AtomicBool::new(false)),
            requests: Arc::new(AtomicUsize::new(0)),
            published: Arc::new(AtomicUsize::new(0)),
        };
        let broker = FakeBroker {
            port,
            stop: Arc::clone(&counters.stop),
            requests: Arc::clone(&counters.requests),
            published: Arc::clone(&counters.published),
        };
        let stopped = Arc::clone(&counters.stop);
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let mut connections = 0;
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => {
                        connections += 1;
                        let misbehaviour = match misbehaviour {
                            Misbehaviour::Fuzz { seed } => Misbehaviour::Fuzz {
                                seed: seed.wrapping_mul(1_000_003).wrapping_add(connections),
                            },
                            other => other,
                        };
                        let counters = counters.clone();
                        let acceptor = acceptor.clone();
                        std::thread::spawn(move || {
                            let _ = socket.set_nonblocking(false);
                            // As RabbitMQ does (tcp_listen_options nodelay): no Nagle stall
                            // between the many small acks of a batch.
                            let _ = socket.set_nodelay(true);
                            let stream = match acceptor {
                                None => Stream::Plain(socket),
                                Some(acceptor) => match acceptor.accept(socket) {
                                    Ok(tls) => Stream::Tls(Box::new(tls)),
                                    Err(_) => return,
                                },
                            };
                            let _ = Peer::new(stream, misbehaviour, counters).serve();
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        broker
    }

    /// How many messages it has received (published to it), on all its connections.
    pub fn published(&self) -> usize {
        self.published.load(Ordering::SeqCst)
    }

    /// How many requests (declare, bind, qos...) after a channel open it has received, on all
    /// its connections: a program has connected and asked for something.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const FRAME_END: u8 = 0xCE;

/// A connection's stream: the socket, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Stream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> Io<()> {
        match self {
            Stream::Plain(socket) => socket.set_read_timeout(timeout),
            Stream::Tls(tls) => tls.get_ref().set_read_timeout(timeout),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> Io<usize> {
        match self {
            Stream::Plain(socket) => socket.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> Io<usize> {
        match self {
            Stream::Plain(socket) => socket.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> Io<()> {
        match self {
            Stream::Plain(socket) => socket.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// One connection of the fake broker.
struct Peer {
    socket: Stream,
    misbehaviour: Misbehaviour,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    published_to_broker: Arc<AtomicUsize>,
    /// Publishes seen since Confirm.Select (the next delivery tag to ack), if confirms are on.
    confirms: Option<u64>,
    channel_open: bool,
    consumers: u32,
    /// Messages published on this connection: what a passive Queue.Declare says the queue holds.
    published: u32,
}

type Io<T> = std::io::Result<T>;

impl Peer {
    fn new(socket: Stream, misbehaviour: Misbehaviour, counters: Counters) -> Peer {
        Peer {
            socket,
            misbehaviour,
            stop: counters.stop,
            requests: counters.requests,
            published_to_broker: counters.published,
            confirms: None,
            channel_open: false,
            consumers: 0,
            published: 0,
        }
    }

    fn serve(&mut self) -> Io<()> {
        let mut header = [0u8; 8];
        self.socket.read_exact(&mut header)?;
        match self.misbehaviour {
            Misbehaviour::Http => {
                return self.socket.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
            }
            Misbehaviour::Amqp10 => return self.socket.write_all(b"AMQP\x00\x01\x00\x00"),
            Misbehaviour::HeartbeatsInsteadOfStart => return self.heartbeats_forever(),
            _ => {}
        }
        let properties = if self.misbehaviour == Misbehaviour::DeepTableInStart {
            nested_table(1000)
        } else {
            table(&[("product", b'S', &longstr(b"fake broker"))])
        };
        let mut start = vec![0, 9];
        start.extend_from_slice(&properties);
        start.extend_from_slice(&longstr(b"PLAIN AMQPLAIN"));
        start.extend_from_slice(&longstr(b"en_US"));
        self.method(0, 10, 10, &start)?;
        loop {
            let (kind, channel, payload) = self.read_frame()?;
            if kind != 1 {
                continue; // heartbeats, and content (handled with its Basic.Publish)
            }
            let (class, method) = (
                u16::from_be_bytes([payload[0], payload[1]]),
                u16::from_be_bytes([payload[2], payload[3]]),
            );
            self.answer(channel, class, method, &payload[4..])?;
        }
    }

    /// Answers one method of the client.
    fn answer(&mut self, channel: u16, class: u16, method: u16, args: &[u8]) -> Io<()> {
        use Misbehaviour as M;
        match (class, method) {
            // Start-Ok: our login.
            (10, 11) => match self.misbehaviour {
                M::SilentAfterLogin => self.silence(),
                M::GarbageAfterLogin => {
                    self.socket.write_all(b"\x07garbage\xff\xff\xff\xff")?;
                    self.silence()
                }
                M::RefusesLogin => {
                    let mut close = 403u16.to_be_bytes().to_vec();
                    close.extend_from_slice(&shortstr(
                        b"ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
                    ));
                    close.extend_from_slice(&[0, 0, 0, 0]);
                    self.method(0, 10, 50, &close)?;
                    Err(std::io::ErrorKind::ConnectionAborted.into())
                }
                _ => {
                    let heartbeat: u16 = if self.misbehaviour == M::TuneHeartbeat0ThenSilence {
                        0
                    } else {
                        60
                    };
                    let mut tune = 2047u16.to_be_bytes().to_vec();
                    tune.extend_from_slice(&131_072u32.to_be_bytes());
                    tune.extend_from_slice(&heartbeat.to_be_bytes());
                    self.method(0, 10, 30, &tune)
                }
            },
            (10, 31) => Ok(()), // Tune-Ok
            (10, 40) => match self.misbehaviour {
                M::TuneHeartbeat0ThenSilence => self.silence(),
                _ => self.method(0, 10, 41, &shortstr(b"")),
            },
            // As RabbitMQ does, leave closing the socket to the client.
            (10, 50) => {
                self.method(0, 10, 51, &[])?;
                self.silence()
            }
            (20, 10) => match self.misbehaviour {
                M::NoChannelOpenOk => self.heartbeats_forever(),
                _ => {
                    self.channel_open = true;
                    self.method(channel, 20, 11, &longstr(b""))
                }
            },
            (20, 40) => self.method(channel, 20, 41, &[]),
            (60, 40) => self.publish(channel),
            _ if self.channel_open && self.misbehave_at_request(channel)? => Ok(()),
            (40, 10) => self.unless_nowait(channel, args, 2, 0x10, (40, 11), &[]),
            (50, 10) => {
                let name = Args(args).shortstr_after(2, 0);
                let name = if name.is_empty() {
                    b"amq.gen-fake".to_vec()
                } else {
                    name
                };
                let passive = Args(args).bits_after(2, 1) & 0x01 != 0;
                let mut ok = shortstr(&name);
                ok.extend_from_slice(&(if passive { self.published } else { 0 }).to_be_bytes());
                ok.extend_from_slice(&[0; 4]);
                self.unless_nowait(channel, args, 1, 0x10, (50, 11), &ok)
            }
            (50, 20) => self.unless_nowait(channel, args, 3, 0x01, (50, 21), &[]),
            (60, 10) => self.method(channel, 60, 11, &[]),
            (60, 20) => {
                self.consumers += 1;
                let tag = format!("amq.ctag-fake-{}", self.consumers);
                self.method(channel, 60, 21, &shortstr(tag.as_bytes()))?;
                self.deliver(channel, &tag)
            }
            (60, 30) => {
                let tag = Args(args).shortstr_after(0, 0);
                self.method(channel, 60, 31, &shortstr(&tag))
            }
            (85, 10) => {
                self.confirms = Some(1);
                if args.first().is_some_and(|bits| bits & 1 != 0) {
                    Ok(())
                } else {
                    self.method(channel, 85, 11, &[])
                }
            }
            _ => Ok(()),
        }
    }

    /// The misbehaviours that act at the first request once the channel is open; true if one did.
    fn misbehave_at_request(&mut self, channel: u16) -> Io<bool> {
        use Misbehaviour as M;
        self.requests.fetch_add(1, Ordering::SeqCst);
        match self.misbehaviour {
            M::NoAnswers => self.heartbeats_forever().map(|_| true),
            M::CloseWithControlCharacters => {
                let mut close = 541u16.to_be_bytes().to_vec();
                close.extend_from_slice(&shortstr(
                    b"INTERNAL_ERROR - \x1b[2J\x1b[31mred\rover\x00written",
                ));
                close.extend_from_slice(&[0, 0, 0, 0]);
                self.method(0, 10, 50, &close)?;
                self.silence().map(|_| true)
            }
            M::HugeFrame => {
                self.socket.write_all(&[1, 0, 1, 0x48, 0x54, 0x54, 0x50])?;
                self.silence().map(|_| true)
            }
            M::BadFrameEnd => {
                self.socket
                    .write_all(&[1, 0, channel as u8, 0, 0, 0, 4, 0, 50, 0, 11, 0x00])?;
                self.silence().map(|_| true)
            }
            M::Fuzz { seed } => {
                self.fuzz(channel, seed)?;
                self.silence().map(|_| true)
            }
            _ => Ok(false),
        }
    }

    /// Delivers one message to a new consumer, misbehaving as chosen.
    fn deliver(&mut self, channel: u16, tag: &str) -> Io<()> {
        use Misbehaviour as M;
        let (size, headers) = match self.misbehaviour {
            M::BodyOf2Pow64 => (u64::MAX, None),
            M::BodyOf1TiB => (1 << 40, None),
            M::DeepHeaders => (5, Some(nested_table(1000))),
            _ => return Ok(()),
        };
        let mut deliver = shortstr(tag.as_bytes());
        deliver.extend_from_slice(&1u64.to_be_bytes());
        deliver.push(0);
        deliver.extend_from_slice(&shortstr(b""));
        deliver.extend_from_slice(&shortstr(b"q"));
        self.method(channel, 60, 60, &deliver)?;
        let mut header = vec![0, 60, 0, 0];
        header.extend_from_slice(&size.to_be_bytes());
        match headers {
            Some(table) => {
                header.extend_from_slice(&0x2000u16.to_be_bytes());
                header.extend_from_slice(&table);
            }
            None => header.extend_from_slice(&0u16.to_be_bytes()),
        }
        self.frame(2, channel, &header)?;
        self.frame(3, channel, b"hello")?;
        self.silence()
    }

    /// A publish: its content follows (a header, then body frames); ack it if confirms are on.
    fn publish(&mut self, channel: u16) -> Io<()> {
        let (_, _, header) = self.read_frame()?;
        let size = u64::from_be_bytes(header[4..12].try_into().unwrap_or([0; 8]));
        let mut read = 0;
        while read < size {
            let (_, _, body) = self.read_frame()?;
            read += body.len() as u64;
        }
        self.published += 1;
        self.published_to_broker.fetch_add(1, Ordering::SeqCst);
        if let Some(tag) = self.confirms.as_mut() {
            let mut ack = tag.to_be_bytes().to_vec();
            ack.push(0);
            *tag += 1;
            self.method(channel, 60, 80, &ack)?;
        }
        Ok(())
    }

    /// Answers a method with `ok` unless its `nowait` bit (after `shorts` short strings) is set.
    fn unless_nowait(
        &mut self,
        channel: u16,
        args: &[u8],
        shorts: usize,
        bit: u8,
        ok: (u16, u16),
        answer: &[u8],
    ) -> Io<()> {
        if Args(args).bits_after(2, shorts) & bit != 0 {
            return Ok(());
        }
        self.method(channel, ok.0, ok.1, answer)
    }

    /// Frames from a seeded generator: valid frames (heartbeats, deliveries to nobody, acks) with
    /// bytes flipped, sizes changed, frames cut short.
    fn fuzz(&mut self, channel: u16, seed: u64) -> Io<()> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..64 {
            let mut frame = match next() % 4 {
                0 => frame_bytes(8, 0, &[]),
                1 => frame_bytes(1, channel, &[0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
                2 => frame_bytes(
                    2,
                    channel,
                    &[
                        0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x20, 0, 0, 0, 0, 4, 1, b'a', b'F', 0,
                    ],
                ),
                _ => frame_bytes(1, 0, &[0, 10, 0, 60, 4, b'l', b'o', b'w', b'!']),
            };
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % frame.len();
                frame[at] = next() as u8;
            }
            if next() % 5 == 0 {
                frame.truncate((next() as usize) % frame.len());
            }
            self.socket.write_all(&frame)?;
        }
        Ok(())
    }

    fn heartbeats_forever(&mut self) -> Io<()> {
        while !self.stop.load(Ordering::Relaxed) {
            self.frame(8, 0, &[])?;
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    }

    /// Reads and ignores everything until the client goes. Silence means the fake never closes
    /// first: a read interrupted or timed out is read again, and any other failure is said on
    /// stderr (a test that then sees the connection closed knows why).
    fn silence(&mut self) -> Io<()> {
        let mut sink = [0u8; 4096];
        self.socket
            .set_read_timeout(Some(Duration::from_millis(500)))?;
        while !self.stop.load(Ordering::Relaxed) {
            match self.socket.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    eprintln!(
                        "fake broker: reading in silence failed: {e} ({:?})",
                        e.kind()
                    );
                    return Err(e);
                }
            }
        }
        Err(std::io::ErrorKind::ConnectionAborted.into())
    }

    fn read_frame(&mut self) -> Io<(u8, u16, Vec<u8>)> {
        let mut header = [0u8; 7];
        self.socket.read_exact(&mut header)?;
        let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
        let mut payload = vec![0u8; size + 1];
        self.socket.read_exact(&mut payload)?;
        payload.pop();
        Ok((
            header[0],
            u16::from_be_bytes([header[1], header[2]]),
            payload,
        ))
    }

    fn frame(&mut self, kind: u8, channel: u16, payload: &[u8]) -> Io<()> {
        self.socket.write_all(&frame_bytes(kind, channel, payload))
    }

    fn method(&mut self, channel: u16, class: u16, method: u16, args: &[u8]) -> Io<()> {
        let mut payload = class.to_be_bytes().to_vec();
        payload.extend_from_slice(&method.to_be_bytes());
        payload.extend_from_slice(args);
        self.frame(1, channel, &payload)
    }
}

/// Reads a method's arguments: short strings after a reserved u16, and the bits after them.
struct Args<'a>(&'a [u8]);

impl Args<'_> {
    /// The offset after `skip` bytes and `shorts` short strings.
    fn after(&self, skip: usize, shorts: usize) -> usize {
        let mut at = skip;
        for _ in 0..shorts {
            at += 1 + usize::from(self.0.get(at).copied().unwrap_or(0));
        }
        at
    }

    fn shortstr_after(&self, skip: usize, shorts: usize) -> Vec<u8> {
        let at = self.after(skip, shorts);
        let n = usize::from(self.0.get(at).copied().unwrap_or(0));
        self.0.get(at + 1..at + 1 + n).unwrap_or_default().to_vec()
    }

    fn bits_after(&self, skip: usize, shorts: usize) -> u8 {
        self.0.get(self.after(skip, shorts)).copied().unwrap_or(0)
    }
}

fn frame_bytes(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![kind];
    frame.extend_from_slice(&channel.to_be_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame.push(FRAME_END);
    frame
}

fn shortstr(text: &[u8]) -> Vec<u8> {
    let mut bytes = vec![text.len() as u8];
    bytes.extend_from_slice(text);
    bytes
}

fn longstr(text: &[u8]) -> Vec<u8> {
    let mut bytes = (text.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(text);
    bytes
}

/// A field table of (key, type, encoded value).
fn table(entries: &[(&str, u8, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, kind, value) in entries {
        body.extend_from_slice(&shortstr(key.as_bytes()));
        body.push(*kind);
        body.extend_from_slice(value);
    }
    longstr(&body)
}

/// A field table holding itself `depth` times.
fn nested_table(depth: usize) -> Vec<u8> {
    let mut nested = table(&[]);
    for _ in 0..depth {
        nested = table(&[("a", b'F', &nested)]);
    }
    nested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificates_of_ended_test_processes_are_removed_and_live_ones_kept() {
        let temp = std::env::temp_dir().join(format!("course-sweep-test-{}", std::process::id()));
        // pid_max is at most 2^22: no process has the first pid.
        let ended = temp.join(format!("{CERTIFICATES}4194305"));
        let live = temp.join(format!("{CERTIFICATES}{}", std::process::id()));
        let other = temp.join("someone-elses");
        for dir in [&ended, &live, &other] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("ca.key"), "key").unwrap();
        }
        remove_ended_processes_certificates(&temp);
        assert!(!ended.exists());
        assert!(live.join("ca.key").exists());
        assert!(other.join("ca.key").exists());
        std::fs::remove_dir_all(&temp).unwrap();
    }
}
