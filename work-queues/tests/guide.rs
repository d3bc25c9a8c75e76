//! The chapter's guide (work-queues/README.md) runs as it reads, against the test broker. Its Chinese
//! sibling has the same commands and output, block by block, so it runs as written too without
//! being run again.

/// The programs the guide runs.
const PROGRAMS: [(&str, &str); 2] = [
    ("new_task", env!("CARGO_BIN_EXE_new_task")),
    ("worker", env!("CARGO_BIN_EXE_worker")),
];

// The long task's 10 dots leave `scripts/broker queues` 10 s to see it unacked, as a learner's
// default does: its rabbitmqctl boots an Erlang VM, which took more than 6 s on a machine
// loaded well past its two cores (0.6 s a dot failed there).
const ENV: [(&str, &str); 1] = [("WORKER_SECONDS_PER_DOT", "1")];

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    harness::run_guide("work-queues/README.md", &PROGRAMS, &ENV);
}

#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("work-queues/README.md", "work-queues/README.zh-CN.md");
}

/// CLUSTER.md runs as a guide in tests/cluster.rs, on a cluster; its Chinese sibling has its
/// commands and output.
#[test]
fn the_chinese_cluster_guide_has_the_same_commands() {
    harness::assert_same_commands("work-queues/CLUSTER.md", "work-queues/CLUSTER.zh-CN.md");
}
