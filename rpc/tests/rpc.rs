//! Chapter 6 against the real test broker (run with scripts/test): the real `rpc_server` and
//! `rpc_client` binaries, and the official Python programs' behaviour, each test in a vhost of
//! its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use amiquip::{
    AmqpProperties, AmqpValue, ConsumerOptions, FieldTable, Publish, QueueDeclareOptions,
};
use harness::{eventually, text, Running, Vhost, PATIENCE};
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_rpc_server");
const CLIENT: &str = env!("CARGO_BIN_EXE_rpc_client");
const AWAITING: &str = " [x] Awaiting RPC requests";

fn server(vhost: &Vhost) -> Running {
    vhost.consumer(SERVER, &[])
}

/// Runs the client to its end: (exit code, stdout lines, stderr).
fn client(
    vhost: &Vhost,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Vec<String>, String) {
    let mut command = vhost.command(CLIENT, args);
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    let (stdout, stderr) = text(&output);
    (
        output.status.code(),
        stdout.lines().map(String::from).collect(),
        stderr,
    )
}

/// A command for `program` aimed at a port where no broker listens.
fn nowhere(program: &str, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .env_remove("AMQP_URL")
        .env("RABBITMQ_PORT", "1");
    command
}

fn quorum_arguments() -> FieldTable {
    let mut arguments = FieldTable::new();
    arguments.insert(
        "x-queue-type".into(),
        AmqpValue::LongString("quorum".into()),
    );
    arguments
}

/// Declares `rpc_queue` as the official programs do, and consumes it in the test's stead of a
/// server: the requests, as they come (auto-ack).
fn play_the_server(channel: &amiquip::Channel) -> amiquip::Consumer<'_> {
    channel
        .queue_declare(
            "rpc_queue",
            QueueDeclareOptions {
                durable: true,
                arguments: quorum_arguments(),
                ..Default::default()
            },
        )
        .unwrap()
        .consume(ConsumerOptions {
            no_ack: true,
            ..Default::default()
        })
        .unwrap()
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_client_gets_fib_of_its_number_from_the_server() {
    let vhost = Vhost::new("rpc-call");
    let server = server(&vhost);
    for (args, n, answer) in [
        (&[][..], "30", "832040"),
        (&["0"][..], "0", "0"),
        (&["1"][..], "1", "1"),
        (&["90"][..], "90", "2880067194370816120"),
        (
            &["186"][..],
            "186",
            "332825110087067562321196029789634457848",
        ),
    ] {
        let (code, lines, stderr) = client(&vhost, args, &[]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(
            lines,
            [
                format!(" [x] Requesting fib({n})"),
                format!(" [.] Got {answer}")
            ]
        );
    }
    assert_eq!(
        server.interrupt(),
        [
            AWAITING,
            " [.] fib(30)",
            " [.] fib(0)",
            " [.] fib(1)",
            " [.] fib(90)",
            " [.] fib(186)",
            "Interrupted"
        ]
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn rpc_queue_is_a_durable_quorum_queue_as_in_the_official_tutorial() {
    let vhost = Vhost::new("rpc-queue-type");
    let _server = server(&vhost);
    let queue = vhost
        .api(&format!("/api/queues/{}/rpc_queue", vhost.encoded()))
        .expect("rpc_queue exists");
    assert_eq!(queue["type"], "quorum", "{queue}");
    assert_eq!(queue["durable"], true, "{queue}");
    // Declared as the official programs declare it: theirs is accepted beside ours.
    let session = common::connect_to(&vhost.address()).unwrap();
    session
        .channel()
        .queue_declare(
            "rpc_queue",
            QueueDeclareOptions {
                durable: true,
                arguments: quorum_arguments(),
                ..Default::default()
            },
        )
        .unwrap();
    session.close().unwrap();
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn two_servers_share_the_requests_one_at_a_time() {
    let vhost = Vhost::new("rpc-two-servers");
    let (s1, s2) = (server(&vhost), server(&vhost));
    for n in ["10", "11", "12", "13", "14", "15"] {
        let (code, lines, stderr) = client(&vhost, &[n], &[]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(lines[0], format!(" [x] Requesting fib({n})"));
    }
    let (l1, l2) = (s1.interrupt(), s2.interrupt());
    let served = |lines: &[String]| lines.iter().filter(|l| l.starts_with(" [.] fib(")).count();
    assert_eq!(served(&l1) + served(&l2), 6, "{l1:?} {l2:?}");
    assert_eq!(
        (served(&l1), served(&l2)),
        (3, 3),
        "each free server gets the next request: {l1:?} {l2:?}"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_client_with_no_rpc_queue_is_told_at_once() {
    let vhost = Vhost::new("rpc-no-queue");
    let started = Instant::now();
    let (code, lines, stderr) = client(&vhost, &[], &[]);
    assert_eq!(code, Some(1));
    // It asks whether rpc_queue exists before it requests anything.
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(
        stderr,
        "error: no queue 'rpc_queue': no rpc_server has declared it \
         (hint: start one first: cargo run --bin rpc_server)\n"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_client_whose_server_is_gone_gives_up_after_rpc_timeout_seconds() {
    let vhost = Vhost::new("rpc-timeout");
    server(&vhost).interrupt(); // rpc_queue exists, and nobody consumes it
    let started = Instant::now();
    let (code, lines, stderr) = client(&vhost, &["7"], &[("RPC_TIMEOUT_SECONDS", "1")]);
    let waited = started.elapsed();
    assert_eq!(code, Some(1));
    assert_eq!(lines, [" [x] Requesting fib(7)"]);
    assert!(
        stderr.starts_with("error: no reply within 1 s (hint: is an rpc_server running?"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // The request waits in the durable queue for the next server; nothing is lost.
    eventually("the request to wait in rpc_queue", || {
        (vhost.queue_counts("rpc_queue")? == (1, 0)).then_some(())
    });
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn bad_requests_get_an_error_answer_are_acked_and_never_kill_the_server() {
    let vhost = Vhost::new("rpc-bad-requests");
    let server = server(&vhost);
    let session = common::connect_to(&vhost.address()).unwrap();
    let channel = session.channel();
    let replies = channel
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )
        .unwrap();
    let consumer = replies
        .consume(ConsumerOptions {
            no_ack: true,
            ..Default::default()
        })
        .unwrap();
    let bad: [&[u8]; 6] = [b"abc", b"-1", b"187", b"", b"\xff\xfe", b"\x1b[2Jboom"];
    for (i, body) in bad.iter().enumerate() {
        let properties = AmqpProperties::default()
            .with_reply_to(replies.name().to_string())
            .with_correlation_id(format!("bad-{i}"));
        channel
            .basic_publish("", Publish::with_properties(body, "rpc_queue", properties))
            .unwrap();
    }
    let mut answers = Vec::new();
    while answers.len() < bad.len() {
        let delivery = session
            .next_delivery(&consumer, Instant::now() + PATIENCE)
            .unwrap()
            .expect("an answer");
        answers.push((
            delivery.properties.correlation_id().clone().unwrap(),
            String::from_utf8(delivery.body).unwrap(),
        ));
    }
    for (i, (id, answer)) in answers.iter().enumerate() {
        assert_eq!(id, &format!("bad-{i}"));
        assert!(answer.starts_with("error: "), "{answer}");
    }
    assert!(answers[2].1.contains("at most fib(186)"), "{answers:?}");
    // Every bad request was acked: none is ready again, none held.
    eventually("rpc_queue to be empty", || {
        (vhost.queue_counts("rpc_queue")? == (0, 0)).then_some(())
    });
    // The server lives on and answers the next good request.
    let (code, lines, stderr) = client(&vhost, &["20"], &[]);
    assert_eq!(
        (code, lines.last().cloned()),
        (Some(0), Some(" [.] Got 6765".to_string())),
        "{stderr}"
    );
    common::cancel(consumer).unwrap();
    session.close().unwrap();
    let lines = server.interrupt();
    let refused: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with(" [!] Refused "))
        .collect();
    assert_eq!(refused.len(), bad.len(), "{lines:#?}");
    assert!(
        lines.iter().all(|l| !l.contains('\x1b')),
        "control characters reached the terminal: {lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("Interrupted"));
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn our_client_prints_the_servers_error_and_exits_1() {
    let vhost = Vhost::new("rpc-too-large");
    let _server = server(&vhost);
    let (code, lines, stderr) = client(&vhost, &["200"], &[]);
    assert_eq!(code, Some(1));
    assert_eq!(lines, [" [x] Requesting fib(200)"]);
    assert_eq!(
        stderr,
        "error: the server could not answer: fib(200) is too large for an exact answer (at most fib(186))\n"
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn an_answer_with_another_correlation_id_is_ignored() {
    // The test plays the server: it answers each request twice, first with a wrong id.
    let vhost = Vhost::new("rpc-correlation");
    let session = common::connect_to(&vhost.address()).unwrap();
    let channel = session.channel();
    let requests = play_the_server(channel);
    let client = vhost.spawn(CLIENT, &["30"]);
    let request = session
        .next_delivery(&requests, Instant::now() + PATIENCE)
        .unwrap()
        .expect("a request");
    let reply_to = request.properties.reply_to().clone().unwrap();
    let id = request.properties.correlation_id().clone().unwrap();
    for (id, body) in [("not-yours".to_string(), "1"), (id, "832040")] {
        let properties = AmqpProperties::default().with_correlation_id(id);
        channel
            .basic_publish(
                "",
                Publish::with_properties(body.as_bytes(), reply_to.as_str(), properties),
            )
            .unwrap();
    }
    let (status, lines) = client.wait();
    assert!(status.success(), "{lines:?}");
    assert_eq!(lines, [" [x] Requesting fib(30)", " [.] Got 832040"]);
    common::cancel(requests).unwrap();
    session.close().unwrap();
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn each_call_has_a_fresh_correlation_id() {
    let vhost = Vhost::new("rpc-fresh-ids");
    let session = common::connect_to(&vhost.address()).unwrap();
    let channel = session.channel();
    let requests = play_the_server(channel);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let client = vhost.spawn(CLIENT, &["1"]);
        let request = session
            .next_delivery(&requests, Instant::now() + PATIENCE)
            .unwrap()
            .expect("a request");
        ids.push(request.properties.correlation_id().clone().unwrap());
        drop(client); // killed: its direct reply-to goes with its connection
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    common::cancel(requests).unwrap();
    session.close().unwrap();
}

#[test]
fn the_clients_arguments_are_checked_before_connecting() {
    for (args, env, expected) in [
        (
            &["abc"][..],
            "30",
            "error: 'abc' is not a whole number (e.g. rpc_client 30)",
        ),
        (
            &["-5"][..],
            "30",
            "error: '-5' is negative, not a whole number (e.g. rpc_client 30)",
        ),
        (
            &["--", "-1"][..],
            "30",
            "error: '-1' is negative, not a whole number (e.g. rpc_client 30)",
        ),
        (
            &["1", "2"][..],
            "30",
            "error: one number at most (e.g. rpc_client 30)",
        ),
        (
            &["5"][..],
            "soon",
            "error: RPC_TIMEOUT_SECONDS is not a number of seconds between 0 and 86400: 'soon'",
        ),
    ] {
        let mut command = nowhere(CLIENT, args);
        command.env("RPC_TIMEOUT_SECONDS", env);
        let output = command.output().unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("--"), "a number needs no --: {stderr}");
        assert!(
            !stderr.contains("cannot reach"),
            "connected before checking: {stderr}"
        );
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn ctrl_c_ends_a_waiting_client_with_130_and_a_server_with_0() {
    let vhost = Vhost::new("rpc-ctrl-c");
    server(&vhost).interrupt(); // rpc_queue exists, nobody answers
    let client = vhost.spawn(CLIENT, &["3"]);
    client.wait_for(" [x] Requesting fib(3)");
    // Into the wait for the answer: its request waits in rpc_queue, as the broker itself says.
    eventually("the request to wait in rpc_queue", || {
        (vhost.queue_counts("rpc_queue")? == (1, 0)).then_some(())
    });
    let signalled = Instant::now();
    client.signal("INT");
    let (status, lines) = client.wait();
    assert_eq!(status.code(), Some(130), "{lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Interrupted before the program finished")
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        signalled.elapsed()
    );

    let server = server(&vhost); // takes the waiting request; its answer goes nowhere
    server.wait_for(" [.] fib(3)");
    let started = Instant::now();
    assert_eq!(
        server.interrupt().last().map(String::as_str),
        Some("Interrupted")
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_official_python_client_gets_its_answer_from_our_server() {
    let vhost = Vhost::new("rpc-python-client");
    let server = server(&vhost);
    assert_eq!(
        vhost.python("rpc_client", &["30"]),
        " [x] Requesting fib(30)\n [.] Got 832040\n"
    );
    assert_eq!(
        server.interrupt(),
        [AWAITING, " [.] fib(30)", "Interrupted"]
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn our_client_gets_its_answer_from_the_official_python_server() {
    let vhost = Vhost::new("rpc-python-server");
    let python = Running::spawn(vhost.python_command("rpc_server", &[]));
    python.wait_for(AWAITING);
    let (code, lines, stderr) = client(&vhost, &["25"], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines, [" [x] Requesting fib(25)", " [.] Got 75025"]);
    python.wait_for(" [.] fib(25)");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_official_python_client_fails_on_an_error_answer() {
    // What the chapter notes (NOTES.md) say: the official client turns every answer into an int.
    let vhost = Vhost::new("rpc-python-error");
    let _server = server(&vhost);
    let mut command = vhost.python_command("rpc_client", &["200"]);
    let output = command.output().unwrap();
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("ValueError"), "{stderr}");
}
