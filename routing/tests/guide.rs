//! The chapter's guide (routing/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [
        ("emit_log_direct", env!("CARGO_BIN_EXE_emit_log_direct")),
        (
            "receive_logs_direct",
            env!("CARGO_BIN_EXE_receive_logs_direct"),
        ),
    ];
    harness::run_guide("routing/README.md", &programs, &[]);
}
