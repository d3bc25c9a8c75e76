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
