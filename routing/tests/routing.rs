//! Chapter 4 against the real test broker (run with scripts/test): the real
//! `emit_log_direct` and `receive_logs_direct` binaries, each test in a vhost of its own.

#![allow(clippy::unwrap_used)] // a test fails loudly on what it did not expect

use harness::{text, Vhost};
use std::process::Command;

const EMIT: &str = env!("CARGO_BIN_EXE_emit_log_direct");
const RECEIVE: &str = env!("CARGO_BIN_EXE_receive_logs_direct");

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_courses_two_receivers_get_exactly_their_severities() {
    let vhost = Vhost::new("direct");
    // receive_logs_direct warning error > logs_from_rabbit.log
    let to_file = vhost.consumer(RECEIVE, &["warning", "error"]);
    // receive_logs_direct info warning error
    let console = vhost.consumer(RECEIVE, &["info", "warning", "error"]);

    assert_eq!(
        vhost.produce(EMIT, &["error", "Run. Run. Or it will explode."]),
        " [x] Sent error:Run. Run. Or it will explode.\n"
    );
    assert_eq!(
        vhost.produce(EMIT, &["warning", "warning message"]),
        " [x] Sent warning:warning message\n"
    );
    assert_eq!(
        vhost.produce(EMIT, &["info", "info message"]),
        " [x] Sent info:info message\n"
    );

    // A last error, which both get: whatever was routed to a queue before it arrives first.
    vhost.produce(EMIT, &["error", "end"]);
    console.wait_for(" [x] error:end");
    to_file.wait_for(" [x] error:end");
    assert_eq!(
        console.received(),
        [
            " [x] error:Run. Run. Or it will explode.",
            " [x] warning:warning message",
            " [x] info:info message",
            " [x] error:end"
        ]
    );
    assert_eq!(
        to_file.received(),
        [
            " [x] error:Run. Run. Or it will explode.",
            " [x] warning:warning message",
            " [x] error:end"
        ]
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_severity_nobody_listens_to_reaches_no_one() {
    let vhost = Vhost::new("direct-nobody");
    let errors = vhost.consumer(RECEIVE, &["error"]);
    let infos = vhost.consumer(RECEIVE, &["info"]);
    vhost.produce(EMIT, &["debug", "nobody wants this"]);
    // A marker each receiver does get: anything routed before it would have arrived first.
    vhost.produce(EMIT, &["error", "marker"]);
    vhost.produce(EMIT, &["info", "marker"]);
    errors.wait_for(" [x] error:marker");
    infos.wait_for(" [x] info:marker");
    assert_eq!(errors.received(), [" [x] error:marker"]);
    assert_eq!(infos.received(), [" [x] info:marker"]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn emit_log_direct_defaults_to_info_and_hello_world() {
    let vhost = Vhost::new("direct-defaults");
    let infos = vhost.consumer(RECEIVE, &["info"]);
    assert_eq!(vhost.produce(EMIT, &[]), " [x] Sent info:Hello World!\n");
    assert_eq!(
        vhost.produce(EMIT, &["info"]),
        " [x] Sent info:Hello World!\n"
    );
    infos.wait_for_lines(2, |l| l == " [x] info:Hello World!");
}

#[test]
fn receive_logs_direct_without_severities_prints_usage_and_exits_1() {
    // Pointed at a closed port: the arguments are checked before connecting.
    let output = Command::new(RECEIVE)
        .env("RABBITMQ_PORT", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output),
        (
            String::new(),
            "Usage: receive_logs_direct [info] [warning] [error]\n".to_string()
        )
    );
}

#[test]
fn a_key_longer_than_255_bytes_is_refused_clearly() {
    let long = "x".repeat(256);
    for (program, args, what) in [
        (EMIT, vec![long.as_str(), "message"], "routing key"),
        (RECEIVE, vec!["info", long.as_str()], "binding key"),
    ] {
        let output = Command::new(program)
            .args(&args)
            .env("RABBITMQ_PORT", "1")
            .output()
            .unwrap();
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: the {what} is 256 bytes long; AMQP allows at most 255"
            )),
            "{stderr}"
        );
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_original_python_emit_log_direct_reaches_our_receiver() {
    let vhost = Vhost::new("python-direct");
    let errors = vhost.consumer(RECEIVE, &["error"]);
    vhost.python("declare", &[]);
    vhost.python("emit_log_direct", &["info", "not for us"]);
    assert_eq!(
        vhost.python("emit_log_direct", &["error", "from", "Python"]),
        " [x] Sent error:from Python\n"
    );
    errors.wait_for(" [x] error:from Python");
    assert_eq!(errors.received(), [" [x] error:from Python"]);
}
