//! Ctrl+C (SIGINT), SIGTERM and SIGHUP: a consumer stops waiting, closes its connection and exits 0.

use crossbeam_channel::{Receiver, Sender};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Closed (never sent on) when a signal arrives: every receiver wakes at once.
static STOP: OnceLock<Receiver<()>> = OnceLock::new();
/// Set once a program waits for deliveries or works: from then on a signal ends it gracefully.
static WAITING: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once). Before the program starts waiting, a signal ends it at once,
/// with the shell's status for it, 128 + its number (a producer interrupted has not done its job).
pub(crate) fn install() {
    STOP.get_or_init(|| {
        let (sender, receiver) = crossbeam_channel::bounded::<()>(0);
        match Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(mut signals) => {
                std::thread::spawn(move || {
                    let mut sender: Option<Sender<()>> = Some(sender);
                    for signal in signals.forever() {
                        if waiting_soon() {
                            // Dropping the only sender disconnects the channel: the waiting
                            // loop wakes.
                            sender.take();
                        } else {
                            // Not waiting: the program is still connecting or publishing, and
                            // stopping it now leaves its job undone. Say so.
                            eprintln!("Interrupted before the program finished");
                            std::process::exit(128 + signal);
                        }
                    }
                });
            }
            Err(e) => log::warn!("cannot handle Ctrl+C: {e}"),
        }
        receiver
    });
}

/// Whether the program waits, or starts to within 0.2 s: a consumer prints its ready line
/// just before it waits, and Ctrl+C pressed right after that line must end it cleanly too.
fn waiting_soon() -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
    while !WAITING.load(Ordering::SeqCst) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

/// The channel that disconnects on a signal; marks the program as waiting.
pub(crate) fn receiver() -> &'static Receiver<()> {
    install();
    WAITING.store(true, Ordering::SeqCst);
    // `install` has just set it; a fresh never-closing channel is the harmless fallback.
    STOP.get_or_init(crossbeam_channel::never)
}
