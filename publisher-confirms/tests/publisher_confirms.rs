//! Chapter 7 against the real test broker (run with scripts/test): the real
//! `publisher_confirms`, each test in a vhost of its own.

#![allow(clippy::unwrap_used)] // a test fails loudly on what it did not expect

use harness::{eventually, text, Vhost};

const PROGRAM: &str = env!("CARGO_BIN_EXE_publisher_confirms");

/// `line` with its number of milliseconds replaced by `N`, and that number.
fn without_millis(line: &str) -> (String, u64) {
    let (head, tail) = line.rsplit_once(" in ").unwrap_or((line, ""));
    let millis = tail.trim_end_matches(" ms").replace(',', "");
    (
        format!("{head} in N ms"),
        millis.parse().unwrap_or(u64::MAX),
    )
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn each_strategy_prints_its_line_as_the_official_java_program_does() {
    let vhost = Vhost::new("confirms-lines");
    let output = vhost.run(PROGRAM, &["2500"]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<(String, u64)> = stdout.lines().map(without_millis).collect();
    let shapes: Vec<&str> = lines.iter().map(|(shape, _)| shape.as_str()).collect();
    assert_eq!(
        shapes,
        [
            "Published 2,500 messages individually in N ms",
            "Published 2,500 messages in batch in N ms",
            "Published 2,500 messages and handled confirms asynchronously in N ms",
            "Published 2,500 messages with confirmation window in N ms",
        ]
    );
    assert!(lines.iter().all(|(_, ms)| *ms < 60_000), "{stdout}");
    // Each strategy's exclusive queue went with its connection.
    eventually("the strategies' queues to be gone", || {
        vhost.queue_names().is_empty().then_some(())
    });
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_nack_names_the_refused_messages_and_exits_1() {
    // A policy that caps every server-named queue at 10 messages and refuses (nacks) the rest.
    let vhost = Vhost::new("confirms-nack");
    vhost.http(
        "PUT",
        &format!("/api/policies/{}/cap", vhost.encoded()),
        r#"{"pattern":"^amq\\.gen-","definition":{"max-length":10,"overflow":"reject-publish"},"apply-to":"queues"}"#,
    );
    let output = eventually("the policy to apply", || {
        let output = vhost.run(PROGRAM, &["50"]);
        (!output.status.success()).then_some(output)
    });
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout, "", "nothing claimed published");
    assert_eq!(
        stderr,
        "error: the broker refused (nacked) message 10 (hint: the queue may be full (a max-length \
         policy), or the broker short of memory or disk)\n"
    );
}

#[test]
fn the_message_count_is_checked_before_connecting() {
    for (args, expected) in [
        (
            &["abc"][..],
            "error: 'abc' is not a message count from 1 to 10,000,000 (e.g. 5000 or 5,000)",
        ),
        (
            &["0"][..],
            "error: '0' is not a message count from 1 to 10,000,000 (e.g. 5000 or 5,000)",
        ),
        (&["1", "2"][..], "error: one message count at most"),
        (
            &["5,0000"][..],
            "error: '5,0000' is not a message count from 1 to 10,000,000 (e.g. 5000 or 5,000)",
        ),
    ] {
        let output = std::process::Command::new(PROGRAM)
            .args(args)
            .env_remove("AMQP_URL")
            .env("RABBITMQ_PORT", "1")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(stdout, "");
        assert_eq!(
            stderr,
            format!("Usage: publisher_confirms [message_count]\n{expected}\n")
        );
    }
}

/// Runs the program with `args` to its end against a fake broker that confirms every publish:
/// its stdout lines, and how many messages the broker received.
fn against_a_fake_broker(args: &[&str]) -> (Vec<String>, usize) {
    let broker = harness::FakeBroker::start(harness::Misbehaviour::None);
    let output = std::process::Command::new(PROGRAM)
        .args(args)
        .env("AMQP_URL", format!("amqp://127.0.0.1:{}/%2f", broker.port))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{args:?}: {stderr}");
    let shapes = stdout.lines().map(|l| without_millis(l).0).collect();
    (shapes, broker.published())
}

#[test]
fn a_count_written_with_thousands_separators_as_the_program_prints_it_is_accepted() {
    let (lines, published) = against_a_fake_broker(&["2,500"]);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("Published 2,500 messages")),
        "{lines:?}"
    );
    assert_eq!(published, 4 * 2_500);
}
