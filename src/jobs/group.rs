//! A group of jobs that complete together (QEMU's `JobTxn`, the
//! `grouped` completion mode of a transaction): each member's work waits
//! in `waiting` until every member's is done, and the first failure
//! force-cancels the rest. The group knows its members only as
//! [`Member`]s, so it does not depend on the job type.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use crate::wire::Ref;

/// What a group needs of a member job.
pub trait Member: Send + Sync {
    /// The member's object.
    fn member_ref(&self) -> Ref;
    /// Cancels the member as a forced `block_job.cancel` would (a failing
    /// group: "if one job failed, no result will matter").
    fn force_cancel(&self);
}

/// A grouped transaction (QEMU's `JobTxn`): its jobs wait in `waiting`
/// until all of them have finished their work, then go `pending`
/// together; the first failure force-cancels the rest.
#[derive(Default)]
pub struct Txn {
    members: Mutex<Vec<Weak<dyn Member>>>,
    left: AtomicU64,
    failed: AtomicBool,
    notify: Notify,
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn").finish_non_exhaustive()
    }
}

impl Txn {
    /// A transaction of `n` jobs (each joins as it starts).
    pub fn new(n: usize) -> Arc<Txn> {
        let t = Txn::default();
        t.left.store(n as u64, Ordering::SeqCst);
        Arc::new(t)
    }

    pub(super) fn add(&self, member: Weak<dyn Member>) {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(member);
    }

    /// A member's work succeeded: waits until every member's has; false if
    /// one failed meanwhile (this job must then be cancelled too).
    pub(super) async fn completed(&self) -> bool {
        self.left.fetch_sub(1, Ordering::SeqCst);
        loop {
            let n = self.notify.notified();
            if self.failed.load(Ordering::SeqCst) {
                return false;
            }
            if self.left.load(Ordering::SeqCst) == 0 {
                self.notify.notify_waiters();
                return true;
            }
            n.await;
        }
    }

    /// A member failed or was cancelled: every other member is
    /// force-cancelled ("if one job failed, no result will matter").
    pub fn failed(&self, failing: Ref) {
        if self.failed.swap(true, Ordering::SeqCst) {
            return;
        }
        let members = self
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for m in members.iter().filter_map(|w| w.upgrade()) {
            if m.member_ref() != failing {
                m.force_cancel();
            }
        }
        self.notify.notify_waiters();
    }
}
