//! `scripts/demo`: runs the demo part of each chapter's guide (the sections marked
//! `<!-- demo -->`, see [`crate::guide`]) against the broker on the course's port, in a fresh
//! vhost `demo`, and checks that every program printed what the guide shows. The guides are the
//! one source of the scenarios: the tests execute the same blocks.
//!
//! Two ways to show it: [`headless`] (every program's lines labelled, consumers stopped with
//! Ctrl+C; on Windows, the only way) and [`tmux`] (a pane per program, the commands typed as a
//! learner types them, the session left for you to watch).

mod headless;
mod tmux;

use crate::broker::Broker;
use crate::guide::{self, Step};
use crate::{process, workspace};
use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// What `scripts/demo --help` prints.
pub const HELP: &str = "\
Runs the demo part of each chapter's guide (its sections marked <!-- demo -->): starts the broker
if needed, builds, starts the consumers, runs the producers and the guide's scripts/broker
commands, and checks that each program printed what the guide shows (exit status 1 if not).

In a terminal with tmux, each program gets a pane of its own: the commands are typed there as
you would type them, and you are left attached to watch and try more (the bottom pane is
yours; Ctrl+B D detaches). Elsewhere (CI, pipes, Windows), or with --headless, it runs the same
guide with every program's output labelled by program, and stops the consumers (Ctrl+C).

  scripts/demo [--headless] hello | work-queues | pubsub | routing | topics | rpc
                            | publisher-confirms | streams | dead-letters | all
  scripts/demo --list
  Windows (PowerShell): cargo run -p scripts --bin demo -- all

The guide runs in a fresh vhost `demo` of the broker, so that queues left over from your own
experiments cannot change it: the course's node, or the broker you already run on the port
(see scripts/broker: through its management API or its rabbitmqctl; if neither can make the
vhost, the demo says so and runs in /, without the guide's scripts/broker commands).
WORKER_SECONDS_PER_DOT (default 1) speeds up workers.

中文: the course in Chinese starts at README.zh-CN.md; each chapter has a README.zh-CN.md too.
";

/// The chapters, in course order, and what `--list` says of each.
pub const CHAPTERS: [(&str, &str); 9] = [
    ("hello", "1. Hello World: send -> queue 'hello' -> receive"),
    ("work-queues", "2. Work queues: new_task -> task_queue -> two workers (round-robin, fair dispatch)"),
    ("pubsub", "3. Publish/subscribe: emit_log -> fanout 'logs' -> every receive_logs"),
    ("routing", "4. Routing: emit_log_direct -> direct 'direct_logs' -> receivers by severity"),
    ("topics", "5. Topics: emit_log_topic -> topic 'topic_logs' -> receivers by pattern"),
    ("rpc", "6. RPC: rpc_client -> rpc_queue -> two rpc_servers -> the client's callback queue"),
    ("publisher-confirms", "7. Publisher confirms: four ways to wait for the broker's acks, timed"),
    ("streams", "8. Streams: send_stream -> hello-stream -> every receive_stream; offset tracking"),
    ("dead-letters", "9. Dead letters: emit_job -> jobs -> job_worker; retries via jobs.retry (5 s); receive_dead"),
];

/// How long the demo waits for what a program should print.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The programs' environment that a demo passes on (tmux's panes get it too).
const PASSED_ON: [&str; 8] = [
    "AMQP_URL",
    "RABBITMQ_HOST",
    "RABBITMQ_PORT",
    "RABBITMQ_USER",
    "RABBITMQ_PASSWORD",
    "RABBITMQ_VHOST",
    "RABBITMQ_CACERTFILE",
    "WORKER_SECONDS_PER_DOT",
];

/// What a command prints, and how it ended (`None`: not known, as in tmux).
pub struct Printed {
    lines: Vec<String>,
    success: Option<bool>,
}

/// Where the guide's programs run: a terminal per program (tmux's panes), or processes whose
/// lines are labelled (headless).
trait Desk {
    /// A new chapter: its own window.
    fn chapter(&mut self, name: &str) -> Result<()>;
    /// A new section: the consumers of the one before are done.
    fn section(&mut self) -> Result<()>;
    /// Starts a consumer in a terminal of its own; its handle.
    fn start(
        &mut self,
        label: &str,
        command: Command,
        typed: &str,
        file: Option<&str>,
    ) -> Result<usize>;
    /// What consumer `id` printed so far.
    fn lines(&self, id: usize) -> Vec<String>;
    /// Ctrl+C to consumer `id`: what it printed, and whether it ended cleanly.
    fn stop(&mut self, id: usize) -> Result<Printed>;
    /// Waits until consumer `id` ends by itself.
    fn wait_end(&mut self, id: usize) -> Result<Printed>;
    /// Runs a command in the producers' terminal to its end.
    fn run(&mut self, label: &str, command: Command, typed: &str) -> Result<Printed>;
    /// Whether commands are typed in terminals (tmux): `cat FILE` and `export` run there too,
    /// instead of the consumer's lines being read and the variable kept.
    fn in_terminals(&self) -> bool;
}

/// A consumer of the section being run.
struct Consumer {
    label: String,
    id: usize,
    expected: Vec<String>,
    file: Option<String>,
}

/// The demo's run of the guides.
struct Demo {
    root: PathBuf,
    programs: PathBuf,
    /// Variables for every program and scripts/broker command (the vhost `demo`).
    env: Vec<(String, String)>,
    /// Why the guide's scripts/broker commands cannot run here, if they cannot.
    no_broker_commands: Option<String>,
    /// Whether the programs run in the vhost `demo` that the demo made.
    own_vhost: bool,
    version: Option<(u32, u32)>,
    broker: Broker,
    failures: usize,
}

/// `scripts/demo`'s main.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let headless = args.iter().any(|a| a == "--headless");
    let rest: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--headless")
        .collect();
    let selected: Vec<&str> = match rest.as_slice() {
        ["--list" | "-l"] => {
            for (chapter, what) in CHAPTERS {
                println!("{chapter:<12} {what}");
            }
            return ExitCode::SUCCESS;
        }
        ["-h" | "--help"] => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        ["all"] => CHAPTERS.iter().map(|(c, _)| *c).collect(),
        [chapter] if CHAPTERS.iter().any(|(c, _)| c == chapter) => vec![*chapter],
        _ => {
            let names: Vec<&str> = CHAPTERS.iter().map(|(c, _)| *c).collect();
            eprintln!(
                "usage: scripts/demo CHAPTER | all | --list   (chapters: {})",
                names.join(" ")
            );
            return ExitCode::from(2);
        }
    };
    match run(&selected, headless) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("demo: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs the demo of the `selected` chapters; whether every program printed what its guide shows.
fn run(selected: &[&str], headless: bool) -> Result<bool> {
    let tmux = !headless && cfg!(unix) && tmux::wanted();
    let root = workspace::root();
    let mut broker = Broker::from_env()?;
    let programs = workspace::programs_dir(&root);
    // What the build needs first (OpenSSL's headers), then the build and the node's start at
    // once: a fresh clone's first build and a node's boot take a minute and seconds of it.
    // (Windows has nothing to install: a broker runs there or not.)
    if !cfg!(windows) {
        broker.install()?;
    }
    let building = build(&root, &programs)?;
    let started = broker.start();
    if let Some(mut build) = building {
        if started.is_err() {
            let _ = build.kill();
        }
        let built = build.wait().context("waiting for cargo build")?;
        if started.is_ok() && !built.success() {
            bail!("cargo build failed");
        }
    }
    started?;
    let mut demo = Demo {
        env: Vec::new(),
        no_broker_commands: None,
        own_vhost: false,
        version: None,
        failures: 0,
        programs,
        root,
        broker,
    };
    demo.choose_vhost();
    let mut desk: Box<dyn Desk> = if tmux {
        Box::new(tmux::Tmux::new(&demo.root, &demo.passed_on())?)
    } else {
        if cfg!(windows) {
            println!(
                "--- on Windows one program cannot press Ctrl+C for another: the demo ends each \
                 consumer itself once it printed what the guide shows (no 'Interrupted' line)"
            );
        }
        Box::new(headless::Headless::default())
    };
    for (n, chapter) in selected.iter().enumerate() {
        println!("=============== {chapter}");
        desk.chapter(chapter)?;
        if n > 0 && demo.own_vhost {
            if let Err(why) = demo.fresh_vhost() {
                demo.fail(&format!("cannot make the vhost 'demo' afresh: {why}"));
                continue;
            }
        }
        demo.chapter(desk.as_mut(), chapter);
    }
    let ok = demo.failures == 0;
    if ok {
        println!(
            "=============== the course ran as it says: {}",
            selected.join(" ")
        );
    } else {
        eprintln!("!!! the demo found {} problem(s)", demo.failures);
    }
    if tmux {
        tmux::attach()?;
    }
    Ok(ok)
}

/// Starts building the course (`cargo build --bins`), or says why it does not.
fn build(root: &Path, programs: &Path) -> Result<Option<std::process::Child>> {
    if process::which("cargo").is_none() {
        if workspace::program(programs, "send").exists() {
            println!(
                "--- no cargo on PATH: running the programs built in {} as they are",
                programs.display()
            );
            return Ok(None);
        }
        bail!(
            "cargo is not on PATH and the course is not built in {} (install Rust: https://rustup.rs)",
            programs.display()
        );
    }
    println!("--- building the course (cargo build)");
    let build = Command::new("cargo")
        .args(["build", "--quiet", "--bins"])
        .current_dir(root)
        .spawn()
        .context("cannot run cargo")?;
    Ok(Some(build))
}

impl Demo {
    /// Points the programs at the broker on the port, in a fresh vhost `demo` of it.
    fn choose_vhost(&mut self) {
        if std::env::var_os("AMQP_URL").is_some_and(|u| !u.is_empty()) {
            self.no_broker_commands =
                Some("AMQP_URL points the programs at a broker of its own".into());
            return;
        }
        let config = &self.broker.config;
        let port = std::env::var("RABBITMQ_PORT")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| config.port.to_string());
        self.env.push(("RABBITMQ_PORT".into(), port));
        if std::env::var_os("RABBITMQ_VHOST").is_some_and(|v| !v.is_empty()) {
            return;
        }
        match self.fresh_vhost() {
            Ok(()) => {
                self.env.push(("RABBITMQ_VHOST".into(), "demo".into()));
                self.own_vhost = true;
            }
            Err(why) => {
                eprintln!(
                    "demo: cannot make a fresh vhost 'demo' ({why}); running in vhost /, where queues left from earlier runs may change what you see"
                );
                self.no_broker_commands = Some("no vhost of the demo's own".into());
            }
        }
    }

    /// The vhost `demo`, made again: each chapter's guide starts from an empty vhost, as it
    /// does in its test.
    fn fresh_vhost(&mut self) -> Result<(), String> {
        let user = self.broker.config.user.clone();
        self.broker.fresh_vhost("demo", &user)
    }

    /// The environment that the programs get, for tmux's panes: what is set, and the demo's.
    fn passed_on(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = PASSED_ON
            .iter()
            .chain(BROKER_VARIABLES.iter())
            .filter_map(|name| {
                let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
                Some((name.to_string(), value))
            })
            .collect();
        for (name, value) in &self.env {
            env.retain(|(n, _)| n != name);
            env.push((name.clone(), value.clone()));
        }
        env
    }

    fn fail(&mut self, message: &str) {
        eprintln!("!!! {message}");
        self.failures += 1;
    }

    /// Runs the chapter's demo sections.
    fn chapter(&mut self, desk: &mut dyn Desk, chapter: &str) {
        let path = format!("{chapter}/README.md");
        let sections = std::fs::read_to_string(self.root.join(&path))
            .map_err(|e| format!("cannot read {path}: {e}"))
            .and_then(|text| guide::sections(&text).map_err(|e| format!("{path}:{e}")));
        let sections = match sections {
            Ok(sections) => sections,
            Err(error) => return self.fail(&error),
        };
        let demo: Vec<&guide::Section> = sections.iter().filter(|s| s.demo).collect();
        if demo.is_empty() {
            return self.fail(&format!(
                "{path} has no section marked {} for the demo",
                guide::DEMO_MARK
            ));
        }
        for section in demo {
            println!("=== {}", section.heading);
            if let Err(error) = desk.section() {
                return self.fail(&format!("{error:#}"));
            }
            self.section(desk, &path, section);
        }
    }

    /// Runs one section: its consumers started, its commands run, each checked.
    fn section(&mut self, desk: &mut dyn Desk, path: &str, section: &guide::Section) {
        let mut consumers = Vec::new();
        let mut exports = Vec::new();
        let ran = self.section_blocks(desk, path, section, &mut consumers, &mut exports);
        if let Err(error) = ran {
            self.fail(&format!(
                "{path} (section '{}'): {error:#}",
                section.heading
            ));
        }
        for consumer in consumers {
            if let Err(error) = self.check_consumer(desk, &consumer) {
                self.fail(&format!("{}: {error:#}", consumer.label));
            }
        }
    }

    fn section_blocks(
        &mut self,
        desk: &mut dyn Desk,
        path: &str,
        section: &guide::Section,
        consumers: &mut Vec<Consumer>,
        exports: &mut Vec<(String, String)>,
    ) -> Result<()> {
        let broker = &self.broker;
        let version = &mut self.version;
        let mut broker_version = || {
            *version.get_or_insert_with(|| {
                broker.config.api().version().unwrap_or_else(|_| {
                    println!("--- the broker's version is not known (no management API): the guide's newest transcripts run");
                    (u32::MAX, u32::MAX)
                })
            })
        };
        let blocks = guide::chosen(&section.blocks, &mut broker_version)
            .map_err(|e| anyhow::anyhow!("{path}:{e}"))?;
        let labels = consumer_labels(&blocks);
        for block in blocks {
            let commands = guide::commands(block).map_err(|e| anyhow::anyhow!("{path}:{e}"))?;
            if block.consumer {
                let [(command, expected)] = commands.as_slice() else {
                    bail!("{path}:{}: a consumer block runs one command", block.line);
                };
                let label = labels[consumers.len()].clone();
                let Step::Program {
                    assignments,
                    name,
                    args,
                    redirect,
                } = Step::parse(command)
                    .map_err(|e| anyhow::anyhow!("{path}:{}: {e}", block.line))?
                else {
                    bail!("{path}:{}: a consumer is a program: {command}", block.line);
                };
                let mut program = self.program(&name, &args)?;
                let assigned = self.values(desk, &assignments, &[])?;
                program.envs(assigned);
                println!("--- terminal '{label}': {}", typed(command));
                let id = desk.start(&label, program, &typed(command), redirect.as_deref())?;
                consumers.push(Consumer {
                    label: label.clone(),
                    id,
                    expected: expected.clone(),
                    file: redirect,
                });
                wait_until(|| desk.lines(id).iter().any(|l| guide::is_ready(l))).with_context(
                    || {
                        format!(
                            "'{label}' did not say it waits within {} s: {:?}",
                            PATIENCE.as_secs(),
                            desk.lines(id)
                        )
                    },
                )?;
                continue;
            }
            for (command, expected) in commands {
                self.command(desk, &command, &expected, consumers, exports)
                    .with_context(|| format!("{path}:{}: $ {command}", block.line))?;
            }
        }
        Ok(())
    }

    /// Runs one `$ command` of a block in the producers' terminal and compares what it printed.
    fn command(
        &mut self,
        desk: &mut dyn Desk,
        command: &str,
        expected: &[String],
        consumers: &[Consumer],
        exports: &mut Vec<(String, String)>,
    ) -> Result<()> {
        let step = Step::parse(command).map_err(anyhow::Error::msg)?;
        let listing = guide::is_listing(&guide::shell_words(command));
        // What a listing or `cat` shows is what the guide shows once things have settled:
        // they run again until it does.
        let polled = listing || matches!(step, Step::Cat(_));
        let want = guide::normalize(expected, listing);
        let label;
        let mut runnable = match &step {
            Step::Export(name, value) => {
                if desk.in_terminals() {
                    desk.run("export", Command::new("true"), command)?;
                }
                let value = self.value(desk, value, exports)?;
                exports.retain(|(n, _)| n != name);
                exports.push((name.clone(), value));
                return Ok(());
            }
            Step::Cat(file) if !desk.in_terminals() => {
                let consumer = consumers
                    .iter()
                    .find(|c| c.file.as_deref() == Some(file))
                    .with_context(|| format!("no consumer writes {file}"))?;
                println!("--- {}'s {file}:", consumer.label);
                let mut got = Vec::new();
                let _ = wait_until(|| {
                    got = guide::normalize(&desk.lines(consumer.id), false);
                    got == want
                });
                for line in desk.lines(consumer.id) {
                    println!("    {line}");
                }
                return self.compare(&format!("cat {file}"), &want, &got);
            }
            Step::Cat(_) => {
                label = "cat".to_string();
                Command::new("cat")
            }
            Step::Program {
                assignments,
                name,
                args,
                ..
            } => {
                label = name.clone();
                let mut program = self.program(name, args)?;
                program.envs(exports.iter().cloned());
                program.envs(self.values(desk, assignments, exports)?);
                program
            }
            Step::Broker { assignments, args } => {
                if let Some(why) = &self.no_broker_commands {
                    println!("--- not run here ({why}): {command}");
                    return Ok(());
                }
                label = "broker".to_string();
                let mut broker = self.broker_command(args)?;
                broker.envs(exports.iter().cloned());
                broker.envs(self.values(desk, assignments, exports)?);
                broker
            }
        };
        let typed = typed(command);
        let started = Instant::now();
        loop {
            println!("--- terminal '{label}': {typed}");
            let printed = desk.run(&label, runnable, &typed)?;
            // A command shown ending in an error must fail, as a program does then (exit 1).
            if printed.success == Some(true)
                && want.last().is_some_and(|l| l.starts_with("error: "))
            {
                self.fail(&format!(
                    "{label} printed an error but exited with status 0"
                ));
            }
            let got = guide::normalize(&printed.lines, listing);
            if got == want || !polled || started.elapsed() > PATIENCE {
                return self.compare(&label, &want, &got);
            }
            std::thread::sleep(Duration::from_millis(500));
            runnable = match &step {
                Step::Broker { args, .. } => {
                    let mut broker = self.broker_command(args)?;
                    broker.envs(exports.iter().cloned());
                    broker
                }
                _ => Command::new("cat"),
            };
        }
    }

    /// Counts a failure unless `got` is `want`.
    fn compare(&mut self, label: &str, want: &[String], got: &[String]) -> Result<()> {
        if got != want {
            self.fail(&format!(
                "{label} should have printed:\n{}\n!!! but printed:\n{}",
                want.join("\n"),
                got.join("\n")
            ));
        }
        Ok(())
    }

    /// At a section's end: the consumer printed what the guide shows, then gets Ctrl+C (or,
    /// if the guide shows it ending with an error, ends by itself with a failure).
    fn check_consumer(&mut self, desk: &mut dyn Desk, consumer: &Consumer) -> Result<()> {
        let want = guide::normalize(&consumer.expected, false);
        let _ =
            wait_until(|| guide::normalize(&desk.lines(consumer.id), false).len() >= want.len());
        let ends_in_error = want.last().is_some_and(|l| l.starts_with("error: "));
        let printed = if ends_in_error {
            desk.wait_end(consumer.id)?
        } else {
            desk.stop(consumer.id)?
        };
        match (ends_in_error, printed.success) {
            (true, Some(true)) => self.fail(&format!(
                "{} printed an error but exited with status 0",
                consumer.label
            )),
            (false, Some(false)) => {
                self.fail(&format!("{} did not end cleanly on Ctrl+C", consumer.label))
            }
            _ => {}
        }
        let got = guide::normalize(&printed.lines, false);
        if want.is_empty() {
            return Ok(());
        }
        if got == want {
            let lines = want.iter().filter(|l| !guide::is_ready(l)).count();
            println!(
                "--- '{}' got what the guide shows: {lines} line(s) after its ready line",
                consumer.label
            );
        }
        self.compare(&consumer.label, &want, &got)
    }

    /// The course's program `name` with `args`, aimed at the demo's vhost.
    fn program(&self, name: &str, args: &[String]) -> Result<Command> {
        let path = workspace::program(&self.programs, name);
        if !path.exists() {
            bail!(
                "{} is missing: build the course (cargo build --bins)",
                path.display()
            );
        }
        let mut command = Command::new(path);
        command.args(args).envs(self.env.iter().cloned());
        Ok(command)
    }

    /// `scripts/broker ARGS`, as the program that cargo built beside the course's.
    fn broker_command(&self, args: &[String]) -> Result<Command> {
        let mut command = self.program("broker", args)?;
        command.current_dir(&self.root);
        Ok(command)
    }

    /// Variables' values, `$(command)` replaced by the last line it prints.
    fn values(
        &mut self,
        desk: &mut dyn Desk,
        assignments: &[(String, String)],
        exports: &[(String, String)],
    ) -> Result<Vec<(String, String)>> {
        assignments
            .iter()
            .map(|(name, value)| Ok((name.clone(), self.value(desk, value, exports)?)))
            .collect()
    }

    fn value(
        &mut self,
        _desk: &mut dyn Desk,
        value: &str,
        exports: &[(String, String)],
    ) -> Result<String> {
        let Some(inner) = value.strip_prefix("$(").and_then(|v| v.strip_suffix(')')) else {
            return Ok(value.to_string());
        };
        let mut command = match Step::parse(inner).map_err(anyhow::Error::msg)? {
            Step::Program { name, args, .. } => self.program(&name, &args)?,
            Step::Broker { args, .. } => self.broker_command(&args)?,
            _ => bail!("$({inner}) is not a program or scripts/broker"),
        };
        command.envs(exports.iter().cloned());
        let output = process::output_bounded(&mut command, PATIENCE)
            .with_context(|| format!("$({inner}) did not end within {} s", PATIENCE.as_secs()))?;
        if !output.status.success() {
            bail!(
                "$({inner}) failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string())
    }
}

/// scripts/broker's settings, for tmux's panes where the guide's scripts/broker commands run.
const BROKER_VARIABLES: [&str; 8] = [
    "BROKER_PORT",
    "BROKER_NODE",
    "BROKER_HTTP_PORT",
    "BROKER_DIST_PORT",
    "BROKER_DIR",
    "BROKER_RABBITMQ_BIN",
    "BROKER_API_SETTLE",
    "BROKER_TLS_PORT",
];

/// The section's consumers' labels: the program's name, numbered when the section starts it
/// more than once (`worker1`, `worker2`).
fn consumer_labels(blocks: &[&guide::Block]) -> Vec<String> {
    let names: Vec<String> = blocks
        .iter()
        .filter(|b| b.consumer)
        .map(|b| {
            match b
                .lines
                .first()
                .map(|l| Step::parse(l.trim_start_matches("$ ")))
            {
                Some(Ok(Step::Program { name, .. })) => name,
                _ => "consumer".into(),
            }
        })
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    names
        .iter()
        .map(|name| {
            seen.push(name);
            if names.iter().filter(|n| *n == name).count() > 1 {
                format!("{name}{}", seen.iter().filter(|n| **n == name).count())
            } else {
                name.clone()
            }
        })
        .collect()
}

/// The command as a learner types it: `cargo run -q` keeps cargo's own lines out.
fn typed(command: &str) -> String {
    if command.contains("cargo run -q") || command.contains("cargo run --quiet") {
        return command.to_string();
    }
    command.replacen("cargo run ", "cargo run -q ", 1)
}

/// Polls `done` every 0.1 s until it is true, for at most [`PATIENCE`].
fn wait_until(mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        if Instant::now() >= deadline {
            bail!("waited {} s", PATIENCE.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Whether standard input and output are a terminal (where tmux can show the panes).
fn in_a_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learner_types_cargo_run_quietly() {
        assert_eq!(typed("cargo run --bin send"), "cargo run -q --bin send");
        assert_eq!(
            typed("RPC_TIMEOUT_SECONDS=2 cargo run --bin rpc_client"),
            "RPC_TIMEOUT_SECONDS=2 cargo run -q --bin rpc_client"
        );
        assert_eq!(typed("scripts/broker queues"), "scripts/broker queues");
    }

    #[test]
    fn consumers_of_one_program_are_numbered() {
        let block = |line: &str| guide::Block {
            consumer: true,
            version: None,
            line: 1,
            lines: vec![line.to_string()],
        };
        let blocks = [
            block("$ cargo run --bin worker"),
            block("$ cargo run --bin receive_dead"),
            block("$ cargo run --bin worker"),
        ];
        let refs: Vec<&guide::Block> = blocks.iter().collect();
        assert_eq!(
            consumer_labels(&refs),
            ["worker1", "receive_dead", "worker2"]
        );
    }
}
