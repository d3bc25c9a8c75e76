//! Runs a chapter guide's runnable blocks against the test broker, so that a guide cannot
//! drift from what the programs do.
//!
//! In a guide (a chapter's `README.md`), a block fenced as ```` ```console ```` is runnable:
//! each `$ command` line runs, and the lines after it are what it must print. A block fenced
//! as ```` ```console consumer ```` is one consumer in a terminal of its own: its command
//! starts in the background, and the lines are all it prints during the section (its
//! `Interrupted` aside); it gets Ctrl+C when the section (a `##` heading) ends. Commands:
//! `cargo run --bin NAME [-- ARGS]` (optionally `> FILE`, and after `NAME=value` variables),
//! `cat FILE`, `scripts/broker ...`.
//! What may vary is left aside: server-generated `amq.gen-...` names, timings (`in 1,628 ms`
//! at the end of a line), the order of the rows
//! of a listing, runs of blanks, rabbitmqctl's `Timeout:`/`Listing` lines. Listings and
//! `cat` are polled until they match, since a guide shows them once things have settled.

use super::{text, workspace_root, Running, Vhost, PATIENCE};
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// One runnable block of a guide.
struct Block {
    consumer: bool,
    line: usize,
    lines: Vec<String>,
}

/// Runs the runnable blocks of the guide at `path` (relative to the workspace root) in a vhost
/// of its own. `programs` maps the binary names the guide uses to their paths. `env` is given
/// to every program (e.g. a shorter `WORKER_SECONDS_PER_DOT`). Returns how many commands ran.
pub fn run_guide(path: &str, programs: &[(&str, &str)], env: &[(&str, &str)]) -> usize {
    let text = std::fs::read_to_string(workspace_root().join(path)).unwrap();
    let vhost = Vhost::new(&format!("guide-{}", path.replace(['/', '.'], "-")));
    let programs: HashMap<&str, &str> = programs.iter().copied().collect();
    let mut commands = 0;
    for (heading, blocks) in sections(&text) {
        let mut section = Section {
            vhost: &vhost,
            programs: &programs,
            env,
            path,
            heading: &heading,
            consumers: Vec::new(),
        };
        for block in &blocks {
            commands += section.run(block);
        }
        section.end();
    }
    assert!(commands > 0, "{path} has no runnable block");
    commands
}

/// Asserts that the guide at `translation` (e.g. a chapter's `README.zh-CN.md`) has the same
/// runnable blocks as the guide at `original`, in the same order: the same kind (consumer or
/// not), the same commands and the same expected output. Only the prose may differ, so that a
/// translated guide cannot drift from the one the tests execute. Paths are relative to the
/// workspace root.
pub fn assert_same_commands(original: &str, translation: &str) {
    let blocks = |path: &str| -> Vec<(bool, Vec<String>)> {
        let text = std::fs::read_to_string(workspace_root().join(path))
            .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        sections(&text)
            .into_iter()
            .flat_map(|(_, blocks)| blocks)
            .map(|block| (block.consumer, block.lines))
            .collect()
    };
    let (want, got) = (blocks(original), blocks(translation));
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(
            g,
            w,
            "runnable block {} of {translation} differs from {original}'s",
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

/// The guide's `##` sections with their runnable blocks.
fn sections(text: &str) -> Vec<(String, Vec<Block>)> {
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
            None if is_fence => {
                let mut info = line.trim_start()[3..].split_whitespace();
                fence = Some((info.next() == Some("console")).then(|| Block {
                    consumer: info.any(|w| w == "consumer"),
                    line: number + 1,
                    lines: Vec::new(),
                }));
            }
            None => {
                if let Some(heading) = line.strip_prefix("## ") {
                    sections.push((heading.trim().to_string(), Vec::new()));
                }
            }
        }
    }
    sections
}

struct Consumer {
    running: Running,
    expected: Vec<String>,
    block_line: usize,
}

struct Section<'g> {
    vhost: &'g Vhost,
    programs: &'g HashMap<&'g str, &'g str>,
    env: &'g [(&'g str, &'g str)],
    path: &'g str,
    heading: &'g str,
    consumers: Vec<(Option<String>, Consumer)>,
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

    fn command(&self, words: &[String], line: usize) -> Command {
        // `NAME=value cargo run ...`: variables for that one command, as a shell reads them.
        let assignments = words
            .iter()
            .take_while(|w| {
                w.split_once('=')
                    .is_some_and(|(name, _)| is_variable_name(name))
            })
            .count();
        let (assignments, words) = words.split_at(assignments);
        let mut command = self.command_without_variables(words, line);
        for assignment in assignments {
            if let Some((name, value)) = assignment.split_once('=') {
                command.env(name, value);
            }
        }
        command
    }

    fn command_without_variables(&self, words: &[String], line: usize) -> Command {
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
                let mut command = self.vhost.command(program, args);
                command.envs(self.env.iter().copied());
                command
            }
            ["scripts/broker", args @ ..] => {
                let mut command = Command::new(workspace_root().join("scripts/broker"));
                command.args(args).env("RABBITMQ_VHOST", &self.vhost.name);
                command
            }
            _ => panic!("{}: the guide test cannot run {words:?}", self.where_(line)),
        }
    }

    fn start_consumer(&mut self, command: &str, expected: Vec<String>, line: usize) {
        let (words, file) = split_redirect(shell_words(command));
        let running = Running::spawn(self.command(&words, line));
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
                let got = poll_until(&want, || normalize(&consumer.1.running.lines(), false));
                assert_eq!(got, want, "{}: $ {command}", self.where_(line));
                return;
            }
        }
        let listing = words.first().map(String::as_str) == Some("scripts/broker");
        let want = normalize(expected, listing);
        let run = || {
            let output = self
                .command(&words, line)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let (stdout, stderr) = text(&output);
            let printed: Vec<String> = stdout
                .lines()
                .chain(stderr.lines())
                .map(String::from)
                .collect();
            normalize(&printed, listing)
        };
        let got = if listing {
            poll_until(&want, run)
        } else {
            run()
        };
        assert_eq!(got, want, "{}: $ {command}", self.where_(line));
    }

    /// Ctrl+C to every consumer of the section, once each printed what the guide shows.
    fn end(&mut self) {
        for (_, consumer) in self.consumers.drain(..) {
            let want = normalize(&consumer.expected, false);
            if !want.is_empty() {
                let deadline = Instant::now() + PATIENCE;
                while normalize(&consumer.running.lines(), false).len() < want.len()
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let lines = consumer.running.interrupt();
            if !want.is_empty() {
                assert_eq!(
                    normalize(&lines, false),
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

/// Splits a command line as a POSIX shell would for simple words and quotes.
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
    fn runnable_blocks_are_found_by_section() {
        let guide = "# T\n```console consumer\n$ cargo run --bin r\n out\n```\n## Two\n```sh\n$ not run\n```\n```console\n$ x\n```\n";
        let sections = sections(guide);
        assert_eq!(sections.len(), 2);
        assert!(sections[0].1[0].consumer);
        assert_eq!(sections[1].1.len(), 1);
        assert_eq!(sections[1].1[0].lines, ["$ x"]);
    }
}
