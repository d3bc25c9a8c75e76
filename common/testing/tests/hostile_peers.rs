//! Every program of the course against a peer that is not a healthy broker: a web server,
//! another protocol, a peer that never answers, one that lies about sizes or nests tables a
//! thousand deep, one that puts escape sequences in its text, and a seeded fuzz of the byte
//! stream. Each case asserts: a non-zero exit within a time bound, one line on stderr, no panic,
//! abort or backtrace (RUST_BACKTRACE=1), no password, and nothing claimed sent.
//!
//! Every case runs twice at once: over plain TCP (`amqp://`) and behind TLS (`amqps://`, the
//! fake broker's certificate signed by the test's own CA, trusted through RABBITMQ_CACERTFILE),
//! with the same expected line and bound: the guard checks the frames after decryption.
//!
//! The programs are the workspace's binaries, which `scripts/test` builds before it runs tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use harness::{FakeBroker, Misbehaviour};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "s3cret-Pa55word";

/// The course's producers, with arguments.
const PRODUCERS: &[(&str, &[&str])] = &[
    ("send", &[]),
    ("new_task", &["A task."]),
    ("emit_log", &["hello"]),
    ("emit_log_direct", &["error", "hello"]),
    ("emit_log_topic", &["kern.critical", "hello"]),
    ("rpc_client", &["3"]),
    ("publisher_confirms", &["10"]),
];

/// The course's consumers, with arguments.
const CONSUMERS: &[(&str, &[&str])] = &[
    ("receive", &[]),
    ("worker", &[]),
    ("receive_logs", &[]),
    ("receive_logs_direct", &["error"]),
    ("receive_logs_topic", &["#"]),
    ("rpc_server", &[]),
];

/// What one program did against the fake broker.
struct Outcome {
    /// `amqp` or `amqps`.
    transport: &'static str,
    program: String,
    code: Option<i32>,
    took: Duration,
    stdout: String,
    stderr: String,
}

/// How long the cases that leave requests unanswered let a program wait for an answer
/// (`?request_timeout=` in AMQP_URL): the default, 20 s, is a unit test of `common`'s.
const REQUEST_TIMEOUT_MS: u64 = 2_000;

/// The connect timeout (`?connection_timeout=`) of the cases that end at it: 1.5 s instead of
/// the default 5 s. The other cases keep the default, so that a program slow to start among the
/// dozens that start at once on a busy machine is not cut short.
const SHORT_CONNECT: &str = "connection_timeout=1500";

/// How long a program may take to end at that connect timeout: 1.5 s for the TCP connect and
/// 1.5 s for the handshake at most, and the time to start among dozens on a busy machine.
const AT_THE_CONNECT_TIMEOUT: Duration = Duration::from_secs(7);

/// How long a program may take to fail at what a case does to it (a refused login, a frame too
/// large): at once, but for the time dozens of programs take to start at once on a busy machine.
const AT_ONCE: Duration = Duration::from_secs(5);

/// Runs every program of `programs` at once against a fake broker that misbehaves so, once
/// over plain TCP and once behind TLS, all at the same time.
fn against(misbehaviour: Misbehaviour, programs: &[(&str, &[&str])]) -> Vec<Outcome> {
    against_with(misbehaviour, programs, "")
}

/// As [`against`], with query parameters for AMQP_URL (`name=value&...`).
fn against_with(
    misbehaviour: Misbehaviour,
    programs: &[(&str, &[&str])],
    query: &str,
) -> Vec<Outcome> {
    let plain = FakeBroker::start(misbehaviour);
    let tls = FakeBroker::start_tls(misbehaviour);
    let ca = FakeBroker::ca_file();
    let children: Vec<_> = [("amqp", &plain), ("amqps", &tls)]
        .into_iter()
        .flat_map(|(transport, broker)| {
            let url = format!(
                "{transport}://course:{PASSWORD}@127.0.0.1:{}/%2f?{query}",
                broker.port
            );
            let ca = ca.clone();
            programs.iter().map(move |(program, args)| {
                let child = Command::new(harness::program(program))
                    .args(*args)
                    .env("AMQP_URL", &url)
                    .env("RABBITMQ_CACERTFILE", &ca)
                    .env("RUST_BACKTRACE", "1")
                    .env("WORKER_SECONDS_PER_DOT", "0")
                    .env("RPC_TIMEOUT_SECONDS", "2")
                    .env_remove("RUST_LOG")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                (transport, program.to_string(), Instant::now(), child)
            })
        })
        .collect();
    children
        .into_iter()
        .map(|(transport, program, started, mut child)| {
            // A program that never ends fails the test rather than hanging it.
            while child.try_wait().unwrap().is_none() {
                if started.elapsed() > Duration::from_secs(60) {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let took = started.elapsed();
            let output = child.wait_with_output().unwrap();
            Outcome {
                transport,
                program,
                code: output.status.code(),
                took,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        })
        .collect()
}

/// Asserts the promise for every outcome: exit 1 within `bound`, one line on stderr that
/// contains `expected`, no panic or backtrace, no password, no control character, and nothing
/// claimed sent. Prints a line per program: the table of the closing note.
fn assert_clear_failures(case: &str, outcomes: &[Outcome], bound: Duration, expected: &[&str]) {
    for o in outcomes {
        let line = o.stderr.trim_end();
        eprintln!(
            "{case:<28} {:<5} {:<20} exit {:?} in {:>5} ms: {line}",
            o.transport,
            o.program,
            o.code,
            o.took.as_millis()
        );
        let all = format!("{}{}", o.stdout, o.stderr);
        let context = format!(
            "{case}, {} over {}: exit {:?} after {:?}\nstdout: {}\nstderr: {}",
            o.program, o.transport, o.code, o.took, o.stdout, o.stderr
        );
        assert_eq!(o.code, Some(1), "{context}");
        assert!(o.took < bound, "slower than {bound:?}: {context}");
        assert_eq!(o.stderr.lines().count(), 1, "{context}");
        assert!(line.starts_with("error: "), "{context}");
        for text in expected {
            assert!(line.contains(text), "'{text}' missing: {context}");
        }
        assert!(
            !all.contains("panicked") && !all.contains("backtrace"),
            "{context}"
        );
        assert!(!all.contains(PASSWORD), "the password shows: {context}");
        assert!(
            !line.chars().any(char::is_control),
            "a control character: {context}"
        );
        for claim in ["[x] Sent", "Published", "[.] Got"] {
            assert!(!o.stdout.contains(claim), "claims '{claim}': {context}");
        }
    }
}

fn every_program() -> Vec<(&'static str, &'static [&'static str])> {
    PRODUCERS.iter().chain(CONSUMERS).copied().collect()
}

#[test]
fn the_fake_broker_is_healthy_enough_for_every_producer() {
    // The control: without a misbehaviour, the fake broker is a broker to every producer, so
    // that the cases below fail for their misbehaviour and nothing else.
    for o in against(Misbehaviour::None, PRODUCERS) {
        eprintln!(
            "{} over {}: {:?} in {:?}: {}",
            o.program,
            o.transport,
            o.code,
            o.took,
            o.stderr.trim_end()
        );
        // No rpc_server answers: the client's timeout ends it, clearly.
        let timed_out = o.program == "rpc_client" && o.stderr.contains("no reply within 2 s");
        assert!(
            o.code == Some(0) || timed_out,
            "{} over {}: {:?} {} {}",
            o.program,
            o.transport,
            o.code,
            o.stdout,
            o.stderr
        );
    }
}

#[test]
fn a_web_server_is_named_as_one_with_the_ports_hint_at_once() {
    let outcomes = against(Misbehaviour::Http, &every_program());
    assert_clear_failures(
        "HTTP answer",
        &outcomes,
        AT_ONCE,
        &["web server", "15672", "5672"],
    );
}

#[test]
fn another_amqp_version_is_named() {
    let outcomes = against(Misbehaviour::Amqp10, &every_program());
    assert_clear_failures(
        "AMQP 1.0 header",
        &outcomes,
        AT_ONCE,
        &["AMQP 1.0.0", "5672"],
    );
}

#[test]
fn heartbeats_instead_of_a_handshake_end_at_the_connect_timeout() {
    let outcomes = against_with(
        Misbehaviour::HeartbeatsInsteadOfStart,
        &every_program(),
        SHORT_CONNECT,
    );
    assert_clear_failures(
        "heartbeats, no Start",
        &outcomes,
        AT_THE_CONNECT_TIMEOUT,
        &["did not complete the AMQP handshake within 1500 ms"],
    );
}

#[test]
fn tables_nested_a_thousand_deep_in_the_handshake_are_refused_without_a_crash() {
    let outcomes = against(Misbehaviour::DeepTableInStart, &every_program());
    assert_clear_failures(
        "Start nested 1000 deep",
        &outcomes,
        AT_ONCE,
        &["nested more than 16 deep"],
    );
}

#[test]
fn silence_after_the_login_is_not_called_a_wrong_password() {
    let outcomes = against_with(Misbehaviour::SilentAfterLogin, PRODUCERS, SHORT_CONNECT);
    assert_clear_failures(
        "silence after login",
        &outcomes,
        AT_THE_CONNECT_TIMEOUT,
        &["the broker at 127.0.0.1:"],
    );
    for o in &outcomes {
        assert!(
            !o.stderr.contains("password"),
            "{} over {} after {:?}: {}",
            o.program,
            o.transport,
            o.took,
            o.stderr
        );
    }
}

#[test]
fn garbage_after_the_login_is_not_called_a_wrong_password() {
    let outcomes = against(Misbehaviour::GarbageAfterLogin, PRODUCERS);
    assert_clear_failures(
        "garbage after login",
        &outcomes,
        AT_ONCE,
        &["unknown type 7"],
    );
    for o in &outcomes {
        assert!(!o.stderr.contains("password"), "{}", o.stderr);
    }
}

#[test]
fn a_refused_login_is_a_wrong_user_or_password() {
    let outcomes = against(Misbehaviour::RefusesLogin, &every_program());
    assert_clear_failures(
        "ACCESS_REFUSED",
        &outcomes,
        AT_ONCE,
        &["wrong user or password"],
    );
}

#[test]
fn silence_after_a_tune_offering_heartbeat_0_ends_at_the_connect_timeout() {
    let outcomes = against_with(
        Misbehaviour::TuneHeartbeat0ThenSilence,
        &every_program(),
        SHORT_CONNECT,
    );
    assert_clear_failures(
        "Tune heartbeat 0, silence",
        &outcomes,
        AT_THE_CONNECT_TIMEOUT,
        &["did not complete the AMQP handshake"],
    );
}

#[test]
fn no_answer_to_channel_open_ends_at_the_connect_timeout() {
    let outcomes = against_with(
        Misbehaviour::NoChannelOpenOk,
        &every_program(),
        SHORT_CONNECT,
    );
    assert_clear_failures(
        "no Channel.Open-Ok",
        &outcomes,
        AT_THE_CONNECT_TIMEOUT,
        &["did not complete the AMQP handshake"],
    );
}

#[test]
fn a_request_without_an_answer_ends_at_the_request_timeout_and_names_the_request() {
    let query = format!("{SHORT_CONNECT}&request_timeout={REQUEST_TIMEOUT_MS}");
    let outcomes = against_with(Misbehaviour::NoAnswers, &every_program(), &query);
    assert_clear_failures(
        "no answer to requests",
        &outcomes,
        Duration::from_millis(REQUEST_TIMEOUT_MS + 4_000),
        &["did not answer our ", "within 2 s"],
    );
    for o in &outcomes {
        assert!(
            o.took >= Duration::from_millis(REQUEST_TIMEOUT_MS),
            "{} over {} gave up before the request timeout: {:?}",
            o.program,
            o.transport,
            o.took
        );
    }
}

#[test]
fn escape_sequences_in_the_brokers_text_never_reach_the_terminal() {
    let outcomes = against(Misbehaviour::CloseWithControlCharacters, &every_program());
    assert_clear_failures(
        "close text with ESC CR NUL",
        &outcomes,
        AT_ONCE,
        &["INTERNAL_ERROR", "red over written"],
    );
}

#[test]
fn a_frame_announcing_a_gigabyte_is_refused_before_it_is_allocated() {
    let outcomes = against(Misbehaviour::HugeFrame, &every_program());
    assert_clear_failures(
        "frame of 1.2 GB",
        &outcomes,
        AT_ONCE,
        &["over the frame_max of 131072 bytes"],
    );
}

#[test]
fn a_bad_frame_end_is_refused() {
    let outcomes = against(Misbehaviour::BadFrameEnd, &every_program());
    assert_clear_failures("bad frame end", &outcomes, AT_ONCE, &["frame-end"]);
}

#[test]
fn a_delivery_announcing_a_body_of_2_pow_64_or_1_tib_is_refused_without_a_panic() {
    for (case, misbehaviour) in [
        ("body of 2^64-1 bytes", Misbehaviour::BodyOf2Pow64),
        ("body of 1 TiB", Misbehaviour::BodyOf1TiB),
    ] {
        let outcomes = against(misbehaviour, CONSUMERS);
        assert_clear_failures(case, &outcomes, AT_ONCE, &["over the limit of 512 MiB"]);
    }
}

#[test]
fn a_delivery_whose_headers_nest_a_thousand_deep_is_refused_without_a_crash() {
    let outcomes = against(Misbehaviour::DeepHeaders, CONSUMERS);
    assert_clear_failures(
        "headers nested 1000 deep",
        &outcomes,
        AT_ONCE,
        &["nested more than 16 deep"],
    );
}

#[test]
fn a_seeded_fuzz_of_the_byte_stream_never_crashes_or_hangs_a_program() {
    // 32 runs at once, a producer and a consumer in turn, 16 over TCP and 16 behind TLS (the same
    // 16 seeds over each: every connection's seed follows from its number), 64 frames each. Each
    // run ends in one line, at the latest at the request timeout.
    let programs: Vec<_> = (0..8).flat_map(|_| [PRODUCERS[0], CONSUMERS[0]]).collect();
    let query = format!("{SHORT_CONNECT}&request_timeout={REQUEST_TIMEOUT_MS}");
    let outcomes = against_with(Misbehaviour::Fuzz { seed: 2026 }, &programs, &query);
    assert_eq!(outcomes.len(), 32);
    let bound = Duration::from_millis(REQUEST_TIMEOUT_MS + 6_000);
    assert_clear_failures("fuzz, 32 seeds", &outcomes, bound, &[]);
}
