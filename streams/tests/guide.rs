//! The chapter's guide (streams/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [
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
    harness::run_guide("streams/README.md", &programs, &[]);
}
