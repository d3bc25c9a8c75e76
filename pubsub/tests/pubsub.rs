//! Chapter 3 against the real test broker (run with scripts/test): the real `emit_log` and
//! `receive_logs` binaries, each test in a vhost of its own.

#![allow(clippy::unwrap_used)] // a test fails loudly on what it did not expect

use harness::{eventually, Vhost};

const EMIT_LOG: &str = env!("CARGO_BIN_EXE_emit_log");
const RECEIVE_LOGS: &str = env!("CARGO_BIN_EXE_receive_logs");

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn every_running_receiver_gets_every_message() {
    let vhost = Vhost::new("fanout");
    let receivers: Vec<_> = (0..3).map(|_| vhost.consumer(RECEIVE_LOGS, &[])).collect();

    assert_eq!(
        vhost.produce(EMIT_LOG, &[]),
        " [x] Sent info: Hello World!\n"
    );
    assert_eq!(
        vhost.produce(EMIT_LOG, &["error:", "disk", "full"]),
        " [x] Sent error: disk full\n"
    );

    for receiver in receivers {
        receiver.wait_for_lines(2, |l| l.starts_with(" [x] "));
        assert_eq!(
            receiver.interrupt(),
            [
                " [*] Waiting for logs. To exit press CTRL+C",
                " [x] info: Hello World!",
                " [x] error: disk full",
                "Interrupted"
            ]
        );
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_message_emitted_with_no_receiver_is_gone() {
    let vhost = Vhost::new("fanout-nobody");
    assert_eq!(
        vhost.produce(EMIT_LOG, &["lost:", "nobody", "listens"]),
        " [x] Sent lost: nobody listens\n"
    );
    assert!(vhost.queue_names().is_empty(), "no queue kept it");

    let receiver = vhost.consumer(RECEIVE_LOGS, &[]);
    vhost.produce(EMIT_LOG, &["kept:", "one", "listens"]);
    receiver.wait_for(" [x] kept: one listens");
    assert_eq!(receiver.received(), [" [x] kept: one listens"]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_receivers_server_named_queue_disappears_when_it_exits() {
    let vhost = Vhost::new("exclusive-queue");
    let receiver = vhost.consumer(RECEIVE_LOGS, &[]);
    let names = eventually("the receiver's queue", || {
        Some(vhost.queue_names()).filter(|n| !n.is_empty())
    });
    assert_eq!(names.len(), 1);
    assert!(names[0].starts_with("amq.gen-"), "{names:?}");

    receiver.interrupt();
    eventually("the queue to be deleted", || {
        vhost.queue_names().is_empty().then_some(())
    });
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_message_that_is_not_utf8_is_printed_lossily() {
    let vhost = Vhost::new("fanout-bytes");
    let receiver = vhost.consumer(RECEIVE_LOGS, &[]);
    vhost.publish("logs", "", b"\xff\xfe warning");
    vhost.publish("logs", "", b"");
    receiver.wait_for(" [x] \u{fffd}\u{fffd} warning");
    receiver.wait_for(" [x] ");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_original_python_emit_log_reaches_our_receivers() {
    let vhost = Vhost::new("python-fanout");
    let receiver = vhost.consumer(RECEIVE_LOGS, &[]);
    vhost.python("declare", &[]);
    assert_eq!(
        vhost.python("emit_log", &["python:", "hello"]),
        " [x] Sent python: hello\n"
    );
    receiver.wait_for(" [x] python: hello");
}
