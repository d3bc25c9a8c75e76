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

/// The Chinese guide (rpc/README.zh-CN.md) has the English guide's commands and output.
#[test]
fn the_chinese_guide_has_the_same_commands() {
    harness::assert_same_commands("rpc/README.md", "rpc/README.zh-CN.md");
}

#[test]
#[ignore = "needs RabbitMQ: run scripts/test"]
fn the_chinese_guide_runs_as_written() {
    let programs = [
        ("rpc_server", env!("CARGO_BIN_EXE_rpc_server")),
        ("rpc_client", env!("CARGO_BIN_EXE_rpc_client")),
    ];
    harness::run_guide("rpc/README.zh-CN.md", &programs, &[]);
}
