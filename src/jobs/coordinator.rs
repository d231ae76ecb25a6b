//! A job's coordinator: an async task that starts the work on a thread of
//! its own, writes progress into the registry every [`TICK`], and once the
//! work has ended walks the job through waiting, pending, finalization
//! (the work's `commit` or `abort`), concluded and dismissal, applies the
//! work's effects, and finishes the task.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::JobError;
use super::job::{lock, unfinished, Job};
use super::options::JobKind;
use super::progress::{publish_progress, RateMeter};
use super::state::Status;
use super::table::Jobs;
use super::work::{Effect, Held};
use crate::domain::claims::Claim;
use crate::domain::{bitmaps, pivot, tasks, vdis, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{block_job, codes};
use crate::model::RowExt;
use crate::registry::Write;
use crate::wire::{Ref, Value};

/// How often a running job's progress reaches the registry.
pub const TICK: Duration = Duration::from_millis(100);

/// The coordinator: runs the work on its own thread, publishes progress,
/// then concludes the job.
pub(super) async fn coordinate(
    jobs: Arc<Jobs>,
    job: Arc<Job>,
    held: Held,
    cancel: Option<CancellationToken>,
) {
    let server = job.domain().clone();
    let Held { claims, mut work } = held;
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let worker_job = job.clone();
    // The work's waits and clock are this runtime's (see `clock`).
    let rt = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name(format!("job-{}", job.r))
        .spawn(move || {
            let _rt = rt.enter();
            background_priority();
            let out = work.run(&worker_job);
            let _ = tx.send((out, work));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start a job thread");
    }
    let mut rate = RateMeter::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let never = CancellationToken::new();
    let cancel_token = cancel.clone().unwrap_or(never);
    let mut cancel_seen = false;
    let (out, work) = loop {
        tokio::select! {
            r = &mut rx => match r {
                Ok(x) => break x,
                Err(_) => {
                    tracing::error!(job = %job.id, "job thread died");
                    let e = ApiError::internal("the job's thread died");
                    finish(&jobs, &job, claims, Err(e.into())).await;
                    return;
                }
            },
            _ = tick.tick() => publish_progress(&job, &mut rate),
            _ = cancel_token.cancelled(), if !cancel_seen => {
                cancel_seen = true;
                let _ = job.cancel(true);
            }
        }
    };
    publish_progress(&job, &mut rate);
    let mut work = Some(work);
    let result: Result<Vec<Effect>, JobError> = match out {
        Ok(ended) => {
            let waiting = job.transition(&mut lock(&job.ctl), Status::Waiting);
            job.settle(waiting).await;
            // In a grouped transaction the job waits for the others; a
            // single job is a transaction of one, all done.
            let group_failed = match &job.txn {
                Some(txn) => !txn.completed().await,
                None => false,
            };
            if !group_failed {
                let pending = job.transition(&mut lock(&job.ctl), Status::Pending);
                job.settle(pending).await;
            }
            if group_failed {
                // (Handled below as a cancel.)
                let mut c = lock(&job.ctl);
                c.cancel = Some(true);
            }
            if !job.auto_finalize && !group_failed {
                let token = cancel_token.clone();
                tokio::select! {
                    _ = job.wait_for(|c| c.finalize || c.cancel.is_some()) => {}
                    _ = token.cancelled() => { let _ = job.cancel(true); }
                }
            }
            let cancelled = group_failed
                || (lock(&job.ctl).cancel.is_some()
                    && !lock(&job.ctl).finalize
                    && !job.auto_finalize);
            if cancelled {
                Err(JobError::Cancelled)
            } else {
                // The work (and its open images) ends on a blocking thread:
                // dropping an image may flush it.
                let w = work.take();
                let r = tokio::task::spawn_blocking(move || {
                    let Some(mut w) = w else {
                        return Err(std::io::Error::other("the job's work is gone"));
                    };
                    let r = w.commit(ended);
                    if r.is_err() {
                        w.abort();
                    }
                    r
                })
                .await
                .unwrap_or_else(|e| {
                    Err(std::io::Error::other(format!("finalization failed: {e}")))
                });
                r.map_err(|source| JobError::Step {
                    what: "finalizing the job",
                    source,
                })
            }
        }
        Err(e) => {
            if let Some(txn) = &job.txn {
                txn.failed(job.r);
            }
            Err(e)
        }
    };
    if let Some(w) = work.take() {
        if result.is_ok() {
            // (Only a failed result still needs the work, to abort.)
            let _ = tokio::task::spawn_blocking(move || drop(w)).await;
        } else {
            work = Some(w);
        }
    }
    let result = match result {
        Ok(effects) => apply_effects(&server, effects).await.map_err(JobError::Api),
        Err(e) => {
            let aborting = job.transition(&mut lock(&job.ctl), Status::Aborting);
            job.settle(aborting).await;
            if let Some(mut w) = work.take() {
                let _ = tokio::task::spawn_blocking(move || w.abort()).await;
            }
            Err(e)
        }
    };
    if result.is_ok() {
        let t = job.total.load(Ordering::Relaxed).max(job.current());
        job.total.store(t, Ordering::Relaxed);
        job.current.store(t, Ordering::Relaxed);
        publish_progress(&job, &mut rate);
    }
    finish(&jobs, &job, claims, result).await;
}

/// Job threads run at nice 19: the RPC threads come first. (Not
/// `SCHED_IDLE`: a job thread starved while it holds a lock an RPC thread
/// wants would stall that thread.)
fn background_priority() {
    // SAFETY: plain syscalls on the calling thread with a valid parameter.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// Concluded: turns the outcome into the error clients see (the one place
/// a job's error becomes a XenAPI error), records it, marks a failed
/// backup's or mirror's target, releases the VDIs, finishes the task,
/// tells waiters, and dismisses (now, or when asked).
async fn finish(jobs: &Jobs, job: &Arc<Job>, claims: Vec<Claim>, outcome: Result<(), JobError>) {
    let server = job.domain();
    let result: ApiResult<()> = outcome.map_err(|e| e.into_api(job.task));
    let error = match &result {
        Err(e) if e.code != codes::TASK_CANCELLED => e.to_vec().join(" "),
        _ => String::new(),
    };
    // Volatile: the concluded status, written durably below, carries the
    // whole row (this field included) to the store.
    if let Err(e) = server
        .registry
        .update(block_job::CLASS, job.r, Write::Volatile, |f| {
            f.set(block_job::ERROR, error);
            Ok(())
        })
    {
        tracing::warn!(job = %job.id, error = %e, "could not record the job's error");
    }
    // A backup's or mirror's target is only a good copy if the job
    // succeeded.
    if let (JobKind::Backup { .. } | JobKind::Mirror { .. }, Some(target)) =
        (job.kind, job.target())
    {
        let why = result.as_ref().err().map(|e| e.code);
        if let Err(e) = vdis::mark_incomplete(server, target, why).await {
            tracing::error!(job = %job.id, error = %e, "could not mark the job's target");
        }
    }
    // The claims go, and with the device's claim its write hook; then the
    // files written get their copy of the persistent dirty bitmaps back
    // (the job's images are closed by now).
    let vdis: Vec<Ref> = claims.iter().map(|c| c.vdi()).collect();
    drop(claims);
    for vdi in vdis
        .into_iter()
        .filter(|v| server.bitmaps.copies.is_stale(*v))
    {
        bitmaps::copy_changed(server, vdi).await;
    }
    let concluded = {
        let mut c = lock(&job.ctl);
        if c.m.status == Status::Running || c.m.status == Status::Ready {
            unfinished(job.transition(&mut c, Status::Aborting));
        }
        job.transition(&mut c, Status::Concluded)
    };
    job.settle(concluded).await;
    let outcome = match &result {
        Ok(()) => "success",
        Err(e) if e.code == codes::TASK_CANCELLED => "cancelled",
        Err(_) => "failure",
    };
    let ty = job.kind.job_type().name();
    server
        .stats
        .job_concluded(ty, outcome, job.started.elapsed());
    if job.own_task {
        tasks::finish(server, job.task, result.clone().map(|()| Value::Ref(job.r))).await;
    }
    // `send_replace`, not `send`: the result must stay for a waiter that
    // subscribes only after the job has concluded (`send` drops the value
    // when nobody is subscribed yet).
    job.done.send_replace(Some(result));
    if !job.auto_dismiss {
        // Kept until dismissed; at shutdown it stays concluded in the store.
        tokio::select! {
            _ = job.wait_for(|c| c.dismiss) => {}
            _ = server.shutdown.cancelled() => return,
        }
    }
    // The row goes right after: its removal is what must be durable.
    unfinished(job.transition(&mut lock(&job.ctl), Status::Null));
    dismiss_row(server, job.r).await;
    jobs.forget(job.r, &job.id);
    job.removed.send_replace(true);
}

/// Removes a job's object (dismissal).
pub(super) async fn dismiss_row(d: &Domain, r: Ref) {
    if let Some((_, c)) = d.registry.remove(block_job::CLASS, r) {
        if let Err(e) = c.wait().await {
            // A restart finds the row again and dismisses it then.
            tracing::error!(job = %r, error = %e, "could not persist a job's dismissal");
        }
    }
}

async fn apply_effects(d: &Domain, effects: Vec<Effect>) -> ApiResult<()> {
    for e in effects {
        match e {
            Effect::Refresh(v) => vdis::refresh(d, v).await?,
            Effect::Pivot { vdi, onto } => pivot::pivot(d, vdi, onto).await?,
        }
    }
    Ok(())
}
