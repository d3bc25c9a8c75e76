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

/// The Chinese guide (pubsub/README.zh-CN.md) has the English guide's commands and output.
#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("pubsub/README.md", "pubsub/README.zh-CN.md");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    let programs = [
        ("emit_log", env!("CARGO_BIN_EXE_emit_log")),
        ("receive_logs", env!("CARGO_BIN_EXE_receive_logs")),
    ];
    harness::run_guide("pubsub/README.zh-CN.md", &programs, &[]);
}
