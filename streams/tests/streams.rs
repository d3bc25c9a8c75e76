//! Chapter 8 against the real test broker (run with scripts/test): the real programs, the
//! offset kept on the broker across runs and a SIGKILL, bad input, and the official stream
//! programs' behaviour (through rstream, the stream protocol) beside ours. A vhost per test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use amiquip::{AmqpValue, Confirm, FieldTable, Publish, QueueDeclareOptions};
use harness::{eventually, text, Running, Vhost};
use std::process::Command;

const SEND: &str = env!("CARGO_BIN_EXE_send_stream");
const RECEIVE: &str = env!("CARGO_BIN_EXE_receive_stream");
const TRACKING_SEND: &str = env!("CARGO_BIN_EXE_offset_tracking_send");
const TRACKING_RECEIVE: &str = env!("CARGO_BIN_EXE_offset_tracking_receive");
/// What receive_stream prints for send_stream's message at `offset`.
fn hello(offset: u32) -> String {
    format!("Got message: Hello, World! from stream hello-stream with offset: {offset}")
}
const STORE: &str = "stream-offset-tracking.subscriber_1";

/// Runs a program to its end: (exit code, stdout lines, stderr).
fn run(vhost: &Vhost, program: &str, args: &[&str]) -> (Option<i32>, Vec<String>, String) {
    let output = vhost.run(program, args);
    let (stdout, stderr) = text(&output);
    (
        output.status.code(),
        stdout.lines().map(String::from).collect(),
        stderr,
    )
}

fn receiver(vhost: &Vhost, args: &[&str]) -> Running {
    vhost.consumer(RECEIVE, args)
}

/// The official stream programs' behaviour (common/testing/src/streams.py, with rstream) in this
/// vhost, through the stream protocol on the test node's stream port.
fn official(vhost: &Vhost, args: &[&str]) -> Command {
    let script = harness::workspace_root().join("common/testing/src/streams.py");
    let python = std::env::var_os("COURSE_PYTHON").unwrap_or_else(|| "python3".into());
    let port = std::env::var("COURSE_TEST_STREAM_PORT")
        .expect("COURSE_TEST_STREAM_PORT is not set: run the tests with scripts/test");
    let mut command = Command::new(python);
    command
        .arg(script)
        .args(args)
        .envs(vhost.env())
        .env("STREAM_PORT", port);
    command
}

/// Runs an official program to its end, asserting it succeeded: its stdout lines.
fn official_run(vhost: &Vhost, args: &[&str]) -> Vec<String> {
    let output = official(vhost, args).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "streams.py {args:?}: {stdout}{stderr}"
    );
    stdout.lines().map(String::from).collect()
}

/// Appends `bodies` to `stream` (declared as the programs declare it), confirmed.
fn append(vhost: &Vhost, stream: &str, retention: i64, bodies: impl Iterator<Item = String>) {
    let session = common::connect_to(&vhost.address()).unwrap();
    let channel = session.channel();
    streams::declare_stream(channel, stream, retention).unwrap();
    let confirms = channel.listen_for_publisher_confirms().unwrap();
    channel.enable_publisher_confirms().unwrap();
    let mut published = 0;
    for body in bodies {
        channel
            .basic_publish("", Publish::new(body.as_bytes(), stream))
            .unwrap();
        published += 1;
    }
    let mut confirmed = 0;
    while confirmed < published {
        match confirms.recv_timeout(harness::PATIENCE).expect("a confirm") {
            Confirm::Ack(payload) => confirmed = confirmed.max(payload.delivery_tag),
            Confirm::Nack(_) => panic!("the broker refused a message"),
        }
    }
    session.close().unwrap();
}

/// The offset in the store of offset_tracking_receive, read as it reads it (get, then requeue).
fn stored_offset(vhost: &Vhost) -> Option<i64> {
    let session = common::connect_to(&vhost.address()).unwrap();
    let channel = session.channel();
    let got = channel.basic_get(STORE, false).unwrap()?;
    let offset = String::from_utf8_lossy(&got.delivery.body).parse().unwrap();
    got.reject(channel, true).unwrap();
    session.close().unwrap();
    Some(offset)
}

/// The `Done consuming ...` line of offset_tracking_receive, run to its end.
fn tracking_run(vhost: &Vhost) -> Vec<String> {
    let (code, lines, stderr) = run(vhost, TRACKING_RECEIVE, &[]);
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    lines
}

fn done(first: i64, last: i64) -> Vec<String> {
    vec![
        "Started consuming: Press control +C to close".to_string(),
        "First message received".to_string(),
        format!("Done consuming first_offset: {first} last_offset: {last}"),
    ]
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn every_receiver_reads_every_message_and_a_restart_reads_them_again() {
    let vhost = Vhost::new("streams-reread");
    for _ in 0..2 {
        let (code, lines, stderr) = run(&vhost, SEND, &[]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(lines, [" [x] Hello, World! message sent"]);
    }
    let (one, two) = (receiver(&vhost, &[]), receiver(&vhost, &[]));
    for reader in [&one, &two] {
        reader.wait_for_lines(2, |l| l.starts_with("Got message: "));
    }
    // Nothing was removed: a third reader, after both, reads both messages again.
    let expected = [
        "Press control + C to close".to_string(),
        hello(0),
        hello(1),
        "Interrupted".to_string(),
    ];
    assert_eq!(one.interrupt(), expected);
    assert_eq!(two.interrupt(), expected);
    let again = receiver(&vhost, &[]);
    again.wait_for_lines(2, |l| l.starts_with("Got message: "));
    assert_eq!(again.interrupt(), expected);
    // Still two messages in the stream, and it is a durable stream.
    let queue = vhost
        .api(&format!("/api/queues/{}/hello-stream", vhost.encoded()))
        .unwrap();
    assert_eq!(queue["type"], "stream", "{queue}");
    assert_eq!(queue["durable"], true, "{queue}");
    assert_eq!(
        queue["arguments"]["x-max-length-bytes"], 5_000_000_000i64,
        "{queue}"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_receiver_starts_where_its_offset_argument_says() {
    let vhost = Vhost::new("streams-offsets");
    let bodies = |range: std::ops::Range<u32>| range.map(|i| format!("m{i}"));
    append(&vhost, "hello-stream", 5_000_000_000, bodies(0..5));
    let got = |i: u32| format!("Got message: m{i} from stream hello-stream with offset: {i}");
    let read = |args: &[&str], count: usize| {
        let reader = receiver(&vhost, args);
        reader.wait_for_lines(count, |l| l.starts_with("Got message: "));
        reader
    };
    // An offset: from the 3rd message on.
    let from_two = read(&["2"], 3);
    assert_eq!(from_two.interrupt()[1..4], [got(2), got(3), got(4)]);
    // A time long past, an interval: everything kept.
    for args in [["2020-01-01T00:00:00Z"], ["30m"], ["first"]] {
        let all = read(&args, 5);
        let lines = all.interrupt();
        assert_eq!(
            lines[1..6],
            (0..5).map(got).collect::<Vec<_>>()[..],
            "{args:?}"
        );
    }
    // next: only what comes after the consumer started.
    let next = receiver(&vhost, &["next"]);
    append(&vhost, "hello-stream", 5_000_000_000, bodies(5..6));
    next.wait_for_lines(1, |l| l.starts_with("Got message: "));
    assert_eq!(
        next.interrupt(),
        ["Press control + C to close", &got(5), "Interrupted"]
    );
    // last: the last chunk written, which holds the last message at least.
    let last = read(&["last"], 1);
    let lines = last.interrupt();
    assert!(lines.contains(&got(5)), "{lines:?}");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn offset_tracking_run_twice_after_two_sends_reads_0_to_99_then_100_to_199() {
    let vhost = Vhost::new("streams-tracking");
    for _ in 0..2 {
        let (code, lines, stderr) = run(&vhost, TRACKING_SEND, &[]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(
            lines,
            ["Publishing 100 messages", "Messages confirmed: true"]
        );
    }
    assert_eq!(tracking_run(&vhost), done(0, 99));
    assert_eq!(stored_offset(&vhost), Some(99));
    assert_eq!(tracking_run(&vhost), done(100, 199));
    assert_eq!(stored_offset(&vhost), Some(199));
    // The store is a durable queue on the broker holding one message: the last offset.
    let store = vhost
        .api(&format!("/api/queues/{}/{STORE}", vhost.encoded()))
        .unwrap();
    assert_eq!(store["durable"], true, "{store}");
    assert_eq!(store["arguments"]["x-max-length"], 1, "{store}");
    eventually("the store to hold one message", || {
        (vhost.queue_counts(STORE) == Some((1, 0))).then_some(())
    });
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn offset_tracking_killed_mid_read_rereads_at_most_since_the_last_stored_offset_and_skips_none() {
    let vhost = Vhost::new("streams-kill");
    const STREAM: &str = "stream-offset-tracking";
    append(
        &vhost,
        STREAM,
        2_000_000_000,
        (0..50_000).map(|i| format!("hello: {i}")),
    );
    let reader = vhost.spawn(TRACKING_RECEIVE, &[]);
    reader.wait_for("First message received");
    // Mid-read: once the store has taken some offsets (the management API's count of its
    // publishes), and while more messages are still coming.
    let publishes = || {
        vhost
            .api(&format!("/api/queues/{}/{STORE}", vhost.encoded()))
            .and_then(|q| q["message_stats"]["publish"].as_u64())
            .unwrap_or(0)
    };
    std::thread::scope(|scope| {
        let feeder = scope.spawn(|| {
            for batch in 0..20 {
                let start = 50_000 + batch * 1_000;
                append(
                    &vhost,
                    STREAM,
                    2_000_000_000,
                    (start..start + 1_000).map(|i| format!("hello: {i}")),
                );
            }
        });
        eventually("the receiver to store offsets", || {
            (publishes() >= 3).then_some(())
        });
        reader.signal("KILL");
        feeder.join().unwrap();
    });
    let (status, lines) = reader.wait();
    assert!(!status.success(), "killed mid-read, not done: {lines:?}");
    let stored = stored_offset(&vhost).expect("an offset stored before the kill");
    // The marker, after everything.
    append(
        &vhost,
        STREAM,
        2_000_000_000,
        std::iter::once("marker: 70000".to_string()),
    );
    // The restart starts right after the stored offset: it re-reads only what came after it
    // (what the killed run had read since its last store), and skips nothing.
    assert_eq!(tracking_run(&vhost), done(stored + 1, 70_000));
    assert!((9..70_000).contains(&stored), "{stored}");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn ctrl_c_stores_the_offset_reached_so_the_next_run_rereads_nothing() {
    let vhost = Vhost::new("streams-ctrl-c");
    append(
        &vhost,
        "stream-offset-tracking",
        2_000_000_000,
        (0..25).map(|i| format!("hello: {i}")),
    );
    let reader = vhost.spawn(TRACKING_RECEIVE, &[]);
    reader.wait_for("First message received");
    eventually("all 25 read and 20 stored", || {
        (stored_offset(&vhost) == Some(19)).then_some(())
    });
    let lines = reader.interrupt();
    assert_eq!(lines.last().map(String::as_str), Some("Interrupted"));
    assert_eq!(stored_offset(&vhost), Some(24));
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_name_taken_by_a_classic_or_quorum_queue_is_refused_in_one_line() {
    let vhost = Vhost::new("streams-taken");
    let session = common::connect_to(&vhost.address()).unwrap();
    let mut quorum = FieldTable::new();
    quorum.insert(
        "x-queue-type".into(),
        AmqpValue::LongString("quorum".into()),
    );
    session
        .channel()
        .queue_declare(
            "hello-stream",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
        )
        .unwrap();
    session
        .channel()
        .queue_declare(
            "stream-offset-tracking",
            QueueDeclareOptions {
                durable: true,
                arguments: quorum,
                ..Default::default()
            },
        )
        .unwrap();
    session.close().unwrap();
    for program in [SEND, RECEIVE, TRACKING_SEND, TRACKING_RECEIVE] {
        let (code, lines, stderr) = run(&vhost, program, &[]);
        assert_eq!(code, Some(1), "{program}: {lines:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: the broker refused: PRECONDITION_FAILED")
                && (stderr.contains("the queue 'hello-stream' already exists")
                    || stderr.contains("the queue 'stream-offset-tracking' already exists")),
            "{stderr}"
        );
        assert!(stderr.contains("scripts/broker delete_queue"), "{stderr}");
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn an_offset_that_is_not_one_is_refused_before_connecting() {
    for bad in ["forty", "-1", "1.5", "30x", "2026-13-01T00:00:00Z"] {
        let output = Command::new(RECEIVE)
            .arg("--")
            .arg(bad)
            .env_remove("AMQP_URL")
            .env("RABBITMQ_PORT", "1")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stdout, "");
        assert_eq!(
            stderr,
            format!(
                "Usage: receive_stream [first|last|next|OFFSET|TIME|INTERVAL]\nerror: '{bad}' is not an offset: \
                 say first, last, next, a number (42), a time (2026-11-29T20:00:00Z) or an interval (30m, 2h, 7D)\n"
            )
        );
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_stream_deleted_under_a_reader_ends_it_with_one_line() {
    let vhost = Vhost::new("streams-deleted");
    run(&vhost, SEND, &[]);
    let reader = receiver(&vhost, &[]);
    reader.wait_for(&hello(0));
    let (status, _) = vhost.http(
        "DELETE",
        &format!("/api/queues/{}/hello-stream", vhost.encoded()),
        "",
    );
    assert_eq!(status, 204);
    let (status, lines) = reader.wait();
    assert_eq!(status.code(), Some(1), "{lines:?}");
    assert_eq!(
        lines.last().unwrap(),
        "error: the broker cancelled the consumer: its queue was deleted (hint: declare it again \
         (the programs that use it declare it), then rerun this one)"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_official_offset_tracking_sender_feeds_our_receiver() {
    let vhost = Vhost::new("streams-official-tracking");
    for _ in 0..2 {
        assert_eq!(
            official_run(&vhost, &["offset_tracking_send", "stream-offset-tracking"]),
            ["Publishing 100 messages", "Messages confirmed: true"]
        );
    }
    assert_eq!(tracking_run(&vhost), done(0, 99));
    assert_eq!(tracking_run(&vhost), done(100, 199));
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn our_offset_tracking_sender_feeds_the_official_receiver() {
    let vhost = Vhost::new("streams-our-tracking");
    run(&vhost, TRACKING_SEND, &[]);
    let lines = official_run(
        &vhost,
        &["offset_tracking_receive", "stream-offset-tracking"],
    );
    assert_eq!(lines[0], "Started consuming: Press control +C to close");
    assert!(
        lines[1].starts_with("Offset not previously stored."),
        "{lines:?}"
    );
    assert_eq!(
        lines[2..],
        [
            "First message received",
            "Done consuming first_offset: 0 last_offset 99 "
        ]
    );
    // Each keeps its own offset: theirs in the stream, ours in our store.
    assert_eq!(tracking_run(&vhost), done(0, 99));
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn our_messages_reach_the_official_receiver_as_amqp_1_0_messages() {
    let vhost = Vhost::new("streams-official-receive");
    run(&vhost, SEND, &[]);
    // receive.py has no decoder: it prints the AMQP 1.0 encoding the broker made of our
    // AMQP 0-9-1 message (its exchange and routing key as annotations, then the body).
    let raw = official_run(&vhost, &["receive", "hello-stream", "1"]);
    assert_eq!(raw[0], "Press control +C to close");
    // (RabbitMQ 4.x puts a header section first, `\x00Sp...`; 3.10 starts with the annotations,
    // `\x00Sr...`.)
    assert!(raw[1].starts_with("Got message: b'\\x00S"), "{raw:?}");
    assert!(
        raw[1].contains("x-routing-key")
            && raw[1].ends_with("Hello, World!' from stream hello-stream"),
        "{raw:?}"
    );
    // With rstream's amqp_decoder, the body alone.
    let decoded = official_run(&vhost, &["receive_decoded", "hello-stream", "1"]);
    assert_eq!(
        decoded[1],
        "Got message: b'Hello, World!' from stream hello-stream"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn an_official_amqp_1_0_message_reaches_our_receiver_with_its_body() {
    let vhost = Vhost::new("streams-official-amqp");
    assert_eq!(
        official_run(&vhost, &["send_amqp", "hello-stream"]),
        [" [x] Hello, World! message sent"]
    );
    let reader = receiver(&vhost, &[]);
    reader.wait_for(&hello(0));
    assert_eq!(
        reader.interrupt(),
        ["Press control + C to close", &hello(0), "Interrupted"]
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn raw_bytes_from_the_official_send_py_end_our_reader_with_one_line() {
    let vhost = Vhost::new("streams-official-raw");
    assert_eq!(
        official_run(&vhost, &["send", "hello-stream"]),
        [" [x] Hello, World! message sent"]
    );
    // The same on RabbitMQ 3.10.8 and 4.3.6: the broker closes the connection (541
    // INTERNAL_ERROR) before any delivery, since it reads the stream by chunks.
    let reader = vhost.spawn(RECEIVE, &[]);
    let (status, lines) = reader.wait();
    assert_eq!(status.code(), Some(1), "{lines:?}");
    assert_eq!(
        lines,
        [
            "Press control + C to close",
            "error: the broker could not give us the next message of 'hello-stream' (before the first message) \
             and closed the connection (the broker closed the connection: INTERNAL_ERROR): most likely a \
             stream-protocol client wrote it as raw bytes, not as an AMQP 1.0 message, and AMQP 0-9-1 cannot \
             read such a message (hint: have the producer send AMQP 1.0 messages (rstream: \
             AMQPMessage(body=...)); to read what comes from now on: receive_stream next)"
        ]
    );
    // From now on (next), our reader works again.
    let next = receiver(&vhost, &["next"]);
    run(&vhost, SEND, &[]);
    // The raw message is offset 0; ours, 1.
    next.wait_for(&hello(1));
    next.interrupt();
}
