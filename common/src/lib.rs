//! What every chapter of the course shares, so that a chapter's binary shows only its own AMQP
//! calls (declare, bind, publish, consume, ack, qos). [`README.md`](../README.md) maps its files.
//!
//! - [`run`] wraps a program's `main`: logging (`RUST_LOG=debug` shows the AMQP traffic), and
//!   any failure printed as one line on stderr with a hint, exit status 1. Never a panic, a
//!   backtrace or a password.
//! - [`args`] and [`Args`] read the command line: `--help`, `--`, options, numbers.
//! - [`connect`] opens the connection and a channel from the environment: `AMQP_URL`, else
//!   `RABBITMQ_HOST`, `RABBITMQ_PORT`, `RABBITMQ_USER`, `RABBITMQ_PASSWORD`, `RABBITMQ_VHOST`.
//! - [`deliveries`] and [`work`] let a consumer wait and work until Ctrl+C or SIGTERM, after
//!   which [`run`] prints `Interrupted` and exits 0; [`Session::next_delivery`] waits for one
//!   answer, with a deadline.
//!
//! amiquip 0.4.2's hardening (frames checked before amiquip parses them, a watchdog on every
//! wait, TLS through the same checks, closing within a bound, secrets kept out of every line)
//! is a package of its own, `guard` (common/guard). The tests' harness is `harness`
//! (common/testing).

mod args;
mod connect;
mod consume;
mod interrupt;
mod report;
mod session;

pub use args::{args, check_key, message, number, seconds, usage, usage_line, utc_time, Args};
pub use connect::{connect, connect_to};
pub use consume::{cancel, deliveries, leave, work};
pub use guard::{hint, BrokerAddress, Failure};
pub use report::{describe, not_found, refused, Interrupted, Usage};
pub use session::{not_confirmed, Session};

use std::io::Write;
use std::process::ExitCode;

/// Runs a chapter's program and turns its outcome into the exit status: 0 on success (and
/// after Ctrl+C, printing `Interrupted`), 1 with one line on stderr on failure.
pub fn run(program: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    init_logging();
    end_panics_in_one_line();
    interrupt::install();
    let Err(error) = program() else {
        return ExitCode::SUCCESS;
    };
    if error.is::<Interrupted>() {
        println!("Interrupted");
        return ExitCode::SUCCESS;
    }
    if let Some(help) = error.downcast_ref::<report::Help>() {
        println!("{help}");
        return ExitCode::SUCCESS;
    }
    let line = match error.downcast_ref::<Usage>() {
        Some(usage) => usage.to_string(),
        None => format!("error: {}", describe(&error)),
    };
    let _ = std::io::stdout().flush();
    eprintln!("{line}");
    ExitCode::FAILURE
}

/// A panic anywhere (in amiquip's I/O thread too, or `println!` meeting a closed pipe, as in
/// `receive_logs | head -1`) ends the program with one line on stderr and status 1: never a
/// backtrace, whatever `RUST_BACKTRACE` says.
fn end_panics_in_one_line() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "an unexpected failure".to_string());
        let hint = if what.contains("Broken pipe") {
            "the program reading this one's output has ended"
        } else {
            "RUST_LOG=debug shows the AMQP traffic that led to it"
        };
        let line = guard::printable(&guard::secrets::redact(&what));
        let _ = writeln!(std::io::stderr(), "error: {line} (hint: {hint})");
        std::process::exit(1);
    }));
}

/// Logs to stderr as `RUST_LOG` says (nothing by default), with every secret redacted:
/// amiquip logs the login frame, password included, at debug level.
fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("off");
    let _ = env_logger::Builder::from_env(env)
        .format(|buf, record| {
            let message = guard::secrets::redact_log(&record.args().to_string());
            writeln!(buf, "[{} {}] {message}", record.level(), record.target())
        })
        .try_init();
}
