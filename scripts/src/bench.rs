//! `scripts/bench`: the course's benchmark. Builds in release, starts a private RabbitMQ node
//! of its own (never a broker you run), and measures the producers' one-shot wall time, the
//! worker's drain rate and memory, and confirmed publishes (`common/testing/benches/course.rs`).
//! Prints a Markdown table; exits non-zero if a run failed.

use crate::broker::{Broker, Config, Settings};
use crate::{nodes, process, workspace};
use anyhow::{bail, Context, Result};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// What `scripts/bench --help` prints.
pub const HELP: &str = "\
The course's benchmark: builds in release, starts a private RabbitMQ node of its own (never a
broker you run; course-bench@localhost on COURSE_BENCH_PORT, 5680), and measures the producers'
one-shot wall time, the worker's drain rate and memory, and confirmed publishes. Prints a
Markdown table (common/testing/BENCHMARKS.md says what it means); exits non-zero if a run failed.
";

/// The variables that would point the programs or the node elsewhere.
const UNSET: [&str; 6] = [
    "BROKER_TLS_PORT",
    "AMQP_URL",
    "RABBITMQ_HOST",
    "RABBITMQ_USER",
    "RABBITMQ_PASSWORD",
    "RABBITMQ_VHOST",
];

/// `scripts/bench`'s main.
pub fn main() -> ExitCode {
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "-h" || a == "--help")
    {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("scripts/bench: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<u8> {
    // From now on Ctrl+C stops the run, not this program: the node is reset after it.
    let caught = process::Caught::install()?;
    let root = workspace::root();
    let port = match std::env::var("COURSE_BENCH_PORT")
        .ok()
        .filter(|p| !p.is_empty())
    {
        Some(port) => port
            .parse()
            .with_context(|| format!("COURSE_BENCH_PORT={port} is not a port number"))?,
        None => nodes::BENCH_PORT,
    };
    let http = nodes::management_port(port).with_context(|| {
        format!("COURSE_BENCH_PORT={port} leaves no room for its management port")
    })?;
    let node: [(&str, String); 3] = [
        ("BROKER_NODE", nodes::BENCH_NODE.to_string()),
        ("BROKER_PORT", port.to_string()),
        ("BROKER_HTTP_PORT", http.to_string()),
    ];
    let settings = node
        .iter()
        .fold(Settings::from_env(), |s, (name, value)| {
            s.with(name, value.clone())
        })
        .with("BROKER_TLS_PORT", "");
    let mut broker = Broker::new(Config::load(settings)?);
    let cargo = |args: &[&str]| {
        let mut command = Command::new("cargo");
        command
            .args(args)
            .current_dir(&root)
            .envs(node.iter().cloned());
        for name in UNSET {
            command.env_remove(name);
        }
        command
    };
    broker.run(&["install".into()])?;
    for args in [
        &["build", "--release", "--bins", "--quiet"][..],
        &[
            "bench", "-p", "harness", "--bench", "course", "--no-run", "--quiet",
        ],
    ] {
        let built = process::status(cargo(args).stderr(std::process::Stdio::null()))?;
        if !built.success() {
            bail!("cargo {} failed", args.join(" "));
        }
    }
    let _ = broker.reset_quietly();
    broker.start()?;
    let measured = measure(&caught, &mut broker, &root, port, &cargo);
    let _ = broker.reset_quietly();
    measured
}

fn measure(
    caught: &process::Caught,
    broker: &mut Broker,
    root: &std::path::Path,
    port: u16,
    cargo: &dyn Fn(&[&str]) -> Command,
) -> Result<u8> {
    let Some(pid) = broker.config.pid() else {
        bail!("port {port} is taken; set COURSE_BENCH_PORT");
    };
    let release = workspace::programs_dir(root)
        .parent()
        .map(|target| target.join("release"))
        .context("no target folder")?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let rabbitmq = process::stdout_of(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${Version}",
        "rabbitmq-server",
    ]))
    .unwrap_or_else(|| "?".into());
    let rustc = process::stdout_of(Command::new("rustc").arg("--version")).unwrap_or_default();
    eprintln!(
        "machine: {cores} cores, {model}, RabbitMQ {rabbitmq}, {}",
        rustc.trim()
    );
    let mut bench = cargo(&["bench", "-p", "harness", "--bench", "course", "--quiet"]);
    bench
        .env("BENCH_BROKER_PID", pid.to_string())
        .env("RABBITMQ_HOST", "127.0.0.1")
        .env("RABBITMQ_PORT", port.to_string())
        .env("BENCH_BIN_DIR", release);
    let status = process::run_to_its_end(&mut bench, caught, "INT", Duration::from_secs(20))?;
    Ok(caught
        .exit_status()
        .unwrap_or_else(|| crate::broker::code(status)))
}
