//! The chapter's guide (streams/README.md) runs as it reads, against the test broker. Its Chinese
//! sibling has the same commands and output, block by block, so it runs as written too without
//! being run again.

/// The programs the guide runs.
const PROGRAMS: [(&str, &str); 4] = [
    ("send_stream", env!("CARGO_BIN_EXE_send_stream")),
    ("receive_stream", env!("CARGO_BIN_EXE_receive_stream")),
    (
        "offset_tracking_send",
        env!("CARGO_BIN_EXE_offset_tracking_send"),
    ),
    (
        "offset_tracking_receive",
        env!("CARGO_BIN_EXE_offset_tracking_receive"),
    ),
];

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    harness::run_guide("streams/README.md", &PROGRAMS, &[]);
}

#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("streams/README.md", "streams/README.zh-CN.md");
}
