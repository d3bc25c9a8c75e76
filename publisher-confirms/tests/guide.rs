//! The chapter's guide (publisher-confirms/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [(
        "publisher_confirms",
        env!("CARGO_BIN_EXE_publisher_confirms"),
    )];
    harness::run_guide("publisher-confirms/README.md", &programs, &[]);
}

/// The Chinese guide (publisher-confirms/README.zh-CN.md) has the English guide's commands and
/// output.
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
    let programs = [(
        "publisher_confirms",
        env!("CARGO_BIN_EXE_publisher_confirms"),
    )];
    harness::run_guide("publisher-confirms/README.zh-CN.md", &programs, &[]);
}
