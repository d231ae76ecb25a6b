//! Transactions (QEMU's `transaction` command): every action is prepared
//! first (snapshots taken, dirty bitmap actions done, backup jobs checked,
//! claimed and opened), and
//! only if all could be are the jobs started; on the first failure what was
//! prepared is given up, the bitmap actions and the snapshots are undone. In `grouped`
//! completion mode the jobs share a [`Txn`] (`group.rs`): they wait for each
//! other in `waiting`, and the first failure force-cancels the rest.

use std::sync::Arc;

use super::group::Txn;
use super::job::Job;
use super::options::Spec;
use super::start::{launch, prepare_job};
use super::table::Jobs;
use crate::domain::{bitmaps, snapshots};
use crate::error::ApiResult;
use crate::wire::Ref;

/// One action of a transaction, checked.
#[derive(Debug)]
pub enum Action {
    /// Start a backup job.
    Backup(Box<Spec>),
    /// Take a snapshot of a VDI.
    Snapshot(Ref),
    /// A dirty bitmap action (add, clear, enable, disable, merge).
    Bitmap(bitmaps::Step),
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
    let mut undos = Vec::new();
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
            Action::Bitmap(step) => match bitmaps::apply(d, step).await {
                Ok(u) => undos.push(u),
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
        for u in undos.into_iter().rev() {
            bitmaps::undo(d, u).await;
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
                    t.failed(j.r);
                }
                return Err(e);
            }
        }
    }
    Ok(started)
}
