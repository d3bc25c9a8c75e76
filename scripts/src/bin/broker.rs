//! `scripts/broker`: the course's RabbitMQ node, its listings and admin commands (`--help`).

fn main() -> std::process::ExitCode {
    scripts::broker::main()
}
