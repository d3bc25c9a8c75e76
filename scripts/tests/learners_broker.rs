//! The guides on a broker the learner already runs (the distribution's service, Docker's
//! `rabbitmq:4-management`): `scripts/broker` finds no node of its own (no `.broker/<node>/pid`)
//! but an AMQP broker on the port, and goes through that broker's management API. Here the
//! broker is the test node, seen under a node name that scripts/broker did not start. Run with
//! scripts/test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on what it did not expect

use harness::{program, text, PrivateNode, Vhost};
use std::process::{Command, Output};
use std::time::Duration;

/// A node name with no state folder: scripts/broker treats the broker on the port as another's.
const NOT_OURS: (&str, &str) = ("BROKER_NODE", "a-learners-own@localhost");

const PROGRAMS: [&str; 17] = [
    "send",
    "receive",
    "new_task",
    "worker",
    "emit_log",
    "receive_logs",
    "emit_log_direct",
    "receive_logs_direct",
    "emit_log_topic",
    "receive_logs_topic",
    "rpc_server",
    "rpc_client",
    "publisher_confirms",
    "send_stream",
    "receive_stream",
    "offset_tracking_send",
    "offset_tracking_receive",
];

/// Runs a chapter's guide with its `scripts/broker` commands answered by the management API.
fn guide_on_a_learners_broker(path: &str, env: &[(&str, &str)]) {
    let paths: Vec<(&str, String)> = PROGRAMS.iter().map(|p| (*p, program(p))).collect();
    let programs: Vec<(&str, &str)> = paths.iter().map(|(n, p)| (*n, p.as_str())).collect();
    let mut all = vec![NOT_OURS];
    all.extend_from_slice(env);
    harness::run_guide(path, &programs, &all);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_1s_guide_reads_the_same_on_a_broker_the_learner_already_runs() {
    guide_on_a_learners_broker("hello/README.md", &[]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_2s_guide_reads_the_same_on_a_broker_the_learner_already_runs() {
    // The long task's 10 dots take 20 s: the listing that shows it unacked takes 6 s or more.
    guide_on_a_learners_broker("work-queues/README.md", &[("WORKER_SECONDS_PER_DOT", "2")]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_3s_guide_reads_the_same_on_a_broker_the_learner_already_runs() {
    guide_on_a_learners_broker("pubsub/README.md", &[]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_4s_guide_reads_the_same_on_a_broker_the_learner_already_runs() {
    guide_on_a_learners_broker("routing/README.md", &[]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_5s_guide_reads_the_same_on_a_broker_the_learner_already_runs() {
    guide_on_a_learners_broker("topics/README.md", &[]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_8s_guide_reads_the_same_on_a_broker_the_learner_already_runs() {
    guide_on_a_learners_broker("streams/README.md", &[]);
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_6s_guide_reads_the_same_on_a_broker_the_learner_already_runs() {
    guide_on_a_learners_broker("rpc/README.md", &[]);
}

/// `scripts/broker ARGS` as a learner runs it against their own broker, in `vhost`.
fn broker(vhost: &Vhost, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_broker"))
        .args(args)
        .env(NOT_OURS.0, NOT_OURS.1)
        .env("RABBITMQ_VHOST", &vhost.name)
        .output()
        .unwrap()
}

fn succeeds(output: Output) -> String {
    assert!(output.status.success(), "{:?}", text(&output));
    text(&output).0
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_7s_policy_example_works_through_the_management_api() {
    let vhost = Vhost::new("learner-policy");
    let confirms = program("publisher_confirms");
    // publisher-confirms/README.md, "When the broker says no".
    let set = succeeds(broker(
        &vhost,
        &[
            "set_policy",
            "cap",
            r"^amq\.gen-",
            r#"{"max-length":10,"overflow":"reject-publish"}"#,
            "--apply-to",
            "queues",
        ],
    ));
    assert!(set.starts_with("Setting policy \"cap\""), "{set}");
    let listed = succeeds(broker(&vhost, &["list_policies"]));
    assert!(
        listed.contains(
            "\tcap\t^amq\\.gen-\tqueues\t{\"max-length\":10,\"overflow\":\"reject-publish\"}\t0"
        ),
        "{listed}"
    );
    let refused = vhost.run(&confirms, &["50"]);
    assert_eq!(refused.status.code(), Some(1), "{:?}", text(&refused));
    assert!(
        text(&refused)
            .1
            .starts_with("error: the broker refused (nacked) message 10"),
        "{:?}",
        text(&refused)
    );
    succeeds(broker(&vhost, &["clear_policy", "cap"]));
    vhost.produce(&confirms, &["50"]);

    // The other definitions the later chapters use, with a priority, as rabbitmqctl takes them.
    succeeds(broker(
        &vhost,
        &[
            "set_policy",
            "--priority",
            "5",
            "letters",
            "^work$",
            r#"{"dead-letter-exchange":"dlx","message-ttl":1000,"max-length":3,"delivery-limit":2}"#,
        ],
    ));
    let policy = vhost
        .api(&format!("/api/policies/{}/letters", vhost.encoded()))
        .expect("the policy 'letters'");
    assert_eq!(policy["priority"], 5);
    assert_eq!(policy["apply-to"], "all");
    assert_eq!(policy["definition"]["delivery-limit"], 2);
    let bad = broker(&vhost, &["set_policy", "x", ".*", "not json"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad).1.contains("not a JSON object"),
        "{:?}",
        text(&bad)
    );
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn queues_and_exchanges_are_listed_and_deleted_through_the_management_api() {
    let vhost = Vhost::new("learner-delete");
    vhost.run(&program("emit_log"), &[]); // declares the fanout exchange 'logs'
    vhost.produce(&program("send"), &[]);
    let exchanges = succeeds(broker(&vhost, &["exchanges"]));
    assert!(
        exchanges.lines().any(|l| l == "logs\tfanout"),
        "{exchanges}"
    );
    let queues = succeeds(broker(
        &vhost,
        &[
            "list_queues",
            "--no-table-headers",
            "-q",
            "name",
            "messages",
            "durable",
        ],
    ));
    assert_eq!(queues, "hello\t1\tfalse\n");
    succeeds(broker(&vhost, &["delete_queue", "hello"]));
    succeeds(broker(&vhost, &["delete_exchange", "logs"]));
    assert!(vhost.queue_names().is_empty());
    let exchanges = succeeds(broker(&vhost, &["exchanges"]));
    assert!(!exchanges.contains("logs"), "{exchanges}");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn a_listing_right_after_two_sends_shows_them_on_a_broker_whose_statistics_lag_5_s() {
    // A broker as installed: statistics every 5 s (the course's node collects every second).
    let node = PrivateNode::start_with_config("learner-lag", "collect_statistics_interval = 5000");
    let listing = || {
        let output = Command::new(env!("CARGO_BIN_EXE_broker"))
            .args(["queues"])
            .env(NOT_OURS.0, NOT_OURS.1)
            .env("BROKER_PORT", node.port.to_string())
            .env(
                "BROKER_HTTP_PORT",
                scripts::nodes::management_port(node.port)
                    .unwrap()
                    .to_string(),
            )
            .env("BROKER_TLS_PORT", "")
            .env_remove("RABBITMQ_VHOST")
            .env_remove("BROKER_API_SETTLE")
            .output()
            .unwrap();
        let (out, err) = text(&output);
        assert!(output.status.success(), "{out}{err}");
        assert!(
            out.starts_with("Listing queues for vhost / ...\n"),
            "the counts are settled: {out}"
        );
        out.lines().skip(2).map(String::from).collect::<Vec<_>>()
    };
    let vhost = node.vhost();
    let send = program("send");
    // A new queue: the API has no figures for it for a few seconds.
    vhost.produce(&send, &[]);
    vhost.produce(&send, &[]);
    assert_eq!(listing(), ["hello\t2\t0"]);
    // A queue the API knows: its figures are a few seconds old.
    vhost.produce(&send, &[]);
    vhost.produce(&send, &[]);
    assert_eq!(listing(), ["hello\t4\t0"]);
}

/// Chapter 9's broker commands, as its guide uses them ("A queue that is full"), through the
/// management API. Its whole guide is not run here: a retry waits 5 s in `jobs.retry`, and a
/// listing through the API takes up to 6 s to settle, so the guide's listing of the retry queue
/// races the TTL on such a broker.
#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn chapter_9s_policy_purge_and_listing_work_through_the_management_api() {
    let vhost = Vhost::new("learner-dead-letters");
    let emit_job = program("emit_job");
    let quiet = succeeds(broker(
        &vhost,
        &[
            "set_policy",
            "-q",
            "jobs-limits",
            "^jobs$",
            r#"{"max-length":2}"#,
            "--apply-to",
            "queues",
        ],
    ));
    assert_eq!(quiet, "", "set_policy -q prints nothing");
    for job in ["first in line", "second in line", "third in line"] {
        let output = vhost.run(&emit_job, &[job]);
        assert!(output.status.success(), "{:?}", text(&output));
    }
    // The API's counts follow the queues by seconds: a guide's listing is polled the same way.
    let queues = |want: &str| {
        harness::eventually_within(Duration::from_secs(30), want, || {
            let listing = succeeds(broker(&vhost, &["queues"]));
            listing.lines().any(|l| l == want).then_some(())
        })
    };
    // The first job was pushed out of the full queue into the dead letters.
    queues("jobs\t2\t0");
    queues("jobs.dead\t1\t0");
    succeeds(broker(&vhost, &["purge_queue", "jobs"]));
    queues("jobs\t0\t0");
    assert_eq!(
        succeeds(broker(&vhost, &["clear_policy", "-q", "jobs-limits"])),
        ""
    );
    assert!(!succeeds(broker(&vhost, &["list_policies"])).contains("jobs-limits"));
}
