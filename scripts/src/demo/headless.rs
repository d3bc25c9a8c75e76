//! The demo without terminals: each program a process of the demo, its lines printed as they
//! come, labelled by program (`[worker1]  [x] Done`), and kept to compare with the guide.

use super::{Desk, Printed, PATIENCE};
use crate::process::{self, Ended};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A program started by the demo, its output read as it comes.
struct Running {
    child: Child,
    /// stdout's and stderr's lines, in the order they came.
    lines: Arc<Mutex<Vec<String>>>,
    /// stdout's lines, then stderr's, once it ended (as the guide test compares them).
    readers: Vec<JoinHandle<Vec<String>>>,
}

impl Running {
    fn spawn(label: &str, mut command: Command) -> Result<Running> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", command.get_program().to_string_lossy()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let readers = process::outputs(&mut child)
            .into_iter()
            .flatten()
            .map(|output| {
                let lines = Arc::clone(&lines);
                let label = label.to_string();
                std::thread::spawn(move || {
                    let mut own = Vec::new();
                    for line in BufReader::new(output).lines().map_while(Result::ok) {
                        let line = line.trim_end_matches('\r').to_string();
                        println!("[{label}] {line}");
                        if let Ok(mut lines) = lines.lock() {
                            lines.push(line.clone());
                        }
                        own.push(line);
                    }
                    own
                })
            })
            .collect();
        Ok(Running {
            child,
            lines,
            readers,
        })
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits (at most [`PATIENCE`]) until it ends: its lines in arrival order, or stdout's
    /// then stderr's (`separate`), and whether it exited 0.
    fn wait(&mut self, separate: bool) -> Result<Printed> {
        let ended = process::wait_bounded(&mut self.child, PATIENCE)?;
        let outputs: Vec<Vec<String>> = self
            .readers
            .drain(..)
            .map(|r| r.join().unwrap_or_default())
            .collect();
        let lines = if separate {
            outputs.concat()
        } else {
            self.lines()
        };
        match ended {
            Ended::Exited(status) => Ok(Printed {
                lines,
                success: Some(status.success()),
            }),
            Ended::TimedOut => bail!(
                "did not end within {} s; it printed: {lines:?}",
                PATIENCE.as_secs()
            ),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The consumers started, by handle.
#[derive(Default)]
pub struct Headless {
    consumers: Vec<Running>,
}

impl Headless {
    fn consumer(&mut self, id: usize) -> Result<&mut Running> {
        self.consumers
            .get_mut(id)
            .with_context(|| format!("no consumer {id}"))
    }
}

impl Desk for Headless {
    fn chapter(&mut self, _name: &str) -> Result<()> {
        Ok(())
    }

    fn section(&mut self) -> Result<()> {
        Ok(())
    }

    fn start(
        &mut self,
        label: &str,
        command: Command,
        _typed: &str,
        _file: Option<&str>,
    ) -> Result<usize> {
        self.consumers.push(Running::spawn(label, command)?);
        Ok(self.consumers.len() - 1)
    }

    fn lines(&self, id: usize) -> Vec<String> {
        self.consumers
            .get(id)
            .map(Running::lines)
            .unwrap_or_default()
    }

    /// Ctrl+C as a learner presses it (SIGINT). Windows has no way for one program to press
    /// Ctrl+C for another without a shared console: there the consumer is ended (it has
    /// acknowledged what it got by then), and how it ended is not known.
    fn stop(&mut self, id: usize) -> Result<Printed> {
        let consumer = self.consumer(id)?;
        if cfg!(windows) {
            let _ = consumer.child.kill();
            let mut printed = consumer.wait(false)?;
            printed.success = None;
            return Ok(printed);
        }
        process::signal(consumer.child.id(), "INT");
        consumer.wait(false)
    }

    fn wait_end(&mut self, id: usize) -> Result<Printed> {
        self.consumer(id)?.wait(false)
    }

    fn run(&mut self, label: &str, command: Command, _typed: &str) -> Result<Printed> {
        Running::spawn(label, command)?.wait(true)
    }

    fn in_terminals(&self) -> bool {
        false
    }
}
