//! Chapter 9's promises, each against the real broker, on whichever version `scripts/test`
//! runs (3.10 or 4.x): what x-death does with a republished message, the poison job and the
//! default delivery limit, the head-of-line trap, and bad input (a 406, a foreign x-death).

#![allow(clippy::unwrap_used)] // a test fails loudly on what it did not expect

use amiquip::{AmqpProperties, AmqpValue, FieldTable, Publish, QueueDeclareOptions};
use harness::{broker_version, Vhost};
use std::time::{Duration, Instant};

const EMIT_JOB: &str = env!("CARGO_BIN_EXE_emit_job");
const JOB_WORKER: &str = env!("CARGO_BIN_EXE_job_worker");
const RECEIVE_DEAD: &str = env!("CARGO_BIN_EXE_receive_dead");

fn text_value(s: &str) -> AmqpValue {
    AmqpValue::LongString(s.into())
}

/// The (queue, reason, count) entries of a message's x-death.
fn x_death(properties: &AmqpProperties) -> Vec<(String, String, i64)> {
    let Some(AmqpValue::FieldArray(entries)) =
        properties.headers().as_ref().and_then(|h| h.get("x-death"))
    else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|entry| {
            let AmqpValue::FieldTable(entry) = entry else {
                panic!("an x-death entry is not a table: {entry:?}")
            };
            let text = |k: &str| match entry.get(k) {
                Some(AmqpValue::LongString(s)) => s.clone(),
                other => panic!("x-death {k}: {other:?}"),
            };
            let count = match entry.get("count") {
                Some(AmqpValue::LongLongInt(n)) => *n,
                other => panic!("x-death count: {other:?}"),
            };
            (text("queue"), text("reason"), count)
        })
        .collect()
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_x_death_a_client_publishes_again_counts_on_3_10_and_starts_afresh_on_4() {
    let vhost = Vhost::new("x-death-republished");
    let session = common::connect_to(&vhost.address()).unwrap();
    let channel = session.channel();
    let durable = |arguments: FieldTable| QueueDeclareOptions {
        durable: true,
        arguments,
        ..Default::default()
    };
    let mut work = FieldTable::new();
    work.insert("x-queue-type".into(), text_value("quorum"));
    channel.queue_declare("work", durable(work)).unwrap();
    // A waiting queue that dead-letters back to `work` after 100 ms.
    let mut wait = FieldTable::new();
    wait.insert("x-message-ttl".into(), AmqpValue::LongLongInt(100));
    wait.insert("x-dead-letter-exchange".into(), text_value(""));
    wait.insert("x-dead-letter-routing-key".into(), text_value("work"));
    channel.queue_declare("wait", durable(wait)).unwrap();

    let get = || {
        let deadline = Instant::now() + harness::PATIENCE;
        loop {
            if let Some(got) = channel.basic_get("work", true).unwrap() {
                return got.delivery.properties;
            }
            assert!(Instant::now() < deadline, "nothing came back to work");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut properties = AmqpProperties::default().with_delivery_mode(2);
    let mut counts = Vec::new();
    for _ in 0..4 {
        // The usual recipe: publish the message again with the headers it came with.
        channel
            .basic_publish("", Publish::with_properties(b"job", "wait", properties))
            .unwrap();
        properties = get();
        let deaths = x_death(&properties);
        assert_eq!(deaths.len(), 1, "{deaths:?}");
        assert_eq!(
            (deaths[0].0.as_str(), deaths[0].1.as_str()),
            ("wait", "expired")
        );
        counts.push(deaths[0].2);
    }
    let version = broker_version();
    println!(
        "RabbitMQ {version:?}: x-death count of a message republished with its x-death: {counts:?}"
    );
    if version.0 >= 4 {
        assert_eq!(
            counts,
            [1, 1, 1, 1],
            "4.x starts the history of a client's message afresh"
        );
    } else {
        assert_eq!(
            counts,
            [1, 2, 3, 4],
            "3.10 goes on counting in the x-death a client copied"
        );
    }
    session.close().unwrap();
}

/// Runs job_worker until it exits (a poison job kills it), or `None` if it took no job
/// within `wait`.
fn crash_once(vhost: &Vhost, wait: Duration) -> Option<String> {
    let worker = vhost.consumer(JOB_WORKER, &[]);
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if worker.lines().iter().any(|l| l.starts_with("error: job ")) {
            let (status, lines) = worker.wait();
            assert_eq!(status.code(), Some(1), "{lines:?}");
            return lines.into_iter().find(|l| l.starts_with(" [x] Job "));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    worker.interrupt();
    None
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_poison_job_dies_at_the_default_delivery_limit_on_4_and_loops_on_3_10() {
    let vhost = Vhost::new("poison-default");
    let dead = vhost.consumer(RECEIVE_DEAD, &[]);
    vhost.produce(EMIT_JOB, &["poison", "pill"]);
    let version = broker_version();
    // 4.x: 20 by default, so the job dies after its 21st delivery. 3.10: no default; 25
    // deliveries show it loops, and then a policy ends it.
    let runs = if version.0 >= 4 { 21 } else { 25 };
    for n in 1..=runs {
        let line = crash_once(&vhost, harness::PATIENCE)
            .unwrap_or_else(|| panic!("delivery {n}: the poison job did not come back"));
        assert!(line.ends_with(&format!("(attempt {n})")), "{line}");
    }
    if version.0 >= 4 {
        assert!(
            crash_once(&vhost, Duration::from_secs(2)).is_none(),
            "a 22nd delivery"
        );
    } else {
        assert!(
            dead.received().is_empty(),
            "3.10 has no default delivery limit"
        );
        // A policy sets the limit on the live queue; the next return of the job ends it.
        broker(
            &vhost,
            &[
                "set_policy",
                "limit",
                "^jobs$",
                r#"{"delivery-limit":20}"#,
                "--apply-to",
                "queues",
            ],
        );
        let _ = crash_once(&vhost, Duration::from_secs(2));
    }
    let lines = dead.wait_for_lines(1, |l| l.starts_with(" [x] Dead "));
    assert!(
        lines[0].ends_with(": poison pill (reason delivery_limit, from jobs)"),
        "{lines:?}"
    );
    if version.0 >= 4 {
        println!("RabbitMQ {version:?}: the poison job was dead-lettered (delivery_limit) after {runs} deliveries, by the default limit");
    } else {
        println!("RabbitMQ {version:?}: the poison job was delivered {runs} times with no limit; a delivery-limit policy then dead-lettered it");
    }
    dead.interrupt();
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_message_ttl_waits_behind_a_longer_one_at_the_head_of_the_queue() {
    let vhost = Vhost::new("head-of-line");
    let dead = vhost.consumer(RECEIVE_DEAD, &[]);
    vhost.produce(EMIT_JOB, &["--ttl", "60000", "slow"]);
    vhost.produce(EMIT_JOB, &["--ttl", "1000", "quick"]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        dead.received().is_empty(),
        "the quick job died though the slow one is in front of it: {:?}",
        dead.lines()
    );
    // Alone, the same 1 s job dies on time.
    broker(&vhost, &["purge_queue", "jobs"]);
    vhost.produce(EMIT_JOB, &["--ttl", "1000", "alone"]);
    let lines = dead.wait_for_lines(1, |l| l.starts_with(" [x] Dead "));
    assert!(
        lines[0].ends_with(": alone (reason expired, from jobs)"),
        "{lines:?}"
    );
    dead.interrupt();
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_queue_declared_with_other_dead_letter_arguments_is_explained_in_one_line() {
    let vhost = Vhost::new("other-dlx");
    let session = common::connect_to(&vhost.address()).unwrap();
    let mut arguments = FieldTable::new();
    arguments.insert("x-queue-type".into(), text_value("quorum"));
    arguments.insert("x-dead-letter-exchange".into(), text_value("other"));
    session
        .channel()
        .queue_declare(
            "jobs",
            QueueDeclareOptions {
                durable: true,
                arguments,
                ..Default::default()
            },
        )
        .unwrap();
    session.close().unwrap();
    for program in [EMIT_JOB, JOB_WORKER, RECEIVE_DEAD] {
        let output = vhost.run(
            program,
            &["a", "job"][..if program == EMIT_JOB { 2 } else { 0 }],
        );
        let (stdout, stderr) = harness::text(&output);
        assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: the broker refused: PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue 'jobs'"),
            "{stderr}"
        );
        assert!(
            stderr.contains("delete_queue")
                && stderr.contains("a policy (scripts/broker set_policy)"),
            "{stderr}"
        );
    }
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_malformed_x_death_from_a_foreign_producer_gets_one_clear_line() {
    let vhost = Vhost::new("foreign-x-death");
    let dead = vhost.consumer(RECEIVE_DEAD, &[]);
    let session = common::connect_to(&vhost.address()).unwrap();
    let publish = |x_death: Option<AmqpValue>, body: &[u8]| {
        let mut headers = FieldTable::new();
        if let Some(value) = x_death {
            headers.insert("x-death".into(), value);
        }
        let properties = AmqpProperties::default()
            .with_message_id("foreign1".into())
            .with_headers(headers);
        session
            .channel()
            .basic_publish("jobs.dead", Publish::with_properties(body, "", properties))
            .unwrap();
    };
    publish(Some(text_value("garbage")), b"a string");
    publish(
        Some(AmqpValue::FieldArray(vec![AmqpValue::LongLongInt(7)])),
        b"a number",
    );
    publish(None, b"no header");
    session.close().unwrap();
    let lines = dead.wait_for_lines(3, |l| l.starts_with(" [!] Dead "));
    assert_eq!(
        lines,
        [
            " [!] Dead foreign1: a string (cannot say why: its x-death header is not the broker's: a list of tables, each with a reason and a queue)",
            " [!] Dead foreign1: a number (cannot say why: its x-death header is not the broker's: a list of tables, each with a reason and a queue)",
            " [!] Dead foreign1: no header (cannot say why: it has no x-death header: it was published there directly, not dead-lettered)",
        ]
    );
    // It goes on reading: a real dead letter still comes through.
    vhost.produce(EMIT_JOB, &["--ttl", "1", "expired"]);
    dead.wait_for_lines(1, |l| l.ends_with(": expired (reason expired, from jobs)"));
    let lines = dead.interrupt();
    assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:?}");
}

/// A program of the chapter, started with `JOBS_SETTINGS=policy`, once it is ready.
fn with_policies(vhost: &Vhost, program: &str) -> harness::Running {
    let mut command = vhost.command(program, &[]);
    command.env("JOBS_SETTINGS", "policy");
    let running = harness::Running::spawn(command);
    running.wait_for_lines(1, harness::is_ready);
    running
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_programs_work_with_dead_lettering_set_by_policies_instead_of_arguments() {
    let vhost = Vhost::new("by-policy");
    // As the guide shows them: one policy per queue, all its keys in it.
    broker(
        &vhost,
        &[
            "set_policy",
            "jobs",
            "^jobs$",
            r#"{"dead-letter-exchange":"jobs.dead"}"#,
            "--apply-to",
            "queues",
        ],
    );
    // (With a retry of 1 s instead of the guide's 5: the TTL is the policy's to say.)
    broker(
        &vhost,
        &[
            "set_policy",
            "jobs-retry",
            r"^jobs\.retry$",
            r#"{"message-ttl":1000,"dead-letter-exchange":"jobs","dead-letter-routing-key":"jobs"}"#,
            "--apply-to",
            "queues",
        ],
    );
    let dead = with_policies(&vhost, RECEIVE_DEAD);
    let worker = with_policies(&vhost, JOB_WORKER);
    for words in ["fail to parse", "flaky upload"] {
        let mut command = vhost.command(EMIT_JOB, &[words]);
        command.env("JOBS_SETTINGS", "policy");
        assert!(command.output().unwrap().status.success());
    }
    dead.wait_for_lines(1, |l| {
        l.ends_with(": fail to parse (reason rejected, from jobs)")
    });
    worker.wait_for_lines(1, |l| l.ends_with(": flaky upload (attempt 2)"));

    // The queues exist without arguments now: a program that declares them with arguments is
    // refused, in one line that names the way out.
    let output = vhost.run(EMIT_JOB, &["x"]);
    let (_, stderr) = harness::text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: the broker refused: PRECONDITION_FAILED - inequivalent arg 'x-"),
        "{stderr}"
    );
    assert!(stderr.contains("JOBS_SETTINGS=policy"), "{stderr}");
    worker.interrupt();
    dead.interrupt();

    let mut command = vhost.command(RECEIVE_DEAD, &[]);
    command.env("JOBS_SETTINGS", "policies");
    let output = command.output().unwrap();
    let (_, stderr) = harness::text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: JOBS_SETTINGS is 'policies'"),
        "{stderr}"
    );
}

#[test]
fn emit_job_checks_its_arguments_before_connecting() {
    for (args, problem) in [
        (
            &["--ttl", "soon", "x"][..],
            "error: --ttl takes milliseconds, a whole number up to 4294967295: 'soon'",
        ),
        (
            &["--ttl", "5000"][..],
            "error: say what the job is: emit_job <words>...",
        ),
        (
            &["--ttl"][..],
            "error: --ttl takes milliseconds, a whole number up to 4294967295: ''",
        ),
        (&["--tll", "5", "x"][..], "error: unknown option '--tll'"),
    ] {
        // Port 1: nothing listens there, so a program that connected would fail otherwise.
        let output = std::process::Command::new(EMIT_JOB)
            .args(args)
            .env("AMQP_URL", "amqp://127.0.0.1:1/%2f")
            .output()
            .unwrap();
        let (_, stderr) = harness::text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("Usage: emit_job [--ttl <ms>] <words>..."),
            "{stderr}"
        );
        assert!(stderr.contains(problem), "{args:?}: {stderr}");
    }
}

/// `scripts/broker ARGS` in the test's vhost (the test node: scripts/test exports its port).
fn broker(vhost: &Vhost, args: &[&str]) {
    let output = std::process::Command::new(harness::workspace_root().join("scripts/broker"))
        .args(args)
        .env("RABBITMQ_VHOST", &vhost.name)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "scripts/broker {args:?}: {:?}",
        harness::text(&output)
    );
}
