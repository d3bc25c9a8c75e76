//! The chapter's guide (hello/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [
        ("send", env!("CARGO_BIN_EXE_send")),
        ("receive", env!("CARGO_BIN_EXE_receive")),
    ];
    harness::run_guide("hello/README.md", &programs, &[]);
}

/// The Chinese guide (hello/README.zh-CN.md) has the English guide's commands and output.
#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("hello/README.md", "hello/README.zh-CN.md");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    let programs = [
        ("send", env!("CARGO_BIN_EXE_send")),
        ("receive", env!("CARGO_BIN_EXE_receive")),
    ];
    harness::run_guide("hello/README.zh-CN.md", &programs, &[]);
}
