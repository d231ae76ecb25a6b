//! The time a job goes by, and the timed waits of its work.
//!
//! Both follow tokio's clock: the system's monotonic clock in the server,
//! and the runtime's paused clock in the engine's tests (the work's thread
//! enters the runtime the job was started on, so `tokio::time` sees that
//! runtime). A wait is a timer of that runtime, so a paused clock jumps
//! straight to it instead of the test sleeping for real.

use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Now, on tokio's clock.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Lets a verb cut short a work's timed wait (a new speed, a cancel, a
/// pause, `complete`).
#[derive(Debug, Default)]
pub struct Alarm {
    notify: Notify,
}

impl Alarm {
    /// Lets go of `guard` and waits until `deadline` or until the alarm
    /// rings, whichever comes first. The caller re-checks what it waits
    /// for under its lock afterwards.
    pub fn wait_until<T>(&self, guard: MutexGuard<'_, T>, deadline: Instant) {
        let rung = self.notify.notified();
        let mut rung = std::pin::pin!(rung);
        // Registered before the lock goes: a verb changes the state under
        // that lock and rings after, so no ring is lost in between.
        rung.as_mut().enable();
        drop(guard);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt.block_on(async {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                    _ = rung => {}
                }
            }),
            // (Not on a job thread: no runtime to wait with. Short naps;
            // the caller loops.)
            Err(_) => std::thread::sleep(
                deadline
                    .saturating_duration_since(now())
                    .min(Duration::from_millis(10)),
            ),
        }
    }

    /// Wakes every wait in progress.
    pub fn ring(&self) {
        self.notify.notify_waiters();
    }
}
