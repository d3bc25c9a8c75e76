//! The chapter's guide (hello/README.md) runs as it reads, against the test broker. Its Chinese
//! sibling has the same commands and output, block by block, so it runs as written too without
//! being run again.

/// The programs the guide runs.
const PROGRAMS: [(&str, &str); 2] = [
    ("send", env!("CARGO_BIN_EXE_send")),
    ("receive", env!("CARGO_BIN_EXE_receive")),
];

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    harness::run_guide("hello/README.md", &PROGRAMS, &[]);
}

#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("hello/README.md", "hello/README.zh-CN.md");
}
