//! The chapter's guide (rpc/README.md) runs as it reads, against the test broker.

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chapter_guide_runs_as_written() {
    let programs = [
        ("rpc_server", env!("CARGO_BIN_EXE_rpc_server")),
        ("rpc_client", env!("CARGO_BIN_EXE_rpc_client")),
    ];
    harness::run_guide("rpc/README.md", &programs, &[]);
}
