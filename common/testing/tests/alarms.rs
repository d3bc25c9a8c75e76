//! A broker that protects itself: in a memory alarm, and in a disk alarm, RabbitMQ blocks every
//! connection that publishes and stops reading it. Every producer of the course then ends with
//! one line that names the alarm, within a bound, and never claims that it sent anything; a
//! consumer, which publishes nothing, keeps consuming, and so does an RPC server, which answers
//! the next call once the alarm is over. On a node of the test's own (one for every alarm: its
//! boot is the test's cost).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use harness::{eventually, program, PrivateNode, Running, Vhost};
use std::time::{Duration, Instant};

/// The course's producers, with arguments, and how long each may take in an alarm, in
/// milliseconds from its start: the broker blocks a connection as soon as it publishes, which
/// ends a wait for a confirm (new_task, rpc_client, publisher_confirms: `Session::confirm`) and
/// a wait for the answer to our close at once; a blocked connection is then not waited for.
/// rpc_client waits for its confirm up to RPC_TIMEOUT_SECONDS (30 here, the default: it must
/// not be what ends it) and publisher_confirms 5 s: not in an alarm.
const PRODUCERS: &[(&str, &[&str], u64)] = &[
    ("send", &[], 2_000),
    ("new_task", &["A task."], 2_000),
    ("emit_log", &["hello"], 2_000),
    ("emit_log_direct", &["error", "hello"], 2_000),
    ("emit_log_topic", &["kern.critical", "hello"], 2_000),
    ("rpc_client", &["3"], 2_000),
    ("publisher_confirms", &["10"], 2_000),
];

/// Runs every producer at once in the alarm and checks each ends clearly, naming `reason`.
fn every_producer_fails_clearly(vhost: &Vhost, alarm: &str, reason: &str) {
    let running: Vec<_> = PRODUCERS
        .iter()
        .map(|(name, args, bound)| {
            let mut command = vhost.command(&program(name), args);
            command.env("RUST_BACKTRACE", "1");
            (*name, *bound, Instant::now(), Running::spawn(command))
        })
        .collect();
    for (name, bound, started, producer) in running {
        let (status, lines) = producer.wait();
        let took = started.elapsed();
        let errors: Vec<_> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
        eprintln!(
            "{alarm:<13} {name:<20} exit {:?} in {:>5} ms: {errors:?}",
            status.code(),
            took.as_millis()
        );
        assert_eq!(status.code(), Some(1), "{name}: {lines:?}");
        // Nothing but the error, and the request line of rpc_client (printed before it publishes).
        let expected_lines = if name == "rpc_client" { 2 } else { 1 };
        assert_eq!(lines.len(), expected_lines, "{name}: {lines:?}");
        assert!(
            took < Duration::from_millis(bound),
            "{name} took {took:?}: {lines:?}"
        );
        assert_eq!(errors.len(), 1, "{name}: {lines:?}");
        assert!(
            errors[0].contains(&format!("blocked this connection ({reason})")),
            "{name}: {lines:?}"
        );
        assert!(
            errors[0].contains("scripts/broker status"),
            "{name}: {lines:?}"
        );
        for claim in ["[x] Sent", "Published", "[.] Got"] {
            assert!(
                !lines.iter().any(|l| l.contains(claim)),
                "{name} claims '{claim}': {lines:?}"
            );
        }
        assert!(
            !lines.iter().any(|l| l.contains("panicked")),
            "{name}: {lines:?}"
        );
    }
}

/// Waits until the node reports the alarm (`mem_alarm` or `disk_free_alarm`) as `on`.
fn wait_for_alarm(vhost: &Vhost, field: &str, on: bool) {
    eventually(&format!("{field} {on}"), || {
        let nodes = vhost.api("/api/nodes")?;
        let node = nodes.as_array()?.first()?;
        (node[field] == on).then_some(())
    });
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn in_a_memory_and_in_a_disk_alarm_every_producer_fails_clearly_and_a_consumer_keeps_consuming() {
    let node = PrivateNode::start("alarms");
    let vhost = node.vhost();
    // Messages wait in hello before the alarm; a consumer started during it still gets them.
    for _ in 0..3 {
        assert!(vhost.run(&program("send"), &[]).status.success());
    }

    // An RPC server waits for requests; it publishes nothing until one comes.
    let rpc_server = vhost.consumer(&program("rpc_server"), &[]);

    node.broker(&["set_vm_memory_high_watermark", "0.00001"]);
    wait_for_alarm(&vhost, "mem_alarm", true);
    let receive = vhost.consumer(&program("receive"), &[]);
    let received = receive.wait_for_lines(3, |l| l.starts_with(" [x] Received "));
    assert_eq!(received.len(), 3, "{received:?}");
    every_producer_fails_clearly(&vhost, "memory alarm", "low on memory");
    assert_eq!(
        receive.interrupt().last().map(String::as_str),
        Some("Interrupted")
    );
    node.broker(&["set_vm_memory_high_watermark", "0.4"]);
    wait_for_alarm(&vhost, "mem_alarm", false);
    // The server was not blocked: it answers the first call after the alarm.
    let output = vhost.run(&program("rpc_client"), &["6"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        harness::text(&output).0,
        " [x] Requesting fib(6)\n [.] Got 8\n"
    );
    assert_eq!(
        rpc_server.interrupt().last().map(String::as_str),
        Some("Interrupted")
    );

    // More free disk than any machine has.
    node.broker(&["set_disk_free_limit", "1000000GB"]);
    wait_for_alarm(&vhost, "disk_free_alarm", true);
    every_producer_fails_clearly(&vhost, "disk alarm", "low on disk");
    node.broker(&["set_disk_free_limit", "50MB"]);
    wait_for_alarm(&vhost, "disk_free_alarm", false);

    // Over, the alarm leaves nothing behind: the producers work again.
    let output = vhost.run(&program("send"), &[]);
    assert!(output.status.success(), "{output:?}");
}
