//! What every chapter of the course shares, so that a chapter's binary shows only its own AMQP
//! calls (declare, bind, publish, consume, ack, qos):
//!
//! - [`run`] wraps a program's `main`: logging (`RUST_LOG=debug` shows the AMQP traffic), and
//!   any failure printed as one line on stderr with a hint, exit status 1. Never a panic, a
//!   backtrace or a password.
//! - [`args`] reads the command line: `--help`, `--`, unknown flags.
//! - [`connect`] opens the connection and a channel from the environment: `AMQP_URL`, else
//!   `RABBITMQ_HOST`, `RABBITMQ_PORT`, `RABBITMQ_USER`, `RABBITMQ_PASSWORD`, `RABBITMQ_VHOST`.
//! - [`deliveries`] and [`work`] let a consumer wait and work until Ctrl+C or SIGTERM, after
//!   which [`run`] prints `Interrupted` and exits 0; [`next_delivery`] waits for one answer,
//!   with a deadline.
//!
//! It also works around amiquip 0.4.2's limits. Where each concern lives:
//!
//! | concern | file |
//! |---|---|
//! | the address: `AMQP_URL` or `RABBITMQ_*`, percent-decoding, IPv6 brackets | `address.rs` |
//! | the socket: connect timeout, TCP_NODELAY, TLS with a CA file; never a URL to amiquip (its errors would print the password) | `connect.rs` |
//! | closing within 5 s, and a connection blocked by a resource alarm | `connect.rs` |
//! | frames checked before amiquip parses them (over TCP and over TLS, which `common` does itself for it), heartbeats kept on, every wait bounded | `guard.rs` |
//! | one line per failure: amiquip's errors explained, the password redacted, control characters removed | `report.rs` |
//! | Ctrl+C and SIGTERM | `interrupt.rs` |
//! | a panic (amiquip's I/O thread included) in one line | [`run`], here |
//!
//! The tests' harness is a package of its own, `common/testing` (`harness`).

mod address;
mod connect;
mod guard;
mod interrupt;
mod report;

pub use address::BrokerAddress;
pub use connect::{connect, connect_to, Session};
pub use report::{describe, Failure, Interrupted, Usage};

use amiquip::{Consumer, ConsumerMessage, Delivery};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Help text about the broker's address, appended to every program's `--help`.
const ENVIRONMENT_HELP: &str = "\
Environment:
  AMQP_URL           the broker as an AMQP URI, e.g. amqp://user:pass@host:5672/%2f
                     (percent-encode '@' ':' '/' '%' ',' in each part; amqps:// for TLS;
                     several, separated by commas: the nodes of a cluster, tried in order)
  RABBITMQ_HOST      when AMQP_URL is not set: host (default localhost)
  RABBITMQ_PORT        port (default 5672)
  RABBITMQ_USER        user (default guest; guest may log in over loopback only)
  RABBITMQ_PASSWORD    password (default guest), raw: no encoding needed
  RABBITMQ_VHOST       virtual host (default /)
  RABBITMQ_CACERTFILE  CA certificates (PEM) to trust for amqps://
  RUST_LOG           e.g. debug to see the AMQP traffic";

/// Runs a chapter's program and turns its outcome into the exit status: 0 on success (and
/// after Ctrl+C, printing `Interrupted`), 1 with one line on stderr on failure.
pub fn run(program: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    init_logging();
    end_panics_in_one_line();
    interrupt::install();
    match program() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
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
    }
}

/// Reads the program's arguments. `-h`/`--help` prints `help` (the usage line first) and the
/// environment it reads, then exits 0; any other `-flag` is a usage error; `--` ends the
/// flags, so that a message may start with a dash.
pub fn args(help: &str) -> anyhow::Result<Vec<String>> {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        // std::env::args() would panic on an argument that is not UTF-8.
        let arg = arg.into_string().map_err(|arg| {
            usage(
                help,
                &format!("the argument '{}' is not UTF-8 text", arg.to_string_lossy()),
            )
        })?;
        args.push(arg);
    }
    parse_args(args, help)
}

/// As [`args`], for a program that took its own options out of the arguments first (as
/// chapter 9's `emit_job --ttl <ms>`): `args` are the ones left.
pub fn parse_args(
    args: impl IntoIterator<Item = String>,
    help: &str,
) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut flags_done = false;
    for arg in args {
        if flags_done || !arg.starts_with('-') || arg == "-" || is_negative_number(&arg) {
            // A negative number is a word, for the program to accept or refuse as it should.
            words.push(arg);
        } else if arg == "--" {
            flags_done = true;
        } else if arg == "-h" || arg == "--help" {
            return Err(report::Help(format!("{}\n\n{ENVIRONMENT_HELP}", help.trim_end())).into());
        } else {
            return Err(usage(
                help,
                &format!("unknown option '{arg}' (put -- before a message that starts with a dash; --help for help)"),
            ));
        }
    }
    Ok(words)
}

/// `-5`, `-1.5`: an argument that is a number, not an option.
fn is_negative_number(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()) && n.parse::<f64>().is_ok())
}

/// The usage line of a program whose `--help` text is `help` (its first line), alone, as the
/// original course prints it when arguments are missing. [`run`] prints it, and exits 1.
pub fn usage_line(help: &str) -> anyhow::Error {
    Usage(help.lines().next().unwrap_or_default().to_string()).into()
}

/// A usage error for a program whose `--help` text is `help`: its usage line (the first), then
/// `error: {problem}`. [`run`] prints it as it is, and exits 1.
pub fn usage(help: &str, problem: &str) -> anyhow::Error {
    Usage(format!(
        "{}\nerror: {problem}",
        help.lines().next().unwrap_or_default()
    ))
    .into()
}

/// The message the course's producers send: the words joined by spaces, or `default` when
/// there are none (or they join to nothing), as Python's `' '.join(words) or default` does.
pub fn message(words: &[String], default: &str) -> String {
    match words.join(" ") {
        joined if joined.is_empty() => default.to_string(),
        joined => joined,
    }
}

/// Checks a routing or binding key before connecting: AMQP carries it as a short string of at
/// most 255 bytes, and a longer one would only fail later, on the wire.
pub fn check_key<'k>(what: &str, key: &'k str) -> anyhow::Result<&'k str> {
    if key.len() > 255 {
        return Err(Failure::new(format!(
            "the {what} is {} bytes long; AMQP allows at most 255",
            key.len()
        ))
        .hint("use a shorter key: dot-separated words such as kern.critical")
        .into());
    }
    Ok(key)
}

/// The deliveries of `consumer`, one by one, until Ctrl+C or SIGTERM (an [`Interrupted`]
/// error, which [`run`] reports as `Interrupted`, exit 0) or until the broker or the network
/// ends the consumer (an error that says how).
///
/// From this call on the program counts as waiting, so Ctrl+C ends it cleanly: call it before
/// printing that the program waits.
pub fn deliveries<'c, 'a>(
    consumer: &'c Consumer<'a>,
) -> impl Iterator<Item = anyhow::Result<Delivery>> + 'c {
    let stop = interrupt::receiver();
    std::iter::from_fn(move || {
        crossbeam_channel::select! {
            recv(consumer.receiver()) -> message => delivery_of(message.ok()),
            recv(stop) -> _ => Some(Err(Interrupted.into())),
        }
    })
}

/// The next delivery of `consumer`, waiting until `deadline` at most: `Ok(None)` when none came
/// by then. For a program that waits for one answer (an RPC client): Ctrl+C meanwhile ends it
/// at once, as it ends a producer, since its job is not done.
pub fn next_delivery(
    consumer: &Consumer<'_>,
    deadline: Instant,
) -> anyhow::Result<Option<Delivery>> {
    match consumer.receiver().recv_deadline(deadline) {
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Ok(None),
        Ok(message) => delivery_of(Some(message)).transpose(),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => delivery_of(None).transpose(),
    }
}

/// Cancels `consumer` so that the connection can go on, or close cleanly, without it.
///
/// Dropping an amiquip 0.4.2 `Consumer` cancels it too, but amiquip wakes the program with the
/// broker's Cancel-Ok before it tells the consumer, and if the consumer is gone by then its I/O
/// thread fails and the connection is lost ("i/o loop dropped sending side of a channel").
/// This waits (5 s at most) until the consumer has been told. Like every amiquip call, the
/// cancel itself waits for the broker's answer, which a connection that the broker blocked (it
/// published during a resource alarm) never gets: cancel once the publishes are confirmed.
pub fn cancel(consumer: Consumer<'_>) -> anyhow::Result<()> {
    let receiver = consumer.receiver().clone();
    consumer.cancel().map_err(|e| report::explain(&e))?;
    drop(consumer);
    let deadline = Instant::now() + Duration::from_secs(5);
    // Deliveries still on their way are dropped: unacked ones go back to the queue.
    while let Ok(message) = receiver.recv_deadline(deadline) {
        if matches!(message, ConsumerMessage::ClientCancelled) {
            break;
        }
    }
    Ok(())
}

/// What a consumer's message means for the program: a delivery, the end of the consumer
/// (`None`, after we cancelled or closed it), or an error that says why the broker or the
/// network ended it (`message` is `None` when amiquip's I/O thread is gone).
fn delivery_of(message: Option<ConsumerMessage>) -> Option<anyhow::Result<Delivery>> {
    match message {
        Some(ConsumerMessage::Delivery(delivery)) => Some(Ok(delivery)),
        Some(
            ConsumerMessage::ServerClosedChannel(e) | ConsumerMessage::ServerClosedConnection(e),
        ) => Some(Err(report::explain(&e).into())),
        Some(ConsumerMessage::ServerCancelled) => Some(Err(Failure::new(
            "the broker cancelled the consumer: its queue was deleted",
        )
        .into())),
        Some(
            ConsumerMessage::ClientCancelled
            | ConsumerMessage::ClientClosedChannel
            | ConsumerMessage::ClientClosedConnection,
        ) => None,
        None => Some(Err(report::lost_connection(
            Failure::new("lost the connection to the broker (it stopped, or the network failed)")
                .hint("is the broker running? scripts/broker status"),
        )
        .into())),
    }
}

/// Spends `duration` doing the "work" of a task, or returns [`Interrupted`] as soon as Ctrl+C
/// or SIGTERM arrives, so that an interrupted worker never acknowledges unfinished work.
pub fn work(duration: Duration) -> Result<(), Interrupted> {
    // Nothing is ever sent on it: it only disconnects, when a signal comes.
    match interrupt::receiver().recv_timeout(duration) {
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Ok(()),
        _ => Err(Interrupted),
    }
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
        let line = report::printable(&report::redact(&what));
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
            let mut message = record.args().to_string();
            if let Some(start) = message.find("response: \"") {
                // Connection.Start-Ok: the SASL response is "\0user\0password", Debug-escaped.
                let end =
                    closing_quote(&message[start + 11..]).map_or(message.len(), |i| start + 12 + i);
                message.replace_range(start..end, "response: <redacted>");
            }
            writeln!(
                buf,
                "[{} {}] {}",
                record.level(),
                record.target(),
                report::redact(&message)
            )
        })
        .try_init();
}

/// The position of the first quote in `text` that is not escaped with a backslash.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' if !escaped => return Some(i),
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Vec<String>> {
        parse_args(
            args.iter().map(|s| s.to_string()),
            "Usage: prog [words...]\nDoes things.",
        )
    }

    #[test]
    fn the_closing_quote_skips_escaped_quotes() {
        assert_eq!(closing_quote(r#"\0u\0p\"w\\" rest"#), Some(11));
    }

    #[test]
    fn a_message_is_the_words_joined_or_the_default() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            message(&words(&["First", "message."]), "Hello World!"),
            "First message."
        );
        assert_eq!(message(&words(&[]), "Hello World!"), "Hello World!");
        assert_eq!(message(&words(&[""]), "Hello World!"), "Hello World!");
    }

    #[test]
    fn keys_longer_than_255_bytes_are_refused_before_connecting() {
        assert!(check_key("routing key", &"k".repeat(255)).is_ok());
        let error = check_key("binding key", &"é".repeat(128)).unwrap_err();
        assert!(describe(&error)
            .starts_with("the binding key is 256 bytes long; AMQP allows at most 255"));
    }

    #[test]
    fn words_pass_through_and_double_dash_allows_a_leading_dash() {
        assert_eq!(parse(&["a", "b."]).unwrap(), ["a", "b."]);
        assert_eq!(parse(&["--", "-5", "--help"]).unwrap(), ["-5", "--help"]);
        assert_eq!(parse(&["-"]).unwrap(), ["-"]);
    }

    #[test]
    fn a_negative_number_is_a_word_for_the_program_to_judge_not_an_option() {
        // rpc_client -5 is told what n may be, not to put -- before it.
        assert_eq!(parse(&["-5"]).unwrap(), ["-5"]);
        assert_eq!(parse(&["-1.5", "x"]).unwrap(), ["-1.5", "x"]);
        assert!(parse(&["-x5"]).unwrap_err().is::<Usage>());
        assert!(parse(&["-inf"]).unwrap_err().is::<Usage>());
    }

    #[test]
    fn help_is_recognised_and_lists_the_environment() {
        let help = parse(&["x", "--help"]).unwrap_err();
        let text = help.downcast_ref::<report::Help>().unwrap().to_string();
        assert!(text.starts_with("Usage: prog [words...]\nDoes things."));
        assert!(text.contains("AMQP_URL") && text.contains("RABBITMQ_PASSWORD"));
        assert!(parse(&["-h"]).unwrap_err().is::<report::Help>());
    }

    #[test]
    fn an_unknown_flag_is_a_usage_error_not_a_message() {
        let error = parse(&["--durable"]).unwrap_err();
        let text = error.downcast_ref::<Usage>().unwrap().to_string();
        assert!(text.starts_with("Usage: prog [words...]\n"));
        assert!(text.contains("unknown option '--durable'"));
    }
}
