//! Ctrl+C right after a consumer's ready line: every consumer of the course counts as waiting
//! once it has printed that line, so it always ends cleanly (`Interrupted`, exit 0), never as a
//! program interrupted before it finished. Run with scripts/test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use harness::{is_ready, program, Vhost};

/// How many times each consumer is interrupted the instant its ready line shows.
const ROUNDS: usize = 15;

/// Starts `name` with `args` `ROUNDS` times, sends SIGINT as soon as its ready line is read,
/// and asserts each run ended with `Interrupted` and exit 0.
fn interrupt_right_after_the_ready_line(vhost: &Vhost, name: &str, args: &[&str]) {
    interrupt_right_after(vhost, name, args, is_ready);
}

/// As [`interrupt_right_after_the_ready_line`], for a consumer whose ready line `ready` knows.
fn interrupt_right_after(vhost: &Vhost, name: &str, args: &[&str], ready: fn(&str) -> bool) {
    let path = program(name);
    for round in 1..=ROUNDS {
        // `wait_for_lines` returns the moment the ready line arrives through the pipe.
        let consumer = vhost.spawn(&path, args);
        consumer.wait_for_lines(1, ready);
        consumer.signal("INT");
        let (status, lines) = consumer.wait();
        assert!(
            status.success() && lines.last().map(String::as_str) == Some("Interrupted"),
            "{name}, round {round}: exited with {status} after printing {lines:#?}"
        );
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn every_consumer_interrupted_right_after_its_ready_line_says_interrupted_and_exits_0() {
    let vhost = Vhost::new("ctrl-c");
    interrupt_right_after_the_ready_line(&vhost, "receive", &[]);
    interrupt_right_after_the_ready_line(&vhost, "worker", &[]);
    interrupt_right_after_the_ready_line(&vhost, "receive_logs", &[]);
    interrupt_right_after_the_ready_line(&vhost, "receive_logs_direct", &["info"]);
    interrupt_right_after_the_ready_line(&vhost, "receive_logs_topic", &["#"]);
    interrupt_right_after_the_ready_line(&vhost, "rpc_server", &[]);
    interrupt_right_after_the_ready_line(&vhost, "receive_dead", &[]);
    interrupt_right_after_the_ready_line(&vhost, "job_worker", &[]);
    // Chapter 8's stream consumers say it as the official tutorial does.
    interrupt_right_after(&vhost, "receive_stream", &[], |line| {
        line == "Press control + C to close"
    });
    interrupt_right_after(&vhost, "offset_tracking_receive", &[], |line| {
        line.starts_with("Started consuming")
    });
}
