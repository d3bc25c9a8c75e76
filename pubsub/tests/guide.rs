//! The chapter's guide (pubsub/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [
        ("emit_log", env!("CARGO_BIN_EXE_emit_log")),
        ("receive_logs", env!("CARGO_BIN_EXE_receive_logs")),
    ];
    harness::run_guide("pubsub/README.md", &programs, &[]);
}
