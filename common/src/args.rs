//! The command line and the settings in the environment, read before connecting: one way for
//! every program, and a usage error (the usage line, then `error: ...`) for what is wrong.

use crate::report::{Help, Usage};
use crate::Failure;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Help text about the broker's address, appended to every program's `--help`.
const ENVIRONMENT_HELP: &str = "\
Environment:
  AMQP_URL           the broker as an AMQP URI, e.g. amqp://user:pass@host:5672/%2f
                     (percent-encode '@' ':' '/' '%' ',' in each part; amqps:// for TLS;
                     several, separated by commas: the nodes of a cluster, tried in order;
                     waits: ?heartbeat=S&connection_timeout=MS&request_timeout=MS
                     &confirm_timeout=MS)
  RABBITMQ_HOST      when AMQP_URL is not set: host (default localhost)
  RABBITMQ_PORT        port (default 5672)
  RABBITMQ_USER        user (default guest; guest may log in over loopback only)
  RABBITMQ_PASSWORD    password (default guest), raw: no encoding needed
  RABBITMQ_VHOST       virtual host (default /)
  RABBITMQ_CACERTFILE  CA certificates (PEM) to trust for amqps://
  RUST_LOG           e.g. debug to see the AMQP traffic";

/// A program's command line: its options first (`--ttl 5000`), then its words.
pub struct Args {
    help: String,
    args: Vec<String>,
}

/// The words of the command line of a program whose `--help` text is `help` (the usage line
/// first): see [`Args::words`].
pub fn args(help: &str) -> anyhow::Result<Vec<String>> {
    Args::read(help)?.words()
}

impl Args {
    /// Reads the command line of a program whose `--help` text is `help`.
    pub fn read(help: &str) -> anyhow::Result<Args> {
        Args::from(help, std::env::args_os().skip(1))
    }

    /// As [`read`](Self::read), from `args`.
    fn from(
        help: &str,
        args: impl IntoIterator<Item = std::ffi::OsString>,
    ) -> anyhow::Result<Args> {
        let args = args
            .into_iter()
            // std::env::args() would panic on an argument that is not UTF-8.
            .map(|arg| {
                arg.into_string().map_err(|arg| {
                    usage(
                        help,
                        &format!("the argument '{}' is not UTF-8 text", arg.to_string_lossy()),
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Args {
            help: help.to_string(),
            args,
        })
    }

    /// As [`read`](Self::read), from `words` instead of the program's arguments (for tests).
    pub fn from_words(help: &str, words: &[&str]) -> Args {
        let args = words.iter().map(|word| word.to_string()).collect();
        Args {
            help: help.to_string(),
            args,
        }
    }

    /// Takes the flag `name` (`--confirm`) from the options before the words: whether it was given.
    pub fn flag(&mut self, name: &str) -> bool {
        let found = self.options().position(|arg| arg == name);
        found.map(|i| self.args.remove(i)).is_some()
    }

    /// Takes the option `name` (`--ttl 5000` or `--ttl=5000`, before the words) and reads its
    /// value as [`number`] does: `None` when it is not given; `{name} takes {what}: '...'` when
    /// its value is not a whole number within `range`.
    pub fn number(
        &mut self,
        name: &str,
        range: RangeInclusive<u64>,
        what: &str,
    ) -> anyhow::Result<Option<u64>> {
        let with_equals = format!("{name}=");
        let Some(i) = self
            .options()
            .position(|arg| arg == name || arg.starts_with(&with_equals))
        else {
            return Ok(None);
        };
        let value = match self.args.remove(i).strip_prefix(&with_equals) {
            Some(value) => value.to_string(),
            None if i < self.args.len() => self.args.remove(i),
            None => String::new(),
        };
        number(&value, range, what)
            .map(Some)
            .map_err(|_| usage(&self.help, &format!("{name} takes {what}: '{value}'")))
    }

    /// The arguments before the words: those that start with a dash, until `--`.
    fn options(&self) -> impl Iterator<Item = &String> {
        self.args
            .iter()
            .take_while(|arg| is_option(arg) && *arg != "--")
    }

    /// The program's one optional word (`rpc_client 30`), read with `parse`, whose error is the
    /// problem a usage error names: `default` without one; `many` is the problem with more.
    pub fn one<T>(
        self,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
        many: &str,
    ) -> anyhow::Result<T> {
        let help = self.help.clone();
        match self.words()?.as_slice() {
            [] => Ok(default),
            [word] => parse(word).map_err(|problem| usage(&help, &problem)),
            _ => Err(usage(&help, many)),
        }
    }

    /// No words at all, for a program that takes none: else the usage error
    /// `{program} takes no arguments`.
    pub fn none(self) -> anyhow::Result<()> {
        let help = self.help.clone();
        let program = help.split_whitespace().nth(1).unwrap_or("this program");
        match self.words()?.is_empty() {
            true => Ok(()),
            false => Err(usage(&help, &format!("{program} takes no arguments"))),
        }
    }

    /// The words. `-h`/`--help` prints the help (and the environment the program reads), then
    /// exits 0; any other `-flag` is a usage error; `--` ends the options, so that a message may
    /// start with a dash. A negative number (`-5`) is a word, for the program to judge.
    pub fn words(self) -> anyhow::Result<Vec<String>> {
        let mut words = Vec::new();
        let mut options_done = false;
        for arg in self.args {
            if options_done || !is_option(&arg) {
                words.push(arg);
            } else if arg == "--" {
                options_done = true;
            } else if arg == "-h" || arg == "--help" {
                let help = format!("{}\n\n{ENVIRONMENT_HELP}", self.help.trim_end());
                return Err(Help(help).into());
            } else {
                let problem = format!("unknown option '{arg}' (put -- before a message that starts with a dash; --help for help)");
                return Err(usage(&self.help, &problem));
            }
        }
        Ok(words)
    }
}

/// Whether `arg` is an option (`--ttl`, `-h`, `--`): it starts with a dash, and is neither `-`
/// nor a negative number (`-5`, `-1.5`).
fn is_option(arg: &str) -> bool {
    arg.starts_with('-') && arg != "-" && !is_negative_number(arg)
}

/// `-5`, `-1.5`: an argument that is a negative number.
fn is_negative_number(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()) && n.parse::<f64>().is_ok())
}

/// A whole number within `range`, written as a learner may write it: `5000`, or with thousands
/// separators as the course prints counts, `5,000`. Refused as `'...' is not {what}` (a
/// negative number as `'-5' is negative, not {what}`).
pub fn number(text: &str, range: RangeInclusive<u64>, what: &str) -> Result<u64, String> {
    if is_negative_number(text) {
        return Err(format!("'{text}' is negative, not {what}"));
    }
    let mut groups = text.split(',');
    let first = groups.next().unwrap_or_default();
    let rest: Vec<&str> = groups.collect();
    let digits = |group: &str| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit());
    let grouped = rest.is_empty() || (first.len() <= 3 && rest.iter().all(|g| g.len() == 3));
    Some(text)
        .filter(|_| digits(first) && rest.iter().all(|g| digits(g)) && grouped)
        .and_then(|text| text.replace(',', "").parse().ok())
        .filter(|n| range.contains(n))
        .ok_or_else(|| format!("'{text}' is not {what}"))
}

/// A time as a learner may write it, `YYYY-MM-DDTHH:MM:SSZ` (UTC, as RFC 3339 writes it): its
/// seconds since 1970, if it is one.
pub fn utc_time(text: &str) -> Option<u64> {
    const SHAPE: &[u8] = b"0000-00-00T00:00:00Z";
    const DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let fits = |(c, s): (&u8, &u8)| {
        if *s == b'0' {
            c.is_ascii_digit()
        } else {
            c == s
        }
    };
    if text.len() != SHAPE.len() || !text.as_bytes().iter().zip(SHAPE).all(fits) {
        return None;
    }
    let year: i64 = text[..4].parse().ok()?;
    let [month, day, hour, minute, second] =
        [5, 8, 11, 14, 17].map(|at| text[at..at + 2].parse::<i64>().unwrap_or(99));
    let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let months_before = usize::try_from(month - 1).ok()?;
    let month_days = DAYS.get(months_before)? + i64::from(month == 2 && leap(year));
    if year < 1970 || !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = (1970..year).map(|y| 365 + i64::from(leap(y))).sum::<i64>()
        + DAYS[..months_before].iter().sum::<i64>()
        + i64::from(month > 2 && leap(year))
        + day
        - 1;
    u64::try_from(days * 86_400 + hour * 3_600 + minute * 60 + second).ok()
}

/// A setting in seconds from the environment variable `name` (fractions allowed), `default`
/// when it is not set: from 0 (0 itself only if `zero` is allowed) to a day.
pub fn seconds(
    name: &str,
    default: Duration,
    zero: bool,
    example: &str,
) -> anyhow::Result<Duration> {
    let Ok(text) = std::env::var(name) else {
        return Ok(default);
    };
    text.parse::<f64>()
        .ok()
        .filter(|s| (*s > 0.0 || (zero && *s == 0.0)) && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            Failure::new(format!(
                "{name} is not a number of seconds between 0 and 86400: '{text}'"
            ))
            .hint(format!("e.g. {name}={example}"))
            .into()
        })
}

/// The usage line of a program whose `--help` text is `help` (its first line), alone, as the
/// original course prints it when arguments are missing. [`run`](crate::run) prints it, and
/// exits 1.
pub fn usage_line(help: &str) -> anyhow::Error {
    Usage(help.lines().next().unwrap_or_default().to_string()).into()
}

/// A usage error for a program whose `--help` text is `help`: its usage line (the first), then
/// `error: {problem}`. [`run`](crate::run) prints it as it is, and exits 1.
pub fn usage(help: &str, problem: &str) -> anyhow::Error {
    let line = help.lines().next().unwrap_or_default();
    Usage(format!("{line}\nerror: {problem}")).into()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HELP: &str = "Usage: prog [words...]\nDoes things.";

    fn read(args: &[&str]) -> Args {
        Args::from_words(HELP, args)
    }

    fn parse(args: &[&str]) -> anyhow::Result<Vec<String>> {
        read(args).words()
    }

    fn problem(error: anyhow::Error) -> String {
        error.downcast_ref::<Usage>().unwrap().to_string()
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
        assert!(crate::describe(&error)
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
        assert_eq!(parse(&["-5"]).unwrap(), ["-5"]);
        assert_eq!(parse(&["-1.5", "x"]).unwrap(), ["-1.5", "x"]);
        assert!(parse(&["-x5"]).unwrap_err().is::<Usage>());
        assert!(parse(&["-inf"]).unwrap_err().is::<Usage>());
    }

    #[test]
    fn help_is_recognised_and_lists_the_environment() {
        let help = parse(&["x", "--help"]).unwrap_err();
        let text = help.downcast_ref::<Help>().unwrap().to_string();
        assert!(text.starts_with("Usage: prog [words...]\nDoes things."));
        assert!(text.contains("AMQP_URL") && text.contains("RABBITMQ_PASSWORD"));
        assert!(parse(&["-h"]).unwrap_err().is::<Help>());
    }

    #[test]
    fn an_unknown_flag_is_a_usage_error_not_a_message() {
        let text = problem(parse(&["--durable"]).unwrap_err());
        assert!(text.starts_with("Usage: prog [words...]\n"));
        assert!(text.contains("unknown option '--durable'"));
    }

    #[test]
    fn options_come_before_the_words() {
        let mut args = read(&["--confirm", "--ttl", "5,000", "a", "--confirm"]);
        assert!(args.flag("--confirm"));
        let ttl = args.number("--ttl", 0..=10_000, "milliseconds").unwrap();
        assert_eq!(ttl, Some(5_000));
        assert!(problem(args.words().unwrap_err()).contains("unknown option '--confirm'"));
        let mut args = read(&["--ttl=7", "x"]);
        assert_eq!(args.number("--ttl", 0..=10, "ms").unwrap(), Some(7));
        assert_eq!(args.words().unwrap(), ["x"]);
        let mut args = read(&["a", "--ttl", "5"]);
        assert_eq!(
            args.number("--ttl", 0..=10, "ms").unwrap(),
            None,
            "after a word"
        );
        for bad in [&["--ttl", "soon"][..], &["--ttl"], &["--ttl=-5"]] {
            let error = read(bad)
                .number("--ttl", 0..=10, "milliseconds")
                .unwrap_err();
            assert!(
                problem(error).contains("error: --ttl takes milliseconds: '"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_program_that_takes_no_arguments_says_so_with_its_name() {
        assert!(read(&[]).none().is_ok());
        let problem = problem(read(&["x"]).none().unwrap_err());
        assert!(
            problem.ends_with("error: prog takes no arguments"),
            "{problem}"
        );
    }

    #[test]
    fn one_optional_word_has_a_default_and_a_problem_for_more() {
        let what = "a whole number (e.g. prog 30)";
        let n =
            |args: &[&str]| read(args).one(30, |n| number(n, 0..=u64::MAX, what), "one at most");
        assert_eq!(n(&[]).unwrap(), 30);
        assert_eq!(n(&["12"]).unwrap(), 12);
        let negative = problem(n(&["-5"]).unwrap_err());
        assert!(negative.ends_with("error: '-5' is negative, not a whole number (e.g. prog 30)"));
        assert!(problem(n(&["1", "2"]).unwrap_err()).ends_with("error: one at most"));
    }

    #[test]
    fn a_time_is_read_as_rfc_3339_writes_it_in_utc() {
        assert_eq!(utc_time("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(utc_time("2026-11-29T20:00:00Z"), Some(1_795_982_400));
        assert_eq!(utc_time("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-11-29 20:00:00",
            "2026-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T20:00:00+01",
        ] {
            assert_eq!(utc_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_number_may_have_thousands_separators_as_the_course_prints_counts() {
        let n = |text: &str| number(text, 1..=10_000_000, "a count");
        assert_eq!(n("50,000"), Ok(50_000));
        assert_eq!(n("1,000,000"), Ok(1_000_000));
        assert_eq!(n("5000"), Ok(5_000));
        for bad in [
            "5,0000",
            ",500",
            "50,",
            "1,,000",
            "12345,000",
            "-x",
            "5 000",
            "",
            "0",
        ] {
            assert_eq!(n(bad), Err(format!("'{bad}' is not a count")), "{bad}");
        }
        assert_eq!(n("-5"), Err("'-5' is negative, not a count".to_string()));
    }
}
