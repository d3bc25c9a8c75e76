//! A chapter guide's runnable blocks, as the test harness executes them and `scripts/demo`
//! runs them: the one reading of what a guide says to type and what it shows.
//!
//! In a guide (a chapter's `README.md`), a block fenced as ```` ```console ```` is runnable:
//! each `$ command` line runs, and the lines after it are what it must print. A block fenced
//! as ```` ```console consumer ```` is one consumer in a terminal of its own: its command
//! starts in the background, and the lines are all it prints during the section (its
//! `Interrupted` aside); it gets Ctrl+C when the section (a `##` heading) ends, unless its last
//! line is shown as `error: ...`: then it must end by itself, with a failure. A command shown
//! ending in `error: ...` must fail too (a non-zero status). Commands:
//! `cargo run --bin NAME [-- ARGS]` (optionally `> FILE`, and after `NAME=value` variables),
//! `cat FILE`, `scripts/broker ...`, and `export NAME=value`, which sets NAME for the later
//! commands of ```` ```console ```` blocks (one terminal; a consumer is a terminal of its own).
//! A value may be `$(command)`, one of these commands, replaced by what it prints.
//!
//! Where RabbitMQ versions print different things, the guide shows each, fenced with the version
//! that printed it: ```` ```console rabbitmq-3.10 ```` and ```` ```console rabbitmq-4.3 ```` (with
//! `consumer` too, if need be). Consecutive blocks so fenced are alternatives: those of the
//! newest version that is not newer than the broker's run ([`chosen`]). A fence
//! ```` ```console... ```` of any other kind is an error: a typo must not turn a runnable block
//! into prose.
//!
//! A section (a `##` heading and what follows, up to the next) that holds the line
//! `<!-- demo -->` is part of the chapter's demo: `scripts/demo` runs those sections, in order.
//!
//! What may vary is left aside when output is compared ([`normalize`]): server-generated
//! `amq.gen-...` names, timings (`in 1,628 ms` at the end of a line), chapter 9's job ids, the
//! order of the rows of a listing, runs of blanks, rabbitmqctl's `Timeout:`/`Listing` lines.

/// The line that marks a section as part of the chapter's demo.
pub const DEMO_MARK: &str = "<!-- demo -->";

/// One runnable block of a guide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// A consumer in a terminal of its own (```` ```console consumer ````).
    pub consumer: bool,
    /// The RabbitMQ version (major, minor) whose output the block shows, if it says so.
    pub version: Option<(u32, u32)>,
    /// The line of the guide where its fence opens (from 1).
    pub line: usize,
    /// Its lines: `$ command` lines, each followed by what it prints.
    pub lines: Vec<String>,
}

/// A `##` section of a guide with its runnable blocks.
#[derive(Clone, Debug)]
pub struct Section {
    /// Its heading (`(top)` for what comes before the first).
    pub heading: String,
    /// Its runnable blocks, in order.
    pub blocks: Vec<Block>,
    /// Whether it holds [`DEMO_MARK`].
    pub demo: bool,
}

/// The guide's `##` sections with their runnable blocks; an error (`LINE: what`) for a fence
/// ```` ```console... ```` of a kind the runner does not know.
pub fn sections(text: &str) -> Result<Vec<Section>, String> {
    let mut sections = vec![Section {
        heading: "(top)".into(),
        blocks: Vec::new(),
        demo: false,
    }];
    // Inside a fence: `Some(block)` for a runnable one, `None` for any other.
    let mut fence: Option<Option<Block>> = None;
    for (number, line) in text.lines().enumerate() {
        let is_fence = line.trim_start().starts_with("```");
        let current = sections.len() - 1;
        match fence.take() {
            Some(Some(block)) if is_fence => sections[current].blocks.push(block),
            Some(None) if is_fence => {}
            Some(Some(mut block)) => {
                block.lines.push(line.to_string());
                fence = Some(Some(block));
            }
            Some(None) => fence = Some(None),
            None if is_fence => fence = Some(runnable(&line.trim_start()[3..], number + 1)?),
            None => {
                if let Some(heading) = line.strip_prefix("## ") {
                    sections.push(Section {
                        heading: heading.trim().to_string(),
                        blocks: Vec::new(),
                        demo: false,
                    });
                } else if line.trim() == DEMO_MARK {
                    sections[current].demo = true;
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
    let unknown = || {
        format!(
            "{line}: unknown kind of command block ```{info} (runnable: ```console, \
             ```console consumer, either with rabbitmq-X.Y)"
        )
    };
    let mut words = info.split_whitespace();
    match words.next() {
        Some("console") => {}
        Some(word) if word.starts_with("console") => return Err(unknown()),
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
            _ => return Err(unknown()),
        }
    }
    Ok(Some(block))
}

/// The blocks to run: all those without a version, and of each run of alternatives (blocks
/// fenced with a version), those of the newest version not newer than the broker's, which
/// `broker` gives (asked only if there are alternatives). An error (`LINE: what`) if the broker
/// is older than all of them.
pub fn chosen<'b>(
    blocks: &'b [Block],
    broker: &mut dyn FnMut() -> (u32, u32),
) -> Result<Vec<&'b Block>, String> {
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
        let broker = broker();
        let Some(version) = group
            .iter()
            .filter_map(|b| b.version)
            .filter(|v| *v <= broker)
            .max()
        else {
            return Err(format!(
                "{}: this step shows what RabbitMQ {} printed; the broker is {}.{}, \
                 older than all of them: add its transcript",
                group[0].line,
                group
                    .iter()
                    .filter_map(|b| b.version.map(|(a, b)| format!("{a}.{b}")))
                    .collect::<Vec<_>>()
                    .join(", "),
                broker.0,
                broker.1
            ));
        };
        out.extend(group.iter().filter(|b| b.version == Some(version)));
        i = end;
    }
    Ok(out)
}

/// A block's commands, each with the lines the guide shows it printing; an error for output
/// before any `$ command`.
pub fn commands(block: &Block) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    for line in &block.lines {
        match line.strip_prefix("$ ") {
            Some(command) => commands.push((command.to_string(), Vec::new())),
            None => match commands.last_mut() {
                Some((_, expected)) => expected.push(line.to_string()),
                None => return Err(format!("{}: output before any '$ command'", block.line)),
            },
        }
    }
    Ok(commands)
}

/// A runnable block as two guides are compared (a translation and its original): (first
/// runnable block of its section, consumer, version, lines).
pub type Runnable = (bool, bool, Option<(u32, u32)>, Vec<String>);

/// A guide's runnable blocks, as a translation must have them.
pub fn runnable_blocks(text: &str) -> Result<Vec<Runnable>, String> {
    Ok(sections(text)?
        .into_iter()
        .flat_map(|section| {
            section
                .blocks
                .into_iter()
                .enumerate()
                .map(|(i, block)| (i == 0, block.consumer, block.version, block.lines))
        })
        .collect())
}

/// One command of a guide, as a terminal runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `[NAME=value...] cargo run [-q] --bin NAME [-- ARGS] [> FILE]`.
    Program {
        /// Variables for this command only.
        assignments: Vec<(String, String)>,
        /// The program.
        name: String,
        /// Its arguments.
        args: Vec<String>,
        /// Where its output goes instead of the terminal.
        redirect: Option<String>,
    },
    /// `[NAME=value...] scripts/broker ARGS`.
    Broker {
        /// Variables for this command only.
        assignments: Vec<(String, String)>,
        /// Its arguments.
        args: Vec<String>,
    },
    /// `cat FILE`: what a consumer wrote there.
    Cat(String),
    /// `export NAME=value`.
    Export(String, String),
}

impl Step {
    /// The step a command line says; an error naming what the runner cannot run.
    pub fn parse(command: &str) -> Result<Step, String> {
        let (words, redirect) = split_redirect(shell_words(command));
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["cat", file] if redirect.is_none() => return Ok(Step::Cat(file.to_string())),
            ["export", assignment] if redirect.is_none() => {
                if let Some((name, value)) = assignment
                    .split_once('=')
                    .filter(|(name, _)| is_variable_name(name))
                {
                    return Ok(Step::Export(name.into(), value.into()));
                }
            }
            _ => {}
        }
        let count = words
            .iter()
            .take_while(|w| {
                w.split_once('=')
                    .is_some_and(|(name, _)| is_variable_name(name))
            })
            .count();
        let assignments = words[..count]
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let words: Vec<&str> = words[count..].iter().map(String::as_str).collect();
        if let Some(program) = cargo_run(&words) {
            let (name, args) = program.map_err(|e| format!("{e}: {command}"))?;
            return Ok(Step::Program {
                assignments,
                name: name.to_string(),
                args: args.iter().map(|a| a.to_string()).collect(),
                redirect,
            });
        }
        match words.as_slice() {
            ["scripts/broker", args @ ..] if redirect.is_none() => Ok(Step::Broker {
                assignments,
                args: args.iter().map(|a| a.to_string()).collect(),
            }),
            _ => Err(format!("a guide cannot run: {command}")),
        }
    }
}

/// The program and its arguments of `cargo run [-q] --bin NAME [-- ARGS...]`, as a guide
/// writes a program's command; `None` for another command.
pub fn cargo_run<'a>(words: &[&'a str]) -> Option<Result<(&'a str, Vec<&'a str>), String>> {
    let ["cargo", "run", rest @ ..] = words else {
        return None;
    };
    let rest: Vec<&str> = rest
        .iter()
        .copied()
        .filter(|w| *w != "-q" && *w != "--quiet")
        .collect();
    Some(match rest.as_slice() {
        ["--bin", name] => Ok((*name, Vec::new())),
        ["--bin", name, "--", args @ ..] => Ok((*name, args.to_vec())),
        _ => Err("expected cargo run --bin NAME [-- ARGS]".to_string()),
    })
}

/// Whether `scripts/broker ARGS` only looks (a listing or a status): such a command is polled
/// until it shows what the guide shows, its rows in any order. Others run once.
pub fn is_listing(words: &[String]) -> bool {
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

/// Whether a consumer's line says it is ready: its queue, bindings and consumer are in place
/// (` [*] Waiting for ...` in chapters 1-5 and 9, ` [x] Awaiting RPC requests` in chapter 6,
/// `Press control + C to close` in chapter 8).
pub fn is_ready(line: &str) -> bool {
    line.starts_with(" [*] Waiting for ")
        || line == " [x] Awaiting RPC requests"
        || line == "Press control + C to close"
}

/// Lines as compared: trailing blanks, `Interrupted` and rabbitmqctl's chatter left out,
/// `amq.gen-` names, timings and job ids made equal; for a listing, blanks folded and rows
/// sorted.
pub fn normalize(lines: &[String], listing: bool) -> Vec<String> {
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
pub fn shell_words(line: &str) -> Vec<String> {
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
            // `$(command)` stays one word, as written, for its value to be run.
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
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Takes a trailing `> FILE` off a command.
pub fn split_redirect(mut words: Vec<String>) -> (Vec<String>, Option<String>) {
    if words.len() >= 2 && words[words.len() - 2] == ">" {
        let file = words.pop();
        words.pop();
        return (words, file);
    }
    (words, None)
}

/// `text` with every number that is exactly `from` (not part of a longer one) made `to`.
pub fn replace_number(text: &str, from: &str, to: &str) -> String {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
        assert!(sections[0].blocks[0].consumer);
        assert_eq!(sections[1].blocks.len(), 1);
        assert_eq!(sections[1].blocks[0].lines, ["$ x"]);
    }

    #[test]
    fn a_section_that_holds_the_demo_mark_is_the_demos() {
        let guide = "# T\n## One\n<!-- demo -->\ntext\n## Two\n```sh\n<!-- demo -->\n```\n## Three\n\n  <!-- demo -->\n";
        let demo: Vec<bool> = sections(guide).unwrap().iter().map(|s| s.demo).collect();
        // Inside a fence the mark is text of the block.
        assert_eq!(demo, [false, true, false, true]);
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
        assert_eq!(sections(known).unwrap()[0].blocks.len(), 2);
    }

    #[test]
    fn of_alternative_transcripts_the_newest_not_newer_than_the_broker_runs() {
        let guide = "```console\n$ a\n```\n```console rabbitmq-3.10\n$ old\n```\n\
                     prose\n```console rabbitmq-4.3\n$ new\n```\n```console rabbitmq-4.3\n$ new2\n```\n\
                     ```console\n$ b\n```\n";
        let sections = sections(guide).unwrap();
        let run = |version: (u32, u32)| {
            chosen(&sections[0].blocks, &mut || version).map(|blocks| {
                blocks
                    .iter()
                    .map(|b| b.lines[0].clone())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(run((3, 10)).unwrap(), ["$ a", "$ old", "$ b"]);
        assert_eq!(run((4, 0)).unwrap(), ["$ a", "$ old", "$ b"]);
        assert_eq!(run((4, 3)).unwrap(), ["$ a", "$ new", "$ new2", "$ b"]);
        assert_eq!(run((5, 1)).unwrap(), ["$ a", "$ new", "$ new2", "$ b"]);
        assert!(run((3, 9)).unwrap_err().contains("older than all of them"));
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

    #[test]
    fn each_kind_of_command_is_read_as_a_step() {
        assert_eq!(
            Step::parse("RPC_TIMEOUT_SECONDS=2 cargo run --bin rpc_client -- 90").unwrap(),
            Step::Program {
                assignments: vec![("RPC_TIMEOUT_SECONDS".into(), "2".into())],
                name: "rpc_client".into(),
                args: vec!["90".into()],
                redirect: None,
            }
        );
        assert_eq!(
            Step::parse("cargo run --bin receive_logs_direct -- warning error > logs.log").unwrap(),
            Step::Program {
                assignments: vec![],
                name: "receive_logs_direct".into(),
                args: vec!["warning".into(), "error".into()],
                redirect: Some("logs.log".into()),
            }
        );
        assert_eq!(
            Step::parse("scripts/broker set_policy -q x '^jobs$' '{}'").unwrap(),
            Step::Broker {
                assignments: vec![],
                args: ["set_policy", "-q", "x", "^jobs$", "{}"]
                    .map(String::from)
                    .to_vec(),
            }
        );
        assert_eq!(Step::parse("cat f.log").unwrap(), Step::Cat("f.log".into()));
        assert_eq!(
            Step::parse("export AMQP_URL=$(scripts/broker cluster url)").unwrap(),
            Step::Export("AMQP_URL".into(), "$(scripts/broker cluster url)".into())
        );
        assert!(Step::parse("rm -rf /").is_err());
        assert!(Step::parse("cargo run --release").is_err());
    }
}
