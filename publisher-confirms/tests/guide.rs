//! The chapter's guide (publisher-confirms/README.md) and its Chinese sibling run as they read,
//! against the test broker; the Chinese one has the English one's commands and output.

/// The programs the guides run.
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

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    harness::run_guide("publisher-confirms/README.zh-CN.md", &PROGRAMS, &[]);
}
