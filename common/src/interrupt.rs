//! Ctrl+C: a consumer stops waiting, closes its connection and exits 0; a program interrupted
//! before it waits (still connecting or publishing) exits at once, non-zero.
//!
//! The two systems deliver Ctrl+C differently, so each has its own section below:
//! - Unix (Linux, macOS): the signals SIGINT (Ctrl+C), SIGTERM (`kill`, a service manager) and
//!   SIGHUP (the terminal closed), through signal-hook, which says which signal came, so that an
//!   early exit has the shell's status for it, 128 + its number (130 for Ctrl+C).
//! - Windows: there are no such signals; the console calls a handler for Ctrl+C and Ctrl+Break
//!   (through the ctrlc crate). An early exit has the status Windows gives a program that Ctrl+C
//!   ends, STATUS_CONTROL_C_EXIT, as PowerShell's `$LASTEXITCODE` shows it.

use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Closed (never sent on) when Ctrl+C comes: every receiver wakes at once.
static STOP: OnceLock<Receiver<()>> = OnceLock::new();
/// Set once a program waits for deliveries or works: from then on Ctrl+C ends it gracefully.
/// A consumer sets it before it prints its ready line (by asking for [`crate::deliveries`]
/// first), so that Ctrl+C pressed right after that line always finds it set.
static WAITING: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once).
pub(crate) fn install() {
    STOP.get_or_init(|| {
        let (sender, receiver) = crossbeam_channel::bounded::<()>(0);
        match handle_interrupts(Some(sender)) {
            Ok(()) => receiver,
            Err(e) => {
                // The sender is gone with the failed handler: wait on a channel that never
                // closes instead, so that Ctrl+C ends the program as the system does by default.
                log::warn!("cannot handle Ctrl+C: {e}");
                crossbeam_channel::never()
            }
        }
    });
}

/// What Ctrl+C (or SIGTERM, SIGHUP) does, on the handler's own thread: a waiting program's
/// channel closes (`sender` is its only sender), so that its loop ends and it closes its
/// connection; any other program ends now, with `status`, since its job is not done.
fn interrupted(sender: &mut Option<Sender<()>>, status: i32) {
    if WAITING.load(Ordering::SeqCst) {
        // Dropping the only sender disconnects the channel: the waiting loop wakes.
        sender.take();
    } else {
        eprintln!("Interrupted before the program finished");
        std::process::exit(status);
    }
}

/// Unix: a thread reads the signals as they come (signal-hook's iterator runs no code of ours
/// inside the signal handler itself).
#[cfg(unix)]
fn handle_interrupts(mut sender: Option<Sender<()>>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            interrupted(&mut sender, 128 + signal);
        }
    });
    Ok(())
}

/// Windows: the console runs the handler on a thread of its own for Ctrl+C and Ctrl+Break.
#[cfg(windows)]
fn handle_interrupts(mut sender: Option<Sender<()>>) -> Result<(), ctrlc::Error> {
    /// STATUS_CONTROL_C_EXIT (0xC000013A), as an exit code.
    const CONTROL_C_EXIT: i32 = 0xC000_013A_u32 as i32;
    ctrlc::set_handler(move || interrupted(&mut sender, CONTROL_C_EXIT))
}

/// Neither Unix nor Windows: Ctrl+C ends the program as the system does by default.
#[cfg(not(any(unix, windows)))]
fn handle_interrupts(_sender: Option<Sender<()>>) -> std::io::Result<()> {
    Ok(())
}

/// The channel that disconnects on Ctrl+C; marks the program as waiting.
pub(crate) fn receiver() -> &'static Receiver<()> {
    install();
    WAITING.store(true, Ordering::SeqCst);
    // `install` has just set it; a fresh never-closing channel is the harmless fallback.
    STOP.get_or_init(crossbeam_channel::never)
}
