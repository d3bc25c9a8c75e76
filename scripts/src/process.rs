//! Other programs, run with a time limit where they could hang, and found on PATH as a shell
//! finds them.

use anyhow::{Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How a bounded command ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited (or was killed by a signal it did not handle).
    Exited(ExitStatus),
    /// It ran past its limit and was killed.
    TimedOut,
}

impl Ended {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        matches!(self, Ended::Exited(status) if status.success())
    }
}

/// Waits for `child` at most `limit`; kills it past that.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Result<Ended> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a program")? {
            return Ok(Ended::Exited(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Ended::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` with its output thrown away, killed after `limit`. A program that cannot
/// be started counts as a failure, not an error.
pub fn quietly_bounded(command: &mut Command, limit: Duration) -> Ended {
    let spawned = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => wait_bounded(&mut child, limit).unwrap_or(Ended::TimedOut),
        Err(_) => Ended::TimedOut,
    }
}

/// A spawned child's stdout and stderr (where piped), taken from it to be read by threads.
pub fn outputs(child: &mut Child) -> [Option<Box<dyn Read + Send>>; 2] {
    [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
}

/// `program` run as root: through sudo unless we are root already.
pub fn as_root(program: &str) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut command = Command::new("sudo");
        command.arg(program);
        command
    }
}

/// Runs `command` to its end, at most `limit`, and returns what it printed (stdin: nothing).
/// `None` if it could not be started or ran past its limit.
pub fn output_bounded(command: &mut Command, limit: Duration) -> Option<Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let readers = outputs(&mut child).map(|output| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut output) = output {
                let _ = output.read_to_end(&mut bytes);
            }
            bytes
        })
    });
    let ended = wait_bounded(&mut child, limit).ok()?;
    let [stdout, stderr] = readers.map(|r| r.join().unwrap_or_default());
    match ended {
        Ended::Exited(status) => Some(Output {
            status,
            stdout,
            stderr,
        }),
        Ended::TimedOut => None,
    }
}

/// Runs `command` and returns its status; an error if it cannot be started.
pub fn status(command: &mut Command) -> Result<ExitStatus> {
    command
        .status()
        .with_context(|| format!("cannot run {}", program_name(command)))
}

/// Whether `command` runs and exits 0, its output thrown away.
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What `command` printed on stdout if it ran and exited 0, else `None` (stderr is kept).
pub fn stdout_of(command: &mut Command) -> Option<String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn program_name(command: &Command) -> String {
    command.get_program().to_string_lossy().into_owned()
}

/// Where PATH has `name`, as `command -v` finds it (on Windows `name.exe`, `.bat` or `.cmd`:
/// a file without one of those is not a program there, even one that Linux could run, as wine
/// shows Linux's folders on PATH).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .flat_map(|dir| candidates(&dir, name))
        .find(|candidate| is_executable(candidate))
}

fn candidates(dir: &Path, name: &str) -> Vec<PathBuf> {
    if cfg!(windows) {
        [".exe", ".bat", ".cmd"]
            .iter()
            .map(|ext| dir.join(format!("{name}{ext}")))
            .collect()
    } else {
        vec![dir.join(name)]
    }
}

/// Whether `path` is a file that may be executed (`[ -x ]`, for a file).
pub fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

/// Whether this process runs as root (`id -u` says 0; `id` may be missing, as on Windows).
pub fn is_root() -> bool {
    stdout_of(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

/// Whether process `pid` is alive (`kill -0`; never on Windows, where there is no kill).
pub fn alive(pid: u32) -> bool {
    cfg!(unix) && succeeds(Command::new("kill").arg("-0").arg(pid.to_string()))
}

/// Whether process `pid` is a zombie: ended, never reaped (in a container without init).
pub fn zombie(pid: u32) -> bool {
    stdout_of(Command::new("ps").args(["-o", "stat=", "-p", &pid.to_string()]))
        .is_some_and(|stat| stat.contains('Z'))
}

/// Sends `signal` (`TERM`, `KILL`, `INT`) to process `pid`; whether kill(1) succeeded.
pub fn signal(pid: u32, signal: &str) -> bool {
    succeeds(
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string()),
    )
}

/// Ctrl+C (SIGINT), SIGTERM and SIGHUP caught instead of ending this program at once, for a
/// program that must clean up after them (stop a node), as bash's traps did. Which came, if one
/// did. (Windows: nothing is caught; these programs run nodes on Unix only.)
pub struct Caught(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Caught {
    /// Catches the signals from now on.
    pub fn install() -> Result<Caught> {
        let caught = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        #[cfg(unix)]
        for signal in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            let value = usize::try_from(signal).unwrap_or(0);
            signal_hook::flag::register_usize(signal, std::sync::Arc::clone(&caught), value)
                .context("cannot catch Ctrl+C")?;
        }
        Ok(Caught(caught))
    }

    /// The signal that came (its number), if one did.
    pub fn signal(&self) -> Option<usize> {
        Some(self.0.load(std::sync::atomic::Ordering::SeqCst)).filter(|n| *n != 0)
    }

    /// The exit status of a program ended by the signal that came: 128 + its number (130 for
    /// Ctrl+C, 143 for SIGTERM), as the shell's convention is.
    pub fn exit_status(&self) -> Option<u8> {
        self.signal().and_then(|n| u8::try_from(128 + n).ok())
    }
}

/// Runs `command` to its end. A signal that `caught` catches meanwhile is passed on to it as
/// `pass_on` (in a terminal, Ctrl+C reached it already); if it has not ended `grace` later,
/// it is killed.
pub fn run_to_its_end(
    command: &mut Command,
    caught: &Caught,
    pass_on: &str,
    grace: Duration,
) -> Result<ExitStatus> {
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", program_name(command)))?;
    let mut passed_on: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a program")? {
            return Ok(status);
        }
        match passed_on {
            None if caught.signal().is_some() => {
                signal(child.id(), pass_on);
                passed_on = Some(Instant::now());
            }
            Some(when) if when.elapsed() > grace => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
