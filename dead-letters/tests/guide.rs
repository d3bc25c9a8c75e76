//! The chapter's guide (dead-letters/README.md) and its Chinese sibling run as they read,
//! against the test broker; the Chinese one has the English one's commands and output.

/// The programs the guides run.
const PROGRAMS: [(&str, &str); 3] = [
    ("emit_job", env!("CARGO_BIN_EXE_emit_job")),
    ("job_worker", env!("CARGO_BIN_EXE_job_worker")),
    ("receive_dead", env!("CARGO_BIN_EXE_receive_dead")),
];

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    harness::run_guide("dead-letters/README.md", &PROGRAMS, &[]);
}

#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("dead-letters/README.md", "dead-letters/README.zh-CN.md");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    harness::run_guide("dead-letters/README.zh-CN.md", &PROGRAMS, &[]);
}
