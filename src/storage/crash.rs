//! Crash points: named places between two durable steps of a protocol
//! (the snapshot's, a new VDI's, a task's success and what it commits),
//! where a test can have the process killed as `kill -9` would, to check
//! that a restart recovers from exactly that point.
//!
//! Off unless fault injection is enabled (`fault_injection = true`, see
//! [`super::fault::enable`]); then the points named in the environment
//! variable `XAPID_CRASH_AT` (comma-separated) kill the process with
//! `SIGKILL` when reached. Otherwise a point costs one relaxed atomic load.

use std::sync::OnceLock;

/// The environment variable that names the points to crash at.
pub const ENV: &str = "XAPID_CRASH_AT";

fn armed() -> &'static [String] {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var(ENV)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Reached crash point `name`: the process dies here if the point is armed.
pub fn point(name: &str) {
    if !super::fault::enabled() {
        return;
    }
    if armed().iter().any(|p| p == name) {
        tracing::warn!(point = name, "crash point reached: killing the process");
        // SAFETY: plain syscalls; SIGKILL ends the process at once, as a
        // crash would (no destructor, no flush).
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
