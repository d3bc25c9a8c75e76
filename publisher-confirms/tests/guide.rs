//! The chapter's guide (publisher-confirms/README.md) runs as it reads, against the test broker. Its Chinese
//! sibling has the same commands and output, block by block, so it runs as written too without
//! being run again.

/// The programs the guide runs.
const PROGRAMS: [(&str, &str); 1] = [(
    "publisher_confirms",
    env!("CARGO_BIN_EXE_publisher_confirms"),
)];

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    harness::run_guide("publisher-confirms/README.md", &PROGRAMS, &[]);
}

#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands(
        "publisher-confirms/README.md",
        "publisher-confirms/README.zh-CN.md",
    );
}
