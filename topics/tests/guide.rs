//! The chapter's guide (topics/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [
        ("emit_log_topic", env!("CARGO_BIN_EXE_emit_log_topic")),
        (
            "receive_logs_topic",
            env!("CARGO_BIN_EXE_receive_logs_topic"),
        ),
    ];
    harness::run_guide("topics/README.md", &programs, &[]);
}

/// The Chinese guide (topics/README.zh-CN.md) has the English guide's commands and output.
#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("topics/README.md", "topics/README.zh-CN.md");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    let programs = [
        ("emit_log_topic", env!("CARGO_BIN_EXE_emit_log_topic")),
        (
            "receive_logs_topic",
            env!("CARGO_BIN_EXE_receive_logs_topic"),
        ),
    ];
    harness::run_guide("topics/README.zh-CN.md", &programs, &[]);
}
