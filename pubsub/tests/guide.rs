//! The chapter's guide (pubsub/README.md) and its Chinese sibling run as they read,
//! against the test broker; the Chinese one has the English one's commands and output.

/// The programs the guides run.
const PROGRAMS: [(&str, &str); 2] = [
    ("emit_log", env!("CARGO_BIN_EXE_emit_log")),
    ("receive_logs", env!("CARGO_BIN_EXE_receive_logs")),
];

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    harness::run_guide("pubsub/README.md", &PROGRAMS, &[]);
}

#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("pubsub/README.md", "pubsub/README.zh-CN.md");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    harness::run_guide("pubsub/README.zh-CN.md", &PROGRAMS, &[]);
}
