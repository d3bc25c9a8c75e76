//! `scripts/test`: every test against a private RabbitMQ test node (`--help`).

fn main() -> std::process::ExitCode {
    scripts::test::main()
}
