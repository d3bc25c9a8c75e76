//! The chapter's guide (dead-letters/README.md) runs as it reads, against the test broker, and
//! so do the transcripts of its notes (dead-letters/NOTES.md). The Chinese guide has the guide's
//! commands and output, block by block, so it runs as written too without being run again.

/// The programs the guide runs.
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

/// The chapter's notes (dead-letters/NOTES.md) show the head-of-line trap as a guide does.
#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_notes_run_as_written() {
    harness::run_guide("dead-letters/NOTES.md", &PROGRAMS, &[]);
}

#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("dead-letters/README.md", "dead-letters/README.zh-CN.md");
}
