//! A job: its control state (QEMU's state machine, pause nesting, speed,
//! cancel/complete/finalize/dismiss requests), what its work calls at its
//! pause points (pause, throttle, sleep, progress, error policies), and the
//! client verbs.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use super::clock::{now, Alarm};
use super::error::{JobError, OnError};
use super::faults::refresh_faults;
use super::group::{Member, Txn};
use super::options::{JobKind, Policy, Side};
use super::ratelimit::RateLimit;
use super::state::{Machine, Refused, Status, Verb};
use crate::domain::stats::Stats;
use crate::domain::{to_int, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{block_job, BlockJobIoStatus};
use crate::model::RowExt;
use crate::registry::{Commit, Write};
use crate::wire::Ref;

/// The control state that verbs and the work share.
#[derive(Debug)]
pub(super) struct Ctl {
    pub(super) m: Machine,
    pub(super) speed: u64,
    pub(super) limit: RateLimit,
    /// `Some(force)` once a cancel was requested.
    pub(super) cancel: Option<bool>,
    pub(super) complete: bool,
    pub(super) finalize: bool,
    pub(super) dismiss: bool,
    pub(super) ready: bool,
    pub(super) io_status: BlockJobIoStatus,
}

impl Ctl {
    /// The state of a job just made.
    pub(super) fn new(speed: u64) -> Ctl {
        Ctl {
            m: Machine::new(),
            speed,
            limit: RateLimit::new(speed, now()),
            cancel: None,
            complete: false,
            finalize: false,
            dismiss: false,
            ready: false,
            io_status: BlockJobIoStatus::Ok,
        }
    }
}

/// A job.
pub struct Job {
    /// Its object.
    pub r: Ref,
    /// Its task.
    pub task: Ref,
    /// Its id.
    pub id: String,
    /// What it does.
    pub kind: JobKind,
    /// The domain it works in.
    pub(super) domain: Arc<Domain>,
    /// Whether the job made its task (and so finishes it).
    pub(super) own_task: bool,
    /// The grouped transaction the job belongs to, if any.
    pub(super) txn: Option<Arc<Txn>>,
    pub(super) auto_finalize: bool,
    pub(super) auto_dismiss: bool,
    pub(super) on_source_error: Policy,
    pub(super) on_target_error: Policy,
    pub(super) ctl: Mutex<Ctl>,
    /// Wakes the work's waits at a pause point.
    pub(super) cv: Condvar,
    /// Wakes the work's timed waits (throttle, sleep).
    pub(super) alarm: Alarm,
    /// Progress: current and total (QEMU's units: bytes of the image).
    pub(super) current: AtomicU64,
    pub(super) total: AtomicU64,
    /// Bytes of data actually copied (for `rate`).
    pub(super) copied: AtomicU64,
    /// When the job was made (for the duration in the metrics).
    pub(super) started: Instant,
    /// Wakes the coordinator (verbs in pending/concluded).
    pub(super) notify: Notify,
    pub(super) done: watch::Sender<Option<ApiResult<()>>>,
    /// Set once the job's object is gone (dismissed).
    pub(super) removed: watch::Sender<bool>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("r", &self.r)
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn refused(e: Refused) -> ApiError {
    ApiError::not_allowed(e.0)
}

/// Lets the status write of a job that has not finished reach the store
/// without waiting for it (from the work's thread or a verb, which cannot
/// or should not wait): whatever such a write says, a restart concludes
/// the job with an error (see `recover`), so nothing depends on it being on
/// disk. The writes that do matter (concluded) are awaited by the
/// coordinator.
pub(super) fn unfinished(commit: Commit) {
    drop(commit);
}

pub(super) fn lock(m: &Mutex<Ctl>) -> MutexGuard<'_, Ctl> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Job {
    /// The domain the job works in.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// Writes the status (and what goes with it) to the registry, durably
    /// for the states a restart must know; returns the change's commit for
    /// the caller to await (or to let go, where it says why).
    #[must_use = "await the commit, or say why the status need not be on disk"]
    pub(super) fn publish_status(&self, c: &Ctl) -> Commit {
        let status = c.m.status;
        let write = match status {
            Status::Paused | Status::Standby | Status::Running | Status::Ready => Write::Volatile,
            _ => Write::Durable,
        };
        // The progress goes with the status, so that a client that sees a
        // job stopped (an I/O error under `stop`, a pause) reads how far it
        // got, not the last tick's figure.
        let cur = self.current.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed).max(cur);
        let updated = self
            .domain
            .registry
            .update(block_job::CLASS, self.r, write, |f| {
                f.set(block_job::STATUS, status);
                f.set(block_job::CURRENT_PROGRESS, to_int(cur));
                f.set(block_job::TOTAL_PROGRESS, to_int(total));
                f.set(
                    block_job::READY,
                    c.ready && matches!(status, Status::Ready | Status::Standby),
                );
                f.set(block_job::IO_STATUS, c.io_status);
                f.set(block_job::SPEED, i64::try_from(c.speed).unwrap_or(i64::MAX));
                Ok(())
            });
        match updated {
            Ok(((), commit)) => commit,
            Err(e) => {
                tracing::warn!(job = %self.id, error = %e, "could not record the job's status");
                Commit::none()
            }
        }
    }

    /// Moves to `to` and publishes it; returns the status write's commit.
    #[must_use = "await the commit, or say why the status need not be on disk"]
    pub(super) fn transition(&self, c: &mut Ctl, to: Status) -> Commit {
        if let Err(e) = c.m.transition(to) {
            tracing::error!(job = %self.id, error = %e, "job state machine");
            return Commit::none();
        }
        tracing::debug!(job = %self.id, status = to.name(), "job status");
        self.publish_status(c)
    }

    /// Waits until a status write is on disk; a failure is logged (the
    /// job goes on: a restart concludes it with an error either way).
    pub(super) async fn settle(&self, commit: Commit) {
        if let Err(e) = commit.wait().await {
            tracing::error!(job = %self.id, error = %e, "could not persist the job's status");
        }
    }

    // ----- called by the work, on its thread -----

    /// A pause point: waits while the job is paused, and tells the work to
    /// stop if it was cancelled (forced, or not yet ready).
    pub fn pause_point(&self) -> Result<(), JobError> {
        let mut c = lock(&self.ctl);
        loop {
            if self.must_stop(&c) {
                // Leave paused/standby first: QEMU only aborts from there
                // by way of running/ready.
                c.m.pause_count = 0;
                c.m.user_paused = false;
                if c.m.pause_point() {
                    unreachable!("no pause is outstanding");
                }
                unfinished(self.publish_status(&c));
                return Err(JobError::Cancelled);
            }
            let before = c.m.status;
            let wait = c.m.pause_point();
            if c.m.status != before {
                unfinished(self.publish_status(&c));
            }
            if !wait {
                return Ok(());
            }
            c = self.cv.wait(c).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn must_stop(&self, c: &Ctl) -> bool {
        match c.cancel {
            Some(true) => true,
            Some(false) => !c.ready,
            None => false,
        }
    }

    /// Whether a soft cancel was asked of a ready job (it should get in
    /// sync and end without pivoting).
    pub fn soft_cancelled(&self) -> bool {
        let c = lock(&self.ctl);
        c.cancel == Some(false) && c.ready
    }

    /// Whether the job has been ready.
    pub fn is_ready(&self) -> bool {
        lock(&self.ctl).ready
    }

    /// Whether `complete` was asked.
    pub fn complete_requested(&self) -> bool {
        lock(&self.ctl).complete
    }

    /// Accounts `n` bytes of copied data under the speed limit and sleeps
    /// as long as the limit says (re-computing when the speed changes);
    /// also a pause point.
    pub fn throttle(&self, n: u64) -> Result<(), JobError> {
        self.copied.fetch_add(n, Ordering::Relaxed);
        Stats::add(&self.domain.stats.job_bytes, n);
        {
            let mut c = lock(&self.ctl);
            let mut t = now();
            let mut delay = c.limit.account(n, t);
            while !delay.is_zero() && !self.must_stop(&c) && !c.m.should_pause() {
                self.alarm.wait_until(c, t + delay);
                c = lock(&self.ctl);
                t = now();
                delay = c.limit.account(0, t);
            }
        }
        self.pause_point()
    }

    /// Sleeps up to `d` (woken early by verbs); a pause point after.
    pub fn sleep(&self, d: Duration) -> Result<(), JobError> {
        {
            let c = lock(&self.ctl);
            if !self.must_stop(&c)
                && !c.m.should_pause()
                && !c.complete
                && !self.soft_cancelled_locked(&c)
            {
                self.alarm.wait_until(c, now() + d);
            }
        }
        self.pause_point()
    }

    fn soft_cancelled_locked(&self, c: &Ctl) -> bool {
        c.cancel == Some(false) && c.ready
    }

    /// Wakes the work wherever it waits: paused, or sleeping in
    /// [`Job::sleep`] or [`Job::throttle`] (a verb, a mirror's new writes).
    pub fn wake(&self) {
        self.cv.notify_all();
        self.alarm.ring();
    }

    /// Moves progress on by `n` bytes.
    pub fn progress(&self, n: u64) {
        self.current.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the total as current + `remaining` (QEMU's
    /// `job_progress_set_remaining`).
    pub fn set_remaining(&self, remaining: u64) {
        let cur = self.current.load(Ordering::Relaxed);
        self.total
            .store(cur.saturating_add(remaining), Ordering::Relaxed);
    }

    /// Sets the total.
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// The progress total.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The speed limit now (bytes/s, 0 = unlimited).
    pub fn speed(&self) -> u64 {
        lock(&self.ctl).speed
    }

    /// Progress so far.
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    /// The job reached `ready` (mirror, active commit).
    pub fn set_ready(&self) {
        let mut c = lock(&self.ctl);
        c.ready = true;
        if c.m.status == Status::Running {
            unfinished(self.transition(&mut c, Status::Ready));
        }
    }

    /// An I/O error: what the policy of that side says to do. Under `stop`
    /// (and `enospc`/`auto` on ENOSPC) the job pauses here until resumed,
    /// with `io_status` failed or nospace, and then retries.
    pub fn io_error(&self, side: Side, e: io::Error) -> OnError {
        let policy = self.policy(side);
        let e = JobError::io(side, e);
        let nospace = e.is_nospace();
        tracing::warn!(job = %self.id, error = %e, policy = policy.name(), "job I/O failed");
        let stop = match policy {
            Policy::Report => false,
            Policy::Ignore => return OnError::Retry,
            Policy::Stop => true,
            Policy::Enospc | Policy::Auto => nospace,
        };
        if !stop {
            return OnError::Fail(e);
        }
        {
            let mut c = lock(&self.ctl);
            c.io_status = if nospace {
                BlockJobIoStatus::Nospace
            } else {
                BlockJobIoStatus::Failed
            };
            if !c.m.user_paused {
                c.m.user_paused = true;
                c.m.pause_count += 1;
            }
            unfinished(self.publish_status(&c));
        }
        OnError::Retry
    }

    /// The policy for errors on `side`.
    pub fn policy(&self, side: Side) -> Policy {
        match side {
            Side::Source => self.on_source_error,
            Side::Target => self.on_target_error,
        }
    }

    // ----- verbs -----

    /// `block_job.pause`.
    pub fn pause(&self) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        c.m.user_pause(&self.id).map_err(refused)?;
        if c.m.status == Status::Created {
            unfinished(self.publish_status(&c));
        }
        self.wake();
        Ok(())
    }

    /// `block_job.resume`.
    pub fn resume(&self) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        c.m.user_resume(&self.id).map_err(refused)?;
        c.io_status = BlockJobIoStatus::Ok;
        unfinished(self.publish_status(&c));
        drop(c);
        refresh_faults(self.domain(), &self.vdis());
        self.wake();
        Ok(())
    }

    /// `block_job.set_speed`.
    pub fn set_speed(&self, speed: i64) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        c.m.check_verb(&self.id, Verb::SetSpeed).map_err(refused)?;
        if speed < 0 {
            return Err(ApiError::invalid_value("speed", speed));
        }
        c.speed = speed as u64;
        c.limit.set_speed(speed as u64);
        unfinished(self.publish_status(&c));
        self.wake();
        Ok(())
    }

    /// `block_job.cancel`: in concluded, a dismiss (as QEMU).
    pub fn cancel(&self, force: bool) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        if c.m.status == Status::Concluded {
            c.dismiss = true;
            drop(c);
            self.notify.notify_one();
            return Ok(());
        }
        c.m.check_verb(&self.id, Verb::Cancel).map_err(refused)?;
        let force = force || c.cancel == Some(true);
        c.cancel = Some(force);
        // Cancelling a user-paused job resumes it.
        if c.m.user_paused {
            c.m.user_paused = false;
            c.m.pause_count = c.m.pause_count.saturating_sub(1);
        }
        let waiting = c.m.status == Status::Waiting;
        drop(c);
        // A job waiting for its group: the whole group is cancelled.
        if let (true, Some(txn)) = (waiting, &self.txn) {
            txn.failed(self.r);
        }
        self.wake();
        self.notify.notify_one();
        Ok(())
    }

    /// `block_job.complete`.
    pub fn complete(&self) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        c.m.check_verb(&self.id, Verb::Complete).map_err(refused)?;
        let completable = match self.kind {
            JobKind::Mirror { .. } => true,
            JobKind::Commit { top, .. } => top == self.device(),
            _ => false,
        };
        if c.cancel.is_some() || !completable {
            return Err(ApiError::not_allowed(format!(
                "The active block job '{}' cannot be completed",
                self.id
            )));
        }
        if !c.ready {
            return Err(ApiError::not_allowed(format!(
                "The active block job '{}' cannot be completed: it is not ready",
                self.id
            )));
        }
        c.complete = true;
        drop(c);
        self.wake();
        Ok(())
    }

    /// `block_job.finalize`.
    pub fn finalize(&self) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        c.m.check_verb(&self.id, Verb::Finalize).map_err(refused)?;
        c.finalize = true;
        drop(c);
        self.notify.notify_one();
        Ok(())
    }

    /// `block_job.dismiss`.
    pub fn dismiss(&self) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        c.m.check_verb(&self.id, Verb::Dismiss).map_err(refused)?;
        c.dismiss = true;
        drop(c);
        self.notify.notify_one();
        Ok(())
    }

    pub(super) fn target(&self) -> Option<Ref> {
        let d = &self.domain;
        d.registry
            .get_field(block_job::TARGET, self.r)
            .ok()
            .filter(|r| !r.is_null())
    }

    pub(super) fn device(&self) -> Ref {
        let d = &self.domain;
        d.registry
            .get_field(block_job::DEVICE, self.r)
            .unwrap_or(Ref::NULL)
    }

    fn vdis(&self) -> Vec<Ref> {
        let d = &self.domain;
        d.registry
            .read(block_job::CLASS, self.r, |row| {
                [row.get(block_job::DEVICE), row.get(block_job::TARGET)]
                    .into_iter()
                    .filter(|r| !r.is_null())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until the job has concluded: `Ok` if it succeeded,
    /// `TASK_CANCELLED` if it was cancelled, its error otherwise.
    pub async fn wait(&self) -> ApiResult<()> {
        let mut rx = self.done.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return Err(ApiError::internal("job vanished"));
            }
        }
    }

    /// Waits until the job's object is gone (after a dismiss).
    pub async fn wait_removed(&self) {
        let mut rx = self.removed.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Whether the job has concluded.
    pub fn is_concluded(&self) -> bool {
        lock(&self.ctl).m.status == Status::Concluded
    }

    /// Waits for a coordinator wake-up while `until` is false.
    pub(super) async fn wait_for(&self, until: impl Fn(&Ctl) -> bool) {
        loop {
            let n = self.notify.notified();
            if until(&lock(&self.ctl)) {
                return;
            }
            n.await;
        }
    }
}

impl Member for Job {
    fn member_ref(&self) -> Ref {
        self.r
    }

    fn force_cancel(&self) {
        // A member that has concluded meanwhile has nothing to cancel.
        let _ = self.cancel(true);
    }
}
