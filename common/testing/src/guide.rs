//! Runs a chapter guide's runnable blocks against the test broker, so that a guide cannot
//! drift from what the programs do.
//!
//! In a guide (a chapter's `README.md`), a block fenced as ```` ```console ```` is runnable:
//! each `$ command` line runs, and the lines after it are what it must print. A block fenced
//! as ```` ```console consumer ```` is one consumer in a terminal of its own: its command
//! starts in the background, and the lines are all it prints during the section (its
//! `Interrupted` aside); it gets Ctrl+C when the section (a `##` heading) ends, unless its last
//! line is shown as `error: ...`: then it must end by itself, with a failure. Commands:
//! `cargo run --bin NAME [-- ARGS]` (optionally `> FILE`, and after `NAME=value` variables),
//! `cat FILE`, `scripts/broker ...`, and `export NAME=value`, which sets NAME for the later
//! commands of ```` ```console ```` blocks (one terminal; a consumer is a terminal of its own).
//! A value may be `$(command)`, one of these commands, replaced by what it prints.
//!
//! Where RabbitMQ versions print different things, the guide shows each, fenced with the version
//! that printed it: ```` ```console rabbitmq-3.10 ```` and ```` ```console rabbitmq-4.3 ```` (with
//! `consumer` too, if need be). Consecutive blocks so fenced are alternatives: the test runs those
//! of the newest version that is not newer than the broker's, and fails on a broker older than
//! them all. A fence ```` ```console... ```` of any other kind fails the test: a typo must not
//! turn a runnable block into prose.
//!
//! What may vary is left aside: server-generated `amq.gen-...` names, timings (`in 1,628 ms`
//! at the end of a line), the order of the rows
//! of a listing, runs of blanks, rabbitmqctl's `Timeout:`/`Listing` lines. Listings and
//! `cat` are polled until they match, since a guide shows them once things have settled.
//!
//! [`run_cluster_guide`] runs a guide of the three-node cluster (`scripts/broker cluster ...`) on
//! the harness's [`Cluster`]: the guide's node names (`cluster1@localhost`) and ports (5681-5683,
//! management 15681-15683) stand for the test cluster's, in commands and in what they print.

use super::{
    broker_version, program_command, text, workspace_root, Cluster, Running, Vhost, PATIENCE,
};
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// One runnable block of a guide.
struct Block {
    consumer: bool,
    /// The RabbitMQ version (major, minor) whose output the block shows, if it says so.
    version: Option<(u32, u32)>,
    line: usize,
    lines: Vec<String>,
}

/// Runs the runnable blocks of the guide at `path` (relative to the workspace root) in a vhost
/// of its own. `programs` maps the binary names the guide uses to their paths. `env` is given
/// to every program (e.g. a shorter `WORKER_SECONDS_PER_DOT`) and to `scripts/broker`. Returns
/// how many commands ran.
pub fn run_guide(path: &str, programs: &[(&str, &str)], env: &[(&str, &str)]) -> usize {
    let vhost = Vhost::new(&format!("guide-{}", path.replace(['/', '.'], "-")));
    run(path, programs, env, Place::Vhost(&vhost))
}

/// Runs the guide at `path` as [`run_guide`] does, on a three-node [`Cluster`] of the test's
/// own that the guide itself starts (`scripts/broker cluster start`): `scripts/broker` commands
/// go to the cluster, and every program needs `AMQP_URL` (set on its line or exported). The
/// cluster is reset when the guide is done.
pub fn run_cluster_guide(path: &str, programs: &[(&str, &str)], env: &[(&str, &str)]) -> usize {
    let cluster = Cluster::reserve();
    run(path, programs, env, Place::Cluster(&cluster))
}

fn run(path: &str, programs: &[(&str, &str)], env: &[(&str, &str)], place: Place) -> usize {
    let text = std::fs::read_to_string(workspace_root().join(path)).unwrap();
    let programs: HashMap<&str, &str> = programs.iter().copied().collect();
    let mut commands = 0;
    let mut exports = Vec::new();
    let mut version = None;
    for (heading, blocks) in sections(&text).unwrap_or_else(|e| panic!("{path}:{e}")) {
        let mut section = Section {
            place,
            programs: &programs,
            env,
            path,
            heading: &heading,
            consumers: Vec::new(),
            exports,
        };
        for block in chosen(&blocks, &mut version, path) {
            commands += section.run(block);
        }
        section.end();
        exports = std::mem::take(&mut section.exports);
    }
    assert!(commands > 0, "{path} has no runnable block");
    commands
}

/// The blocks to run: all those without a version, and of each run of alternatives (blocks
/// fenced with a version), those of the newest version not newer than the broker's.
fn chosen<'b>(blocks: &'b [Block], broker: &mut Option<(u32, u32)>, path: &str) -> Vec<&'b Block> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        if blocks[i].version.is_none() {
            out.push(&blocks[i]);
            i += 1;
            continue;
        }
        let end = (i..blocks.len())
            .find(|&j| blocks[j].version.is_none())
            .unwrap_or(blocks.len());
        let group = &blocks[i..end];
        let broker = *broker.get_or_insert_with(broker_version);
        let version = group
            .iter()
            .filter_map(|b| b.version)
            .filter(|v| *v <= broker)
            .max()
            .unwrap_or_else(|| {
                panic!(
                    "{path}:{}: this step shows what RabbitMQ {} printed; the broker is {}.{}, \
                     older than all of them: add its transcript",
                    group[0].line,
                    group
                        .iter()
                        .filter_map(|b| b.version.map(|(a, b)| format!("{a}.{b}")))
                        .collect::<Vec<_>>()
                        .join(", "),
                    broker.0,
                    broker.1
                )
            });
        out.extend(group.iter().filter(|b| b.version == Some(version)));
        i = end;
    }
    out
}

/// Asserts that the guide at `translation` (e.g. a chapter's `README.zh-CN.md`) has the same
/// runnable blocks as the guide at `original`, in the same order: the same kind (consumer or
/// not, and version), the same commands and the same expected output, and a new `##` section
/// before the same blocks (a section's end is when its consumers get Ctrl+C). Only the prose may
/// differ, so that a translated guide cannot drift from the one the tests execute. Paths are
/// relative to the workspace root.
pub fn assert_same_commands(original: &str, translation: &str) {
    let blocks = |path: &str| {
        let text = std::fs::read_to_string(workspace_root().join(path))
            .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        runnable_blocks(&text).unwrap_or_else(|e| panic!("{path}:{e}"))
    };
    let (want, got) = (blocks(original), blocks(translation));
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(
            g,
            w,
            "runnable block {} of {translation} differs from {original}'s \
             (first of its section, consumer, version, lines)",
            i + 1
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{translation} has {} runnable blocks, {original} has {}",
        got.len(),
        want.len()
    );
}

/// A runnable block as [`assert_same_commands`] compares it: (first runnable block of its
/// section, consumer, version, lines).
type Runnable = (bool, bool, Option<(u32, u32)>, Vec<String>);

/// A guide's runnable blocks, as [`assert_same_commands`] compares them.
fn runnable_blocks(text: &str) -> Result<Vec<Runnable>, String> {
    Ok(sections(text)?
        .into_iter()
        .flat_map(|(_, blocks)| {
            blocks
                .into_iter()
                .enumerate()
                .map(|(i, block)| (i == 0, block.consumer, block.version, block.lines))
        })
        .collect())
}

/// The guide's `##` sections with their runnable blocks; an error (`LINE: what`) for a fence
/// ```` ```console... ```` of a kind the runner does not know.
fn sections(text: &str) -> Result<Vec<(String, Vec<Block>)>, String> {
    let mut sections = vec![(String::from("(top)"), Vec::new())];
    // Inside a fence: `Some(block)` for a runnable one, `None` for any other.
    let mut fence: Option<Option<Block>> = None;
    for (number, line) in text.lines().enumerate() {
        let is_fence = line.trim_start().starts_with("```");
        match fence.take() {
            Some(Some(block)) if is_fence => sections.last_mut().unwrap().1.push(block),
            Some(None) if is_fence => {}
            Some(Some(mut block)) => {
                block.lines.push(line.to_string());
                fence = Some(Some(block));
            }
            Some(None) => fence = Some(None),
            None if is_fence => fence = Some(runnable(&line.trim_start()[3..], number + 1)?),
            None => {
                if let Some(heading) = line.strip_prefix("## ") {
                    sections.push((heading.trim().to_string(), Vec::new()));
                }
            }
        }
    }
    Ok(sections)
}

/// The runnable block that a fence's info string (after the backticks) opens at `line`, `None`
/// for a block of another language (`sh`, `text`, `rust`), an error for an unknown kind of
/// `console` block.
fn runnable(info: &str, line: usize) -> Result<Option<Block>, String> {
    let mut words = info.split_whitespace();
    match words.next() {
        Some("console") => {}
        Some(word) if word.starts_with("console") => {
            return Err(format!(
                "{line}: unknown kind of command block ```{info} (runnable: ```console, \
                 ```console consumer, either with rabbitmq-X.Y)"
            ))
        }
        _ => return Ok(None),
    }
    let mut block = Block {
        consumer: false,
        version: None,
        line,
        lines: Vec::new(),
    };
    for word in words {
        let version = word
            .strip_prefix("rabbitmq-")
            .and_then(|v| v.split_once('.'))
            .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
        match (word, version) {
            ("consumer", _) if !block.consumer => block.consumer = true,
            (_, Some(version)) if block.version.is_none() => block.version = Some(version),
            _ => {
                return Err(format!(
                    "{line}: unknown kind of command block ```{info} (runnable: ```console, \
                     ```console consumer, either with rabbitmq-X.Y)"
                ))
            }
        }
    }
    Ok(Some(block))
}

/// Where a guide runs: a vhost of the test broker, or the test cluster.
#[derive(Clone, Copy)]
enum Place<'g> {
    Vhost(&'g Vhost),
    Cluster(&'g Cluster),
}

impl Place<'_> {
    /// Numbers and names as the guide writes them and as the test cluster has them.
    fn renamed(self) -> Vec<(String, String)> {
        let Place::Cluster(cluster) = self else {
            return Vec::new();
        };
        let mut pairs: Vec<(String, String)> = (0..3)
            .flat_map(|n| {
                [
                    (5681 + n, cluster.port + n),
                    (15681 + n, cluster.port + 10000 + n),
                ]
            })
            .map(|(guide, test)| (guide.to_string(), test.to_string()))
            .collect();
        pairs.push(("cluster".into(), "cluster-test".into()));
        pairs
    }

    /// A guide's word as the test runs it: the guide's ports are the test cluster's.
    fn to_test(self, word: &str) -> String {
        self.renamed()
            .iter()
            .filter(|(guide, _)| guide.starts_with(|c: char| c.is_ascii_digit()))
            .fold(word.to_string(), |w, (guide, test)| {
                replace_number(&w, guide, test)
            })
    }

    /// A line printed in the test as the guide shows it.
    fn to_guide(self, line: &str) -> String {
        self.renamed()
            .iter()
            .fold(line.to_string(), |l, (guide, test)| {
                if guide.starts_with(|c: char| c.is_ascii_digit()) {
                    replace_number(&l, test, guide)
                } else {
                    l.replace(test.as_str(), guide)
                }
            })
    }
}

/// `text` with every number that is exactly `from` (not part of a longer one) made `to`.
fn replace_number(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let end = rest[start..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(rest.len(), |e| start + e);
        out.push_str(&rest[..start]);
        let number = &rest[start..end];
        out.push_str(if number == from { to } else { number });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

struct Consumer {
    running: Running,
    expected: Vec<String>,
    block_line: usize,
}

struct Section<'g> {
    place: Place<'g>,
    programs: &'g HashMap<&'g str, &'g str>,
    env: &'g [(&'g str, &'g str)],
    path: &'g str,
    heading: &'g str,
    consumers: Vec<(Option<String>, Consumer)>,
    /// `export NAME=value` so far: the main terminal's variables.
    exports: Vec<(String, String)>,
}

impl Section<'_> {
    fn where_(&self, line: usize) -> String {
        format!("{}:{line} (section '{}')", self.path, self.heading)
    }

    /// Runs a block; returns how many commands it ran.
    fn run(&mut self, block: &Block) -> usize {
        let mut commands: Vec<(String, Vec<String>)> = Vec::new();
        for line in &block.lines {
            match line.strip_prefix("$ ") {
                Some(command) => commands.push((command.to_string(), Vec::new())),
                None => match commands.last_mut() {
                    Some((_, expected)) => expected.push(line.to_string()),
                    None => panic!("{}: output before any '$ command'", self.where_(block.line)),
                },
            }
        }
        if block.consumer {
            assert_eq!(
                commands.len(),
                1,
                "{}: a consumer block runs one command",
                self.where_(block.line)
            );
            let (command, expected) = commands.remove(0);
            self.start_consumer(&command, expected, block.line);
            return 1;
        }
        for (command, expected) in &commands {
            self.run_command(command, expected, block.line);
        }
        commands.len()
    }

    /// The command for a line's words; `exported` adds the main terminal's variables.
    fn command(&self, words: &[String], line: usize, exported: bool) -> Command {
        // `NAME=value cargo run ...`: variables for that one command, as a shell reads them.
        let assignments = words
            .iter()
            .take_while(|w| {
                w.split_once('=')
                    .is_some_and(|(name, _)| is_variable_name(name))
            })
            .count();
        let (assignments, words) = words.split_at(assignments);
        let mut variables: Vec<(String, String)> = if exported {
            self.exports.clone()
        } else {
            Vec::new()
        };
        for assignment in assignments {
            if let Some((name, value)) = assignment.split_once('=') {
                variables.push((name.to_string(), self.value(value, line)));
            }
        }
        let mut command = self.command_without_variables(words, line, &variables);
        command.envs(variables);
        command
    }

    /// A variable's value: `$(command)` is what the command prints (its last line).
    fn value(&self, value: &str, line: usize) -> String {
        let Some(inner) = value.strip_prefix("$(").and_then(|v| v.strip_suffix(')')) else {
            return self.place.to_test(value);
        };
        let output = self
            .command(&shell_words(inner), line, true)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: $({inner}) failed: {:?}",
            self.where_(line),
            text(&output)
        );
        text(&output)
            .0
            .lines()
            .last()
            .unwrap_or_default()
            .to_string()
    }

    fn command_without_variables(
        &self,
        words: &[String],
        line: usize,
        variables: &[(String, String)],
    ) -> Command {
        let words: Vec<String> = words.iter().map(|w| self.place.to_test(w)).collect();
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["cargo", "run", rest @ ..] => {
                let rest: Vec<&str> = rest
                    .iter()
                    .copied()
                    .filter(|w| *w != "-q" && *w != "--quiet")
                    .collect();
                let (name, args) = match rest.as_slice() {
                    ["--bin", name] => (*name, &[][..]),
                    ["--bin", name, "--", args @ ..] => (*name, args),
                    _ => panic!(
                        "{}: expected cargo run --bin NAME [-- ARGS]: {words:?}",
                        self.where_(line)
                    ),
                };
                let program = self
                    .programs
                    .get(name)
                    .unwrap_or_else(|| panic!("{}: unknown program {name}", self.where_(line)));
                let mut command = match self.place {
                    Place::Vhost(vhost) => vhost.command(program, args),
                    Place::Cluster(_) => {
                        assert!(
                            variables.iter().any(|(name, _)| name == "AMQP_URL"),
                            "{}: on the cluster, a program needs AMQP_URL",
                            self.where_(line)
                        );
                        program_command(program, args)
                    }
                };
                command.envs(self.env.iter().copied());
                command
            }
            ["scripts/broker", args @ ..] => {
                let mut command = Command::new(workspace_root().join("scripts/broker"));
                command.args(args).envs(self.env.iter().copied());
                match self.place {
                    Place::Vhost(vhost) => command.env("RABBITMQ_VHOST", &vhost.name),
                    Place::Cluster(cluster) => command.envs(cluster.env.iter().cloned()),
                };
                command
            }
            _ => panic!("{}: the guide test cannot run {words:?}", self.where_(line)),
        }
    }

    fn start_consumer(&mut self, command: &str, expected: Vec<String>, line: usize) {
        let (words, file) = split_redirect(shell_words(command));
        let running = Running::spawn(self.command(&words, line, false));
        running.wait_for_lines(1, super::is_ready);
        self.consumers.push((
            file,
            Consumer {
                running,
                expected,
                block_line: line,
            },
        ));
    }

    /// What a program printed, as the guide shows it and compares it.
    fn seen(&self, lines: &[String], listing: bool) -> Vec<String> {
        let lines: Vec<String> = lines.iter().map(|l| self.place.to_guide(l)).collect();
        normalize(&lines, listing)
    }

    fn run_command(&mut self, command: &str, expected: &[String], line: usize) {
        let words = shell_words(command);
        if let [cat, file] = words.as_slice() {
            if cat == "cat" {
                let consumer = self
                    .consumers
                    .iter()
                    .find(|(f, _)| f.as_deref() == Some(file.as_str()))
                    .unwrap_or_else(|| panic!("{}: no consumer writes {file}", self.where_(line)));
                let want = normalize(expected, false);
                let got = poll_until(&want, || self.seen(&consumer.1.running.lines(), false));
                assert_eq!(got, want, "{}: $ {command}", self.where_(line));
                return;
            }
        }
        if let [export, assignment] = words.as_slice() {
            if let Some((name, value)) = assignment
                .split_once('=')
                .filter(|(name, _)| export == "export" && is_variable_name(name))
            {
                assert!(
                    expected.is_empty(),
                    "{}: export prints nothing",
                    self.where_(line)
                );
                let value = self.value(value, line);
                self.exports.retain(|(n, _)| n != name);
                self.exports.push((name.to_string(), value));
                return;
            }
        }
        let listing = is_listing(&words);
        let want = normalize(expected, listing);
        let run = || {
            let output = self
                .command(&words, line, true)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let (stdout, stderr) = text(&output);
            let printed: Vec<String> = stdout
                .lines()
                .chain(stderr.lines())
                .map(String::from)
                .collect();
            self.seen(&printed, listing)
        };
        let got = if listing {
            poll_until(&want, run)
        } else {
            run()
        };
        assert_eq!(got, want, "{}: $ {command}", self.where_(line));
    }

    /// Ctrl+C to every consumer of the section, once each printed what the guide shows; a
    /// consumer whose last line the guide shows as `error: ...` must end by itself, with a
    /// failure (a non-zero status).
    fn end(&mut self) {
        for (_, consumer) in std::mem::take(&mut self.consumers) {
            let want = normalize(&consumer.expected, false);
            if !want.is_empty() {
                let deadline = Instant::now() + PATIENCE;
                while self.seen(&consumer.running.lines(), false).len() < want.len()
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            // A consumer whose last line is an error ends by itself, with a failure; the
            // others get Ctrl+C.
            let lines = if want.last().is_some_and(|l| l.starts_with("error: ")) {
                let (status, lines) = consumer.running.wait();
                assert!(
                    !status.success(),
                    "{}:{} (section '{}'): the consumer printed an error but exited with {status}",
                    self.path,
                    consumer.block_line,
                    self.heading
                );
                lines
            } else {
                consumer.running.interrupt()
            };
            if !want.is_empty() {
                assert_eq!(
                    self.seen(&lines, false),
                    want,
                    "{}:{} (section '{}'): the consumer printed otherwise",
                    self.path,
                    consumer.block_line,
                    self.heading
                );
            }
        }
    }
}

/// Whether `scripts/broker ARGS` only looks (a listing or a status): such a command is polled
/// until it shows what the guide shows, its rows in any order. Others run once.
fn is_listing(words: &[String]) -> bool {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        [
            "scripts/broker",
            "queues" | "exchanges" | "bindings" | "status",
            ..
        ] | ["scripts/broker", "cluster", "queues" | "status" | "url"]
    ) || words.get(1).is_some_and(|w| w.starts_with("list_"))
        && words.first() == Some(&"scripts/broker")
}

/// Polls `output` until it equals `want` (for at most [`PATIENCE`]); returns the last output.
fn poll_until(want: &[String], mut output: impl FnMut() -> Vec<String>) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = output();
        if got == want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lines as compared: trailing blanks, `Interrupted` and rabbitmqctl's chatter left out,
/// `amq.gen-` names made equal; for a listing, blanks folded and rows sorted.
fn normalize(lines: &[String], listing: bool) -> Vec<String> {
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| {
            *l != "Interrupted" && !l.starts_with("Timeout: ") && !l.starts_with("Listing ")
        })
        .map(|l| {
            let l = mask_job_ids(&mask_millis(&mask_generated_names(l)));
            if listing {
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            } else {
                l
            }
        })
        .collect();
    if listing {
        out.sort();
    }
    out
}

/// A timing (`in 1,628 ms` at the end of a line) varies from run to run: it is left aside.
fn mask_millis(line: &str) -> String {
    match line.strip_suffix(" ms").and_then(|l| l.rsplit_once(" in ")) {
        Some((head, number))
            if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == ',') =>
        {
            format!("{head} in … ms")
        }
        _ => line.to_string(),
    }
}

/// Chapter 9's job ids (`k3x9q2m7`: 8 characters, a letter then a digit, four times) are new
/// in every run: each is left aside, as `job-…`.
fn mask_job_ids(line: &str) -> String {
    let is_id = |w: &str| {
        w.len() == 8
            && w.bytes().enumerate().all(|(i, b)| {
                if i % 2 == 0 {
                    b.is_ascii_lowercase()
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    let mut out = String::new();
    let mut word = String::new();
    for c in line.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        out.push_str(if is_id(&word) { "job-…" } else { &word });
        word.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

fn mask_generated_names(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("amq.gen-") {
        out.push_str(&rest[..at]);
        out.push_str("amq.gen-…");
        rest = &rest[at + 8..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '…'))
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Splits a command line as a POSIX shell would for simple words and quotes (and `$(...)`).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|c| *c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            // `$(command)` stays one word, as written, for `value` to run.
            '$' if chars.clone().next() == Some('(') => {
                let w = word.get_or_insert_with(String::new);
                w.push('$');
                w.extend(chars.by_ref().take_while(|c| *c != ')'));
                w.push(')');
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// A shell variable's name: capitals, digits and `_`, not starting with a digit.
fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Takes a trailing `> FILE` off a command.
fn split_redirect(mut words: Vec<String>) -> (Vec<String>, Option<String>) {
    if words.len() >= 2 && words[words.len() - 2] == ">" {
        let file = words.pop();
        words.pop();
        return (words, file);
    }
    (words, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_follow_quotes() {
        assert_eq!(
            shell_words(r##"cargo run --bin x -- "#" 'kern.*' "a \"b\"" c\ d"##),
            ["cargo", "run", "--bin", "x", "--", "#", "kern.*", "a \"b\"", "c d"]
        );
    }

    #[test]
    fn timings_do_not_count() {
        let a = normalize(
            &["Published 5,000 messages in batch in 152 ms".into()],
            false,
        );
        let b = normalize(
            &["Published 5,000 messages in batch in 1,047 ms".into()],
            false,
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            normalize(
                &["Published 6,000 messages in batch in 152 ms".into()],
                false
            )
        );
    }

    #[test]
    fn job_ids_do_not_count() {
        let a = normalize(
            &[" [x] Dead k3x9q2m7: fail (reason rejected, from jobs)".into()],
            false,
        );
        let b = normalize(
            &[" [x] Dead a0b1c2d3: fail (reason rejected, from jobs)".into()],
            false,
        );
        assert_eq!(a, b);
        assert_eq!(
            normalize(&["fib 63245986 abcdefgh".into()], false),
            ["fib 63245986 abcdefgh"]
        );
    }

    #[test]
    fn generated_names_and_listing_order_do_not_count() {
        let a = normalize(&["b\tamq.gen-AbC_1-x\t1".into(), "a  2".into()], true);
        let b = normalize(&["a 2".into(), "b amq.gen-Zz9 1".into()], true);
        assert_eq!(a, b);
    }

    #[test]
    fn a_translation_must_keep_the_sections_that_end_consumers() {
        let original = "# T\n```console consumer\n$ r\n```\n## A\n```console\n$ x\n```\n";
        let translated =
            "# 标题\n说明\n```console consumer\n$ r\n```\n## 甲\n```console\n$ x\n```\n";
        let merged = "# 标题\n```console consumer\n$ r\n```\n```console\n$ x\n```\n";
        assert_eq!(runnable_blocks(original), runnable_blocks(translated));
        assert_ne!(
            runnable_blocks(original).unwrap(),
            runnable_blocks(merged).unwrap()
        );
    }

    #[test]
    fn runnable_blocks_are_found_by_section() {
        let guide = "# T\n```console consumer\n$ cargo run --bin r\n out\n```\n## Two\n```sh\n$ not run\n```\n```console\n$ x\n```\n";
        let sections = sections(guide).unwrap();
        assert_eq!(sections.len(), 2);
        assert!(sections[0].1[0].consumer);
        assert_eq!(sections[1].1.len(), 1);
        assert_eq!(sections[1].1[0].lines, ["$ x"]);
    }

    #[test]
    fn a_command_block_of_an_unknown_kind_fails_the_guide_instead_of_being_skipped() {
        for fence in [
            "```console-x",
            "```console consumr",
            "```consoles",
            "```console rabbitmq-4",
            "```console consumer consumer",
        ] {
            let guide = format!("# T\n\ntext\n{fence}\n$ cargo run --bin r\n```\n");
            let error = sections(&guide).err();
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("4: unknown kind of command block")),
                "{fence}: {error:?}"
            );
        }
        let known =
            "```console\n```\n```console consumer rabbitmq-4.3\n```\n```sh\n```\n```\n```\n";
        assert_eq!(sections(known).unwrap()[0].1.len(), 2);
    }

    #[test]
    fn of_alternative_transcripts_the_newest_not_newer_than_the_broker_runs() {
        let guide = "```console\n$ a\n```\n```console rabbitmq-3.10\n$ old\n```\n\
                     prose\n```console rabbitmq-4.3\n$ new\n```\n```console rabbitmq-4.3\n$ new2\n```\n\
                     ```console\n$ b\n```\n";
        let sections = sections(guide).unwrap();
        let run = |version| {
            chosen(&sections[0].1, &mut Some(version), "g")
                .iter()
                .map(|b| b.lines[0].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(run((3, 10)), ["$ a", "$ old", "$ b"]);
        assert_eq!(run((4, 0)), ["$ a", "$ old", "$ b"]);
        assert_eq!(run((4, 3)), ["$ a", "$ new", "$ new2", "$ b"]);
        assert_eq!(run((5, 1)), ["$ a", "$ new", "$ new2", "$ b"]);
        let older = std::panic::catch_unwind(|| run((3, 9)));
        assert!(older.is_err());
    }

    #[test]
    fn whole_numbers_are_renamed_not_parts_of_longer_ones() {
        assert_eq!(
            replace_number("5681 15681 56810 :5681/x", "5681", "20100"),
            "20100 15681 56810 :20100/x"
        );
    }

    #[test]
    fn a_command_substitution_stays_one_word() {
        assert_eq!(
            shell_words("export AMQP_URL=$(scripts/broker cluster url)"),
            ["export", "AMQP_URL=$(scripts/broker cluster url)"]
        );
    }
}
