//! The chapter's guide (dead-letters/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [
        ("emit_job", env!("CARGO_BIN_EXE_emit_job")),
        ("job_worker", env!("CARGO_BIN_EXE_job_worker")),
        ("receive_dead", env!("CARGO_BIN_EXE_receive_dead")),
    ];
    harness::run_guide("dead-letters/README.md", &programs, &[]);
}
