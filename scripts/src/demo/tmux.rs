//! The demo in tmux: a window per chapter, a pane per consumer, the bottom pane for the
//! producers and for you. Commands are typed as a learner types them; what a pane shows after
//! its command is what the program printed. The session stays when the demo is done: you are
//! attached to it (Ctrl+B D detaches; `tmux kill-session -t course-demo` ends it all).

use super::{in_a_terminal, Desk, Printed, PATIENCE};
use crate::process::{self, which};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The demo's tmux session.
pub const SESSION: &str = "course-demo";

/// Whether the demo shows its programs in tmux: in a terminal with tmux (offered through
/// apt-get when it is missing there).
pub fn wanted() -> bool {
    if !in_a_terminal() {
        return false;
    }
    if which("tmux").is_none() && which("apt-get").is_some() {
        print!("tmux shows each program in a pane of its own. Install it now (apt-get install tmux)? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if answer.trim_start().starts_with(['y', 'Y']) {
            let mut install = if process::is_root() {
                Command::new("apt-get")
            } else {
                let mut sudo = Command::new("sudo");
                sudo.arg("apt-get");
                sudo
            };
            let _ = install.args(["install", "-y", "-qq", "tmux"]).status();
        }
    }
    which("tmux").is_some()
}

/// Runs tmux with `args`; what it prints, trimmed.
fn tmux(args: &[&str]) -> Result<String> {
    let output = Command::new("tmux")
        .args(args)
        .output()
        .context("cannot run tmux")?;
    if !output.status.success() {
        bail!(
            "tmux {}: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// What `pane` shows, its history included, wrapped lines joined, blank lines at the end left
/// out.
fn capture(pane: &str) -> Vec<String> {
    let text = tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", pane]).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// The program in `pane`'s foreground (its shell's name when it waits for a command).
fn foreground(pane: &str) -> String {
    tmux(&[
        "display-message",
        "-p",
        "-t",
        pane,
        "#{pane_current_command}",
    ])
    .unwrap_or_default()
}

/// How many of `lines` are `typed` after a prompt.
fn typed_lines(lines: &[String], typed: &str) -> usize {
    lines.iter().filter(|l| l.ends_with(typed)).count()
}

/// The lines after the last line that is `typed` after a prompt, if it has been typed more
/// than `before` times.
fn after(lines: &[String], typed: &str, before: usize) -> Option<Vec<String>> {
    if typed_lines(lines, typed) <= before {
        return None;
    }
    let at = lines.iter().rposition(|l| l.ends_with(typed))?;
    Some(lines[at + 1..].to_vec())
}

/// A pane of the demo's window, and the shell waiting in it.
struct Pane {
    id: String,
    shell: String,
    /// The shell's prompt, as it first showed it.
    prompt: String,
}

impl Pane {
    /// Waits (up to 5 s) for the shell's prompt, so that typing shows as typed.
    fn ready(id: String) -> Pane {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut shown = capture(&id);
        while shown.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            shown = capture(&id);
        }
        let shell = foreground(&id);
        let prompt = shown.last().cloned().unwrap_or_default();
        Pane { id, shell, prompt }
    }

    fn idle(&self) -> bool {
        foreground(&self.id) == self.shell
    }

    fn type_line(&self, typed: &str) -> Result<()> {
        tmux(&["send-keys", "-t", &self.id, "-l", typed])?;
        tmux(&["send-keys", "-t", &self.id, "Enter"])?;
        Ok(())
    }

    /// Waits (at most `limit`) until the shell waits for a command again.
    fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.idle() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }
}

/// A consumer started in a pane.
struct Started {
    pane: usize,
    typed: String,
    before: usize,
    /// Where it writes instead of its pane (`> FILE`).
    file: Option<PathBuf>,
}

/// The demo's session, its current window and panes.
pub struct Tmux {
    root: PathBuf,
    env: Vec<String>,
    window: String,
    panes: Vec<(String, Pane)>,
    producers: Option<Pane>,
    consumers: Vec<Started>,
    /// The consumers checked in this section, to stop when the next one starts.
    done: Vec<usize>,
}

impl Tmux {
    /// A fresh session (an earlier demo's is ended), its programs given `env`.
    pub fn new(root: &Path, env: &[(String, String)]) -> Result<Tmux> {
        let _ = tmux(&["kill-session", "-t", SESSION]);
        Ok(Tmux {
            root: root.to_path_buf(),
            env: env.iter().map(|(n, v)| format!("{n}={v}")).collect(),
            window: String::new(),
            panes: Vec::new(),
            producers: None,
            consumers: Vec::new(),
            done: Vec::new(),
        })
    }

    fn with_env<'a>(&'a self, args: &mut Vec<&'a str>) {
        for variable in &self.env {
            args.extend(["-e", variable.as_str()]);
        }
    }

    fn producers(&self) -> Result<&Pane> {
        self.producers.as_ref().context("no tmux window yet")
    }

    /// A pane for `label`: its earlier one cleared, or a new one above the producers'.
    fn pane_for(&mut self, label: &str, title: &str) -> Result<usize> {
        if let Some(at) = self.panes.iter().position(|(l, _)| l == label) {
            let pane = &self.panes[at].1;
            if !pane.idle() {
                tmux(&["send-keys", "-t", &pane.id, "C-c"])?;
                pane.wait_idle(Duration::from_secs(10));
            }
            pane.type_line("clear")?;
            pane.wait_idle(Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(300));
            tmux(&["clear-history", "-t", &pane.id])?;
            tmux(&["select-pane", "-t", &pane.id, "-T", title])?;
            return Ok(at);
        }
        let root = self.root.display().to_string();
        let mut args = vec![
            "split-window",
            "-t",
            &self.window,
            "-b",
            "-P",
            "-F",
            "#{pane_id}",
            "-c",
            &root,
        ];
        self.with_env(&mut args);
        let id = tmux(&args)?;
        tmux(&["select-layout", "-t", &self.window, "tiled"])?;
        let pane = Pane::ready(id);
        tmux(&["select-pane", "-t", &pane.id, "-T", title])?;
        self.panes.push((label.to_string(), pane));
        Ok(self.panes.len() - 1)
    }

    fn started(&self, id: usize) -> Result<(&Started, &Pane)> {
        let started = self.consumers.get(id).context("no such consumer")?;
        Ok((started, &self.panes[started.pane].1))
    }
}

impl Desk for Tmux {
    /// A window of the demo's session for the chapter, its one pane (at the bottom, once
    /// consumers are added above) for the producers and for you.
    fn chapter(&mut self, name: &str) -> Result<()> {
        // The chapter before's consumers end cleanly before the vhost they use is made
        // afresh; their windows stay.
        self.section()?;
        let root = self.root.display().to_string();
        let exists = tmux(&["has-session", "-t", SESSION]).is_ok();
        let mut args = if exists {
            vec![
                "new-window",
                "-d",
                "-P",
                "-F",
                "#{window_id}",
                "-t",
                SESSION,
                "-n",
                name,
                "-c",
                &root,
            ]
        } else {
            vec![
                "new-session",
                "-d",
                "-P",
                "-F",
                "#{window_id}",
                "-s",
                SESSION,
                "-n",
                name,
                "-c",
                &root,
                "-x",
                "220",
                "-y",
                "55",
            ]
        };
        let env = self.env.clone();
        for variable in &env {
            args.extend(["-e", variable.as_str()]);
        }
        self.window = tmux(&args)?;
        if !exists {
            tmux(&["set-option", "-t", SESSION, "pane-border-status", "top"])?;
        }
        // A new window: the panes of the chapter before are its own.
        self.panes.clear();
        self.consumers.clear();
        self.done.clear();
        let producers = Pane::ready(tmux(&[
            "display-message",
            "-p",
            "-t",
            &self.window,
            "#{pane_id}",
        ])?);
        tmux(&[
            "select-pane",
            "-t",
            &producers.id,
            "-T",
            "producers: type more commands here",
        ])?;
        self.producers = Some(producers);
        Ok(())
    }

    /// The consumers of the section before get Ctrl+C, as the guide says at its end. (Those of
    /// a chapter's last section keep running for you to watch.)
    fn section(&mut self) -> Result<()> {
        for id in std::mem::take(&mut self.done) {
            let (_, pane) = self.started(id)?;
            if !pane.idle() {
                tmux(&["send-keys", "-t", &pane.id, "C-c"])?;
                pane.wait_idle(Duration::from_secs(10));
            }
        }
        Ok(())
    }

    fn start(
        &mut self,
        label: &str,
        _command: Command,
        typed: &str,
        file: Option<&str>,
    ) -> Result<usize> {
        let at = self.pane_for(label, &format!("{label}: {typed}"))?;
        let file = file.map(|f| self.root.join(f));
        if let Some(file) = &file {
            // An earlier run's file must not look like this one's output.
            let _ = std::fs::remove_file(file);
        }
        let pane = &self.panes[at].1;
        let before = typed_lines(&capture(&pane.id), typed);
        pane.type_line(typed)?;
        self.consumers.push(Started {
            pane: at,
            typed: typed.to_string(),
            before,
            file,
        });
        Ok(self.consumers.len() - 1)
    }

    fn lines(&self, id: usize) -> Vec<String> {
        let Ok((started, pane)) = self.started(id) else {
            return Vec::new();
        };
        if let Some(file) = &started.file {
            return std::fs::read_to_string(file)
                .map(|t| t.lines().map(String::from).collect())
                .unwrap_or_default();
        }
        after(&capture(&pane.id), &started.typed, started.before).unwrap_or_default()
    }

    /// What the consumer printed; it keeps running until the next section starts.
    fn stop(&mut self, id: usize) -> Result<Printed> {
        let lines = self.lines(id);
        self.done.push(id);
        Ok(Printed {
            lines,
            success: None,
        })
    }

    fn wait_end(&mut self, id: usize) -> Result<Printed> {
        let (_, pane) = self.started(id)?;
        if !pane.wait_idle(PATIENCE) {
            bail!("did not end within {} s", PATIENCE.as_secs());
        }
        let mut lines = self.lines(id);
        lines.pop(); // the shell's prompt, back
        Ok(Printed {
            lines,
            success: None,
        })
    }

    /// Types the command in the producers' pane and waits until the shell is back.
    fn run(&mut self, _label: &str, _command: Command, typed: &str) -> Result<Printed> {
        let pane = self.producers()?;
        let before = typed_lines(&capture(&pane.id), typed);
        pane.type_line(typed)?;
        let deadline = Instant::now() + PATIENCE;
        let mut last = (Vec::new(), Instant::now());
        loop {
            // Done: the line typed is there, the shell waits again, and its prompt is back
            // after what the program printed (the same prompt, or, for a prompt that changes,
            // a pane that has not changed for half a second). Right after typing, the shell
            // may not have started the program yet: then nothing follows the line.
            let shown = capture(&pane.id);
            if shown != last.0 {
                last = (shown.clone(), Instant::now());
            }
            if let Some(mut lines) = after(&shown, typed, before) {
                let prompt = lines.last().is_some_and(|l| *l == pane.prompt)
                    || last.1.elapsed() > Duration::from_millis(500);
                if !lines.is_empty() && prompt && pane.idle() {
                    lines.pop(); // the shell's prompt
                    return Ok(Printed {
                        lines,
                        success: None,
                    });
                }
            }
            if Instant::now() >= deadline {
                bail!("'{typed}' did not end within {} s", PATIENCE.as_secs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn in_terminals(&self) -> bool {
        true
    }
}

/// Leaves you in the session: attached, or switched to it inside tmux.
pub fn attach() -> Result<()> {
    println!("--- attaching to tmux session '{SESSION}': watch, try more in the bottom pane; Ctrl+B D detaches");
    println!("    (Ctrl+B N: next chapter's window; tmux kill-session -t {SESSION} ends it all)");
    let mut command = Command::new("tmux");
    if std::env::var_os("TMUX").is_some() {
        command.args(["switch-client", "-t", SESSION]);
    } else {
        command.args(["attach", "-t", SESSION]);
    }
    process::status(&mut command)?;
    Ok(())
}
