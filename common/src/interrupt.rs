//! Ctrl+C (SIGINT) and SIGTERM: a consumer stops waiting, closes its connection and exits 0.

use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Closed (never sent on) when a signal arrives: every receiver wakes at once.
static STOP: OnceLock<Receiver<()>> = OnceLock::new();
/// Set once a program waits for deliveries or works: from then on a signal ends it gracefully.
static WAITING: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once). Before the program starts waiting, a signal ends it at once,
/// with status 130 as if unhandled (a producer interrupted has not done its job).
pub(crate) fn install() {
    STOP.get_or_init(|| {
        let (sender, receiver) = crossbeam_channel::bounded::<()>(0);
        let sender: Mutex<Option<Sender<()>>> = Mutex::new(Some(sender));
        let installed = ctrlc::set_handler(move || {
            if WAITING.load(Ordering::SeqCst) {
                // Dropping the only sender disconnects the channel: the waiting loop wakes.
                if let Ok(mut sender) = sender.lock() {
                    sender.take();
                }
            } else {
                // Not waiting: the program is still connecting or publishing, and stopping it
                // now leaves its job undone. Say so, with the shell's status for Ctrl+C.
                eprintln!("Interrupted before the program finished");
                std::process::exit(130);
            }
        });
        if let Err(e) = installed {
            log::warn!("cannot handle Ctrl+C: {e}");
        }
        receiver
    });
}

/// The channel that disconnects on a signal; marks the program as waiting.
pub(crate) fn receiver() -> &'static Receiver<()> {
    install();
    WAITING.store(true, Ordering::SeqCst);
    // `install` has just set it; a fresh never-closing channel is the harmless fallback.
    STOP.get_or_init(crossbeam_channel::never)
}
