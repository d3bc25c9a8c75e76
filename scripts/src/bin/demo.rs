//! `scripts/demo`: runs the demo part of each chapter's guide (`--help`).

fn main() -> std::process::ExitCode {
    scripts::demo::main()
}
