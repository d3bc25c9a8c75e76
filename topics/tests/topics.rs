//! Chapter 5 against the real test broker (run with scripts/test): the real `emit_log_topic`
//! and `receive_logs_topic` binaries, each test in a vhost of its own.

#![allow(clippy::unwrap_used)] // a test fails loudly on what it did not expect

use harness::{text, Vhost};
use std::process::Command;

const EMIT: &str = env!("CARGO_BIN_EXE_emit_log_topic");
const RECEIVE: &str = env!("CARGO_BIN_EXE_receive_logs_topic");

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_courses_four_receivers_get_what_their_patterns_match() {
    let vhost = Vhost::new("topic");
    let all = vhost.consumer(RECEIVE, &["#"]);
    let kern = vhost.consumer(RECEIVE, &["kern.*"]);
    let critical = vhost.consumer(RECEIVE, &["*.critical"]);
    let both = vhost.consumer(RECEIVE, &["kern.*", "*.critical"]);

    assert_eq!(
        vhost.produce(EMIT, &["kern.critical", "A critical kernel error"]),
        " [x] Sent kern.critical:A critical kernel error\n"
    );
    vhost.produce(EMIT, &["kern.info", "A kernel note"]);
    vhost.produce(EMIT, &["app.critical", "An application failure"]);
    vhost.produce(EMIT, &["app.info", "An application note"]);

    // A last kern.critical, which all four get: whatever was routed before it arrives first.
    vhost.produce(EMIT, &["kern.critical", "end"]);
    for receiver in [&all, &kern, &critical, &both] {
        receiver.wait_for(" [x] kern.critical:end");
    }
    let end = " [x] kern.critical:end";
    assert_eq!(
        all.received(),
        [
            " [x] kern.critical:A critical kernel error",
            " [x] kern.info:A kernel note",
            " [x] app.critical:An application failure",
            " [x] app.info:An application note",
            end
        ]
    );
    // Matched by both of its patterns, kern.critical still arrives once.
    assert_eq!(
        both.received(),
        [
            " [x] kern.critical:A critical kernel error",
            " [x] kern.info:A kernel note",
            " [x] app.critical:An application failure",
            end
        ]
    );
    assert_eq!(
        kern.received(),
        [
            " [x] kern.critical:A critical kernel error",
            " [x] kern.info:A kernel note",
            end
        ]
    );
    assert_eq!(
        critical.received(),
        [
            " [x] kern.critical:A critical kernel error",
            " [x] app.critical:An application failure",
            end
        ]
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn hash_matches_zero_or_more_words_and_star_exactly_one() {
    let vhost = Vhost::new("topic-wildcards");
    let lazy = vhost.consumer(RECEIVE, &["lazy.#"]);
    let one = vhost.consumer(RECEIVE, &["*.orange.*"]);
    for key in [
        "lazy",
        "lazy.a.b",
        "quick.lazy",
        "quick.orange.rabbit",
        "quick.orange",
        "a.quick.orange.fox",
        "marker.orange.end",
    ] {
        vhost.produce(EMIT, &[key, "m"]);
    }
    vhost.produce(EMIT, &["lazy.end", "m"]);
    lazy.wait_for(" [x] lazy.end:m");
    one.wait_for(" [x] marker.orange.end:m");
    assert_eq!(
        lazy.received(),
        [" [x] lazy:m", " [x] lazy.a.b:m", " [x] lazy.end:m"]
    );
    assert_eq!(
        one.received(),
        [" [x] quick.orange.rabbit:m", " [x] marker.orange.end:m"]
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn with_fewer_than_two_arguments_the_key_is_anonymous_info() {
    let vhost = Vhost::new("topic-defaults");
    let all = vhost.consumer(RECEIVE, &["#"]);
    assert_eq!(
        vhost.produce(EMIT, &[]),
        " [x] Sent anonymous.info:Hello World!\n"
    );
    // As in the original: a single argument is neither key nor message.
    assert_eq!(
        vhost.produce(EMIT, &["kern.critical"]),
        " [x] Sent anonymous.info:Hello World!\n"
    );
    all.wait_for_lines(2, |l| l == " [x] anonymous.info:Hello World!");
}

#[test]
fn receive_logs_topic_without_binding_keys_prints_usage_and_exits_1() {
    let output = Command::new(RECEIVE)
        .env("RABBITMQ_PORT", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output),
        (
            String::new(),
            "Usage: receive_logs_topic [binding_key]...\n".to_string()
        )
    );
}

#[test]
fn a_key_longer_than_255_bytes_is_refused_clearly() {
    let long = "kern.".repeat(52); // 260 bytes
    for (program, args, what) in [
        (EMIT, vec![long.as_str(), "message"], "routing key"),
        (RECEIVE, vec!["#", long.as_str()], "binding key"),
    ] {
        let output = Command::new(program)
            .args(&args)
            .env("RABBITMQ_PORT", "1")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stdout, "");
        assert!(
            stderr.starts_with(&format!(
                "error: the {what} is 260 bytes long; AMQP allows at most 255"
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_original_python_emit_log_topic_reaches_our_receiver() {
    let vhost = Vhost::new("python-topic");
    let kern = vhost.consumer(RECEIVE, &["kern.*"]);
    vhost.python("declare", &[]);
    vhost.python("emit_log_topic", &["app.info", "not for us"]);
    assert_eq!(
        vhost.python("emit_log_topic", &["kern.critical", "from Python"]),
        " [x] Sent kern.critical:from Python\n"
    );
    kern.wait_for(" [x] kern.critical:from Python");
    assert_eq!(kern.received(), [" [x] kern.critical:from Python"]);
}
