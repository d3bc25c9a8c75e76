//! `scripts/bench`: the course's benchmark against a node of its own (`--help`).

fn main() -> std::process::ExitCode {
    scripts::bench::main()
}
