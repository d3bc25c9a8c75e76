//! The chapter's guide (work-queues/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [
        ("new_task", env!("CARGO_BIN_EXE_new_task")),
        ("worker", env!("CARGO_BIN_EXE_worker")),
    ];
    harness::run_guide(
        "work-queues/README.md",
        &programs,
        // The long task's 10 dots leave `scripts/broker queues` 6 s to see it unacked.
        &[("WORKER_SECONDS_PER_DOT", "0.6")],
    );
}

/// The Chinese guides (README.zh-CN.md, CLUSTER.zh-CN.md) have the English guides' commands and
/// output.
#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("work-queues/README.md", "work-queues/README.zh-CN.md");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    let programs = [
        ("new_task", env!("CARGO_BIN_EXE_new_task")),
        ("worker", env!("CARGO_BIN_EXE_worker")),
    ];
    harness::run_guide(
        "work-queues/README.zh-CN.md",
        &programs,
        &[("WORKER_SECONDS_PER_DOT", "0.6")],
    );
}

/// CLUSTER.md runs as a guide in tests/cluster.rs, on a cluster (about 2 minutes). Its Chinese
/// sibling is not run a second time: this test compares all that the guide runner reads (where
/// sections start, each block's kind and version, its commands and output), so a second run
/// would take as long and check nothing more.
#[test]
fn the_chinese_cluster_guide_has_the_same_commands() {
    harness::assert_same_commands("work-queues/CLUSTER.md", "work-queues/CLUSTER.zh-CN.md");
}
