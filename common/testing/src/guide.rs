//! Runs a chapter guide's runnable blocks against the test broker, so that a guide cannot
//! drift from what the programs do. What a guide's blocks are, and how output is compared, is
//! [`scripts::guide`]'s (scripts/demo reads the guides the same way): ```` ```console ````
//! blocks are commands with what they print, ```` ```console consumer ```` blocks consumers
//! that run until their section ends (one shown ending in `error: ...` must end by itself,
//! with a failure, and so must such a command), blocks fenced with `rabbitmq-X.Y` alternatives chosen by
//! the broker's version. Listings and `cat` are polled until they match, since a guide shows
//! them once things have settled.
//!
//! [`run_cluster_guide`] runs a guide of the three-node cluster (`scripts/broker cluster ...`) on
//! the harness's [`Cluster`]: the guide's node names (`cluster1@localhost`) and ports (5681-5683,
//! management 15681-15683) stand for the test cluster's, in commands and in what they print.

use super::{
    broker_version, program_command, text, workspace_root, Cluster, Running, Vhost, PATIENCE,
};
use scripts::guide::{
    cargo_run, chosen, commands, is_listing, is_variable_name, normalize, replace_number,
    runnable_blocks, sections, shell_words, split_redirect, Block,
};
use scripts::nodes;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

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
    for guide_section in sections(&text).unwrap_or_else(|e| panic!("{path}:{e}")) {
        let mut section = Section {
            place,
            programs: &programs,
            env,
            path,
            heading: &guide_section.heading,
            consumers: Vec::new(),
            exports,
        };
        for block in chosen_blocks(&guide_section.blocks, &mut version, path) {
            commands += section.run(block);
        }
        section.end();
        exports = std::mem::take(&mut section.exports);
    }
    assert!(commands > 0, "{path} has no runnable block");
    commands
}

/// The blocks to run (see [`scripts::guide::chosen`]); the broker's version is asked once,
/// if a block needs it.
fn chosen_blocks<'b>(
    blocks: &'b [Block],
    broker: &mut Option<(u32, u32)>,
    path: &str,
) -> Vec<&'b Block> {
    chosen(blocks, &mut || *broker.get_or_insert_with(broker_version))
        .unwrap_or_else(|e| panic!("{path}:{e}"))
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
        // The guide's cluster is scripts/broker's default one.
        let port = |first: u16, n: u16| nodes::cluster_node_port(first, n).unwrap();
        let management = |p: u16| nodes::management_port(p).unwrap();
        let mut pairs: Vec<(String, String)> = (1..=nodes::CLUSTER_NODES)
            .flat_map(|n| {
                let (guide, test) = (port(nodes::CLUSTER_PORT, n), cluster.node_port(n));
                [(guide, test), (management(guide), management(test))]
            })
            .map(|(guide, test)| (guide.to_string(), test.to_string()))
            .collect();
        pairs.push(("cluster".into(), cluster.name().to_string()));
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
        let mut commands = commands(block)
            .unwrap_or_else(|e| panic!("{}:{e} (section '{}')", self.path, self.heading));
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
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        if let Some(program) = cargo_run(&words) {
            let (name, args) =
                program.unwrap_or_else(|e| panic!("{}: {e}: {words:?}", self.where_(line)));
            let program = self
                .programs
                .get(name)
                .unwrap_or_else(|| panic!("{}: unknown program {name}", self.where_(line)));
            let mut command = match self.place {
                Place::Vhost(vhost) => vhost.command(program, &args),
                Place::Cluster(_) => {
                    assert!(
                        variables.iter().any(|(name, _)| name == "AMQP_URL"),
                        "{}: on the cluster, a program needs AMQP_URL",
                        self.where_(line)
                    );
                    program_command(program, &args)
                }
            };
            command.envs(self.env.iter().copied());
            return command;
        }
        match words.as_slice() {
            ["scripts/broker", args @ ..] => {
                let mut command = super::broker_command();
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
        let failed = std::cell::Cell::new(false);
        let run = || {
            let output = self
                .command(&words, line, true)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            failed.set(!output.status.success());
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
        // A command shown ending in an error must fail, as a program does then (exit 1).
        if want.last().is_some_and(|l| l.starts_with("error: ")) {
            assert!(
                failed.get(),
                "{}: $ {command} printed an error but exited with 0",
                self.where_(line)
            );
        }
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
