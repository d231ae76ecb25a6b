//! Transactions (QEMU's `transaction` command): every action is prepared
//! first (snapshots taken, backup jobs checked, claimed and opened), and
//! only if all could be are the jobs started; on the first failure what was
//! prepared is given up and the snapshots are undone. In `grouped`
//! completion mode the jobs share a [`Txn`]: they wait for each other in
//! `waiting`, and the first failure force-cancels the rest.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::job::Job;
use super::options::Spec;
use super::start::{launch, prepare_job};
use super::table::Jobs;
use crate::domain::snapshots;
use crate::error::ApiResult;
use crate::wire::Ref;

/// A grouped transaction (QEMU's `JobTxn`): its jobs wait in `waiting`
/// until all of them have finished their work, then go `pending`
/// together; the first failure force-cancels the rest.
#[derive(Default)]
pub struct Txn {
    members: Mutex<Vec<std::sync::Weak<Job>>>,
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

    pub(super) fn add(&self, job: &Arc<Job>) {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(job));
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
    pub fn failed(&self, failing: &Job) {
        if self.failed.swap(true, Ordering::SeqCst) {
            return;
        }
        let members = self
            .members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for m in members.iter().filter_map(|w| w.upgrade()) {
            if m.r != failing.r {
                let _ = m.cancel(true);
            }
        }
        self.notify.notify_waiters();
    }
}

/// One action of a transaction, checked.
#[derive(Debug)]
pub enum Action {
    /// Start a backup job.
    Backup(Box<Spec>),
    /// Take a snapshot of a VDI.
    Snapshot(Ref),
}

/// Runs a transaction on behalf of `owner` (the caller's task or session):
/// returns the started jobs, or the first failure with nothing changed.
pub async fn run(
    jobs: &Arc<Jobs>,
    actions: Vec<Action>,
    grouped: bool,
    owner: Ref,
) -> ApiResult<Vec<Arc<Job>>> {
    let d = &jobs.domain;
    // Prepare, in order; undo everything on the first failure.
    let mut snaps = Vec::new();
    let mut prepared = Vec::new();
    let mut failure = None;
    for act in actions {
        match act {
            Action::Snapshot(v) => match snapshots::take(d, v, owner).await {
                Ok(snap) => snaps.push((v, snap)),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            },
            Action::Backup(spec) => match prepare_job(jobs, *spec).await {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            },
        }
    }
    if let Some(e) = failure {
        for p in prepared.into_iter().rev() {
            p.abandon(jobs, e.clone()).await;
        }
        for (v, snap) in snaps.into_iter().rev() {
            if let Err(u) = snapshots::undo(d, v, snap).await {
                tracing::error!(vdi = %v, error = %u, "could not undo a snapshot of a failed transaction");
            }
        }
        return Err(e);
    }
    // Commit: start every job.
    let txn = grouped.then(|| Txn::new(prepared.len()));
    let mut started = Vec::new();
    for p in prepared {
        match launch(jobs, p, txn.clone()).await {
            Ok(j) => started.push(j),
            Err(e) => {
                for j in &started {
                    let _ = j.cancel(true);
                }
                if let (Some(t), Some(j)) = (&txn, started.first()) {
                    t.failed(j);
                }
                return Err(e);
            }
        }
    }
    Ok(started)
}
