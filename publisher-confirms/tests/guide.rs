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
