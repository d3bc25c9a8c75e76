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

/// The Chinese guide (dead-letters/README.zh-CN.md) has the English guide's commands and output.
#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("dead-letters/README.md", "dead-letters/README.zh-CN.md");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    let programs = [
        ("emit_job", env!("CARGO_BIN_EXE_emit_job")),
        ("job_worker", env!("CARGO_BIN_EXE_job_worker")),
        ("receive_dead", env!("CARGO_BIN_EXE_receive_dead")),
    ];
    harness::run_guide("dead-letters/README.zh-CN.md", &programs, &[]);
}
