//! The guard on real sockets, against scripted peers on 127.0.0.1: what amiquip alone would
//! believe or wait for without limit ends here in one line, within its bound.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use guard::BrokerAddress;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A frame: type, channel, payload, frame end.
fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![kind];
    frame.extend_from_slice(&channel.to_be_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame.push(0xCE);
    frame
}

/// A method frame: class, method, then its arguments.
fn method(channel: u16, class: u16, id: u16, arguments: &[u8]) -> Vec<u8> {
    let mut payload = class.to_be_bytes().to_vec();
    payload.extend_from_slice(&id.to_be_bytes());
    payload.extend_from_slice(arguments);
    frame(1, channel, &payload)
}

/// Reads one frame from the client: (class, method) for a method frame, (0, 0) for any other.
fn read_frame(peer: &mut TcpStream) -> (u16, u16) {
    let mut header = [0u8; 7];
    peer.read_exact(&mut header).unwrap();
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
    let mut rest = vec![0u8; size + 1];
    peer.read_exact(&mut rest).unwrap();
    match header[0] {
        1 => (
            u16::from_be_bytes([rest[0], rest[1]]),
            u16::from_be_bytes([rest[2], rest[3]]),
        ),
        _ => (0, 0),
    }
}

/// Connection.Start: version 0-9, no server properties, PLAIN, en_US.
fn start() -> Vec<u8> {
    let mut arguments = vec![0, 9];
    arguments.extend_from_slice(&0u32.to_be_bytes());
    for text in ["PLAIN", "en_US"] {
        arguments.extend_from_slice(&(text.len() as u32).to_be_bytes());
        arguments.extend_from_slice(text.as_bytes());
    }
    method(0, 10, 10, &arguments)
}

/// A peer on a port of its own that reads our protocol header and then follows `script`.
fn peer(script: impl FnOnce(TcpStream) + Send + 'static) -> BrokerAddress {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        let mut header = [0u8; 8];
        peer.read_exact(&mut header).unwrap();
        assert_eq!(&header, b"AMQP\x00\x00\x09\x01");
        script(peer);
    });
    let url = format!(
        "amqp://guest:s3cret-pass@127.0.0.1:{port}/%2f?connection_timeout=1000&request_timeout=500"
    );
    BrokerAddress::parse_url(&url).unwrap()
}

/// A peer that goes through the whole handshake, to the channel's open, then `then`.
fn broker(then: impl FnOnce(TcpStream) + Send + 'static) -> BrokerAddress {
    peer(|mut peer| {
        peer.write_all(&start()).unwrap();
        assert_eq!(read_frame(&mut peer), (10, 11), "Start-Ok");
        let mut tune = 0u16.to_be_bytes().to_vec();
        tune.extend_from_slice(&131_072u32.to_be_bytes());
        tune.extend_from_slice(&10u16.to_be_bytes());
        peer.write_all(&method(0, 10, 30, &tune)).unwrap();
        assert_eq!(read_frame(&mut peer), (10, 31), "Tune-Ok");
        assert_eq!(read_frame(&mut peer), (10, 40), "Connection.Open");
        peer.write_all(&method(0, 10, 41, &[0])).unwrap();
        assert_eq!(read_frame(&mut peer), (20, 10), "Channel.Open");
        peer.write_all(&method(1, 20, 11, &0u32.to_be_bytes()))
            .unwrap();
        then(peer);
    })
}

/// Keeps the socket open, reading and answering nothing, until the client goes.
fn silence(mut peer: TcpStream) {
    let mut sink = [0u8; 1024];
    while matches!(peer.read(&mut sink), Ok(n) if n > 0) {}
}

#[test]
fn an_http_answer_is_refused_as_a_web_server_before_amiquip_reads_it_as_a_frame() {
    let address = peer(|mut peer| {
        peer.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        silence(peer);
    });
    let started = Instant::now();
    let failure = guard::open(&address, "test").err().expect("no connection");
    let line = failure.to_string();
    assert!(
        line.contains("web server") && line.contains("15672"),
        "{line}"
    );
    assert!(!line.contains("s3cret"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_login_the_broker_closes_is_a_wrong_password_and_silence_is_not() {
    let refused = peer(|mut peer| {
        peer.write_all(&start()).unwrap();
        read_frame(&mut peer);
        // RabbitMQ refuses amiquip's login by closing the socket without a word.
    });
    let line = guard::open(&refused, "test")
        .err()
        .expect("refused")
        .to_string();
    assert!(
        line.contains("refused the login of user 'guest' (wrong user or password)"),
        "{line}"
    );

    let silent = peer(|mut peer| {
        peer.write_all(&start()).unwrap();
        silence(peer);
    });
    let started = Instant::now();
    let line = guard::open(&silent, "test")
        .err()
        .expect("silent")
        .to_string();
    assert!(!line.contains("password"), "{line}");
    assert!(line.contains("within 1000 ms"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_request_without_an_answer_is_ended_by_the_watchdog_naming_it() {
    let address = broker(silence);
    let (mut connection, watchdog) = guard::open(&address, "test").unwrap();
    let channel = connection.open_channel(None).unwrap();
    guard::lock(watchdog.shared()).handshake_done = true;
    let started = Instant::now();
    let declared = channel.queue_declare("q", Default::default());
    assert!(declared.is_err(), "an answer came from nowhere");
    let tripped = guard::lock(watchdog.shared()).tripped.clone();
    assert_eq!(
        tripped.as_deref(),
        Some("the broker did not answer our Queue.Declare within 0.5 s")
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn a_request_on_a_connection_the_broker_blocked_is_ended_at_once() {
    let address = broker(|mut peer| {
        assert_eq!(read_frame(&mut peer), (50, 10), "Queue.Declare");
        // Connection.Blocked, as a broker in a memory alarm sends it; then it reads nothing.
        let mut reason = vec![13];
        reason.extend_from_slice(b"low on memory");
        peer.write_all(&method(0, 10, 60, &reason)).unwrap();
        silence(peer);
    });
    let (mut connection, watchdog) = guard::open(&address, "test").unwrap();
    let channel = connection.open_channel(None).unwrap();
    guard::lock(watchdog.shared()).handshake_done = true;
    let started = Instant::now();
    assert!(channel.queue_declare("q", Default::default()).is_err());
    let tripped = guard::lock(watchdog.shared())
        .tripped
        .clone()
        .unwrap_or_default();
    assert!(
        tripped.starts_with("the broker blocked this connection (low on memory)"),
        "{tripped}"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(400),
        "not the request timeout: {took:?}"
    );
}

#[test]
fn a_close_the_broker_never_answers_ends_within_its_bound() {
    let address = broker(silence);
    let (mut connection, watchdog) = guard::open(&address, "test").unwrap();
    let channel = connection.open_channel(None).unwrap();
    guard::lock(watchdog.shared()).handshake_done = true;
    let started = Instant::now();
    let closed = guard::close_within(
        channel,
        connection,
        Duration::from_millis(300),
        watchdog.shared(),
    );
    assert!(closed.is_none(), "no answer, yet it closed");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn a_frame_over_frame_max_after_the_login_is_refused_from_its_header() {
    let address = broker(|mut peer| {
        assert_eq!(read_frame(&mut peer), (50, 10), "Queue.Declare");
        // A frame header announcing 1.2 GB, as an HTTP answer's bytes would read.
        peer.write_all(&[1, 0, 1, 0x48, 0x54, 0x54, 0x50]).unwrap();
        silence(peer);
    });
    let (mut connection, watchdog) = guard::open(&address, "test").unwrap();
    let channel = connection.open_channel(None).unwrap();
    let declared = channel.queue_declare("q", Default::default());
    assert!(declared.is_err());
    let tripped = guard::lock(watchdog.shared())
        .tripped
        .clone()
        .unwrap_or_default();
    assert!(
        tripped.contains("over the frame_max of 131072 bytes"),
        "{tripped}"
    );
}

#[test]
fn an_open_session_s_verdict_explains_an_error_met_without_it_until_it_is_unregistered() {
    let address = broker(|mut peer| {
        read_frame(&mut peer);
        peer.write_all(&[1, 0, 1, 0x48, 0x54, 0x54, 0x50]).unwrap();
        silence(peer);
    });
    let (mut connection, watchdog) = guard::open(&address, "test").unwrap();
    let channel = connection.open_channel(None).unwrap();
    guard::registry::register(watchdog.shared());
    let _ = channel.queue_declare("q", Default::default());
    let verdict = guard::registry::tripped_session().unwrap_or_default();
    assert!(verdict.contains("frame_max"), "{verdict}");
    guard::registry::unregister(watchdog.shared());
    assert_eq!(guard::registry::tripped_session(), None);
}
