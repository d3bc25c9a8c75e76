//! The sessions open in this process, for errors that arrive without their session: an amiquip
//! error after the guard ended a connection says only that its socket failed, where the guard
//! knows why.

use crate::{lock, Shared};
use std::sync::{Arc, Mutex};
/// The watches of the sessions open in this process (registered when a connection is open,
/// removed when its session is closed), for errors that arrive
/// without their session.
static SESSIONS: Mutex<Vec<Shared>> = Mutex::new(Vec::new());

/// Counts `shared` among the open sessions.
pub fn register(shared: &Shared) {
    SESSIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::clone(shared));
}

/// A session is closed: its verdict no longer explains anything.
pub fn unregister(shared: &Shared) {
    SESSIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|s| !Arc::ptr_eq(s, shared));
}

/// Why the guard ended an open (not closed) session's connection, if it did.
pub fn tripped_session() -> Option<String> {
    let sessions = SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
    sessions.iter().find_map(|s| lock(s).tripped.clone())
}
