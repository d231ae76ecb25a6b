//! The job engine: a job's life from `created` to `null`, with QEMU's state
//! machine ([`super::state`]), its verbs, speed limiting, error policies,
//! and the task that clients follow.
//!
//! A job has two halves. Its *work* ([`Work`]) copies data on a thread of
//! its own (image I/O never runs on the RPC runtime) and calls back into
//! [`Job`] at its pause points: there it pauses, sleeps under the speed
//! limit, notices cancellation, reports progress and asks what to do about
//! an I/O error. Its *coordinator*, an async task, starts the work, writes
//! progress into the registry every [`TICK`], and once the work has ended
//! walks the job through waiting, pending, finalization (the work's
//! `commit` or `abort`), concluded and dismissal, and finishes the task.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use super::setup::start;

use super::ratelimit::RateLimit;
use super::state::{Machine, Refused, Status, Verb};
use crate::api::busy::Claim;
use crate::api::{task, ApiError, ApiResult, Server};
use crate::registry::Write;
use crate::storage::image::Image;
use crate::wire::{Ref, Value};

/// How often a running job's progress reaches the registry.
pub const TICK: Duration = Duration::from_millis(100);

/// The window over which `rate` is measured.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// A backup's or mirror's sync mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sync {
    /// Everything the device reads as.
    #[default]
    Full,
    /// Only what the device's own layer holds.
    Top,
    /// Only what is written while the job runs.
    None,
}

impl Sync {
    /// The option's value.
    pub fn name(self) -> &'static str {
        match self {
            Sync::Full => "full",
            Sync::Top => "top",
            Sync::None => "none",
        }
    }

    /// Parses the option.
    pub fn from_name(s: &str) -> Option<Sync> {
        [Sync::Full, Sync::Top, Sync::None]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// A point-in-time copy of the device into the target.
    Backup {
        /// Sync mode.
        sync: Sync,
    },
    /// Keep the target in sync with the device, then pivot.
    Mirror {
        /// Sync mode.
        sync: Sync,
        /// Dirty-tracking granularity in bytes.
        granularity: u64,
    },
    /// Pull the chain's data above `base` into the device.
    Stream {
        /// The layer that stays (null: the whole chain is pulled in).
        base: Ref,
    },
    /// Merge `top` (down to just above `base`) into `base`.
    Commit {
        /// The highest layer merged (the device: an active commit).
        top: Ref,
        /// The layer merged into.
        base: Ref,
    },
}

impl JobKind {
    /// The datamodel's `block_job_type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            JobKind::Backup { .. } => "backup",
            JobKind::Mirror { .. } => "mirror",
            JobKind::Stream { .. } => "stream",
            JobKind::Commit { .. } => "commit",
        }
    }
}

/// An error policy (`BlockdevOnError`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Fail the job.
    #[default]
    Report,
    /// Carry on (retry later).
    Ignore,
    /// Stop on ENOSPC, report anything else.
    Enospc,
    /// Pause until resumed.
    Stop,
    /// As `Enospc`.
    Auto,
}

impl Policy {
    /// The option's value.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Report => "report",
            Policy::Ignore => "ignore",
            Policy::Enospc => "enospc",
            Policy::Stop => "stop",
            Policy::Auto => "auto",
        }
    }

    /// Parses the option.
    pub fn from_name(s: &str) -> Option<Policy> {
        [
            Policy::Report,
            Policy::Ignore,
            Policy::Enospc,
            Policy::Stop,
            Policy::Auto,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }
}

/// Which side of a copy failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Reading the source.
    Source,
    /// Writing the target.
    Target,
}

/// What the work should do about an I/O error.
#[derive(Debug)]
pub enum OnError {
    /// Try the same request again (after a `stop` was resumed, or under
    /// `ignore`).
    Retry,
    /// Give up: the job fails with this error.
    Fail(ApiError),
}

/// Why the work stopped early.
#[derive(Debug)]
pub enum Stopped {
    /// The job was cancelled (force, or before it was ready).
    Cancelled,
    /// It failed.
    Failed(ApiError),
}

impl From<ApiError> for Stopped {
    fn from(e: ApiError) -> Stopped {
        Stopped::Failed(e)
    }
}

/// How the work ended when it did not stop early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Done (a mirror or active commit: completed, so it pivots).
    Done,
    /// A mirror or active commit soft-cancelled in ready: in sync, no pivot.
    NoPivot,
}

/// A change to the registry that finalizing a job makes.
#[derive(Debug)]
pub enum Effect {
    /// Re-read a VDI's file (size, format, backing).
    Refresh(Ref),
    /// `vdi` now lives in `onto`'s file and SR; `onto`'s object is removed,
    /// and `vdi`'s old file is deleted.
    Pivot {
        /// The VDI that moves.
        vdi: Ref,
        /// The VDI whose file it takes over.
        onto: Ref,
    },
}

/// The data-moving half of a job, specific to its type.
pub trait Work: Send + 'static {
    /// Copies; runs on the job's own thread, calling back into `job`.
    fn run(&mut self, job: &Job) -> Result<Ended, Stopped>;
    /// Makes a successful job's result take effect (backing pointers,
    /// pivots); blocking, at finalization. Returns the registry changes.
    fn commit(&mut self, ended: Ended) -> io::Result<Vec<Effect>>;
    /// Undoes what can be undone of a failed or cancelled job.
    fn abort(&mut self) {}
    /// Images that writes made through the server (imports) must go
    /// through while the job runs, with the hook that sees them.
    fn hook(&self) -> Option<(Ref, Arc<dyn WriteHook>)> {
        None
    }
}

/// Sees writes to a job's device made through the server (HTTP imports).
pub trait WriteHook: Send + std::marker::Sync {
    /// The device's open image: imports write through it.
    fn image(&self) -> &Arc<Image>;
    /// Before `len` bytes at `offset` are overwritten (copy-before-write).
    fn before_write(&self, offset: u64, len: u64) -> io::Result<()>;
    /// After they were written (a mirror marks them dirty).
    fn after_write(&self, offset: u64, len: u64);
}

/// What a job is asked to do at its start.
#[derive(Debug)]
pub struct Spec {
    /// What it does.
    pub kind: JobKind,
    /// The VDI it works on.
    pub device: Ref,
    /// The VDI written (backup/mirror), or the base (stream/commit), or null.
    pub target: Ref,
    /// `job_id` option (default: the device's uuid).
    pub job_id: Option<String>,
    /// Bytes per second (0 = unlimited).
    pub speed: u64,
    /// `auto_finalize`.
    pub auto_finalize: bool,
    /// `auto_dismiss`.
    pub auto_dismiss: bool,
    /// `on_source_error` (`on_error` of stream and commit).
    pub on_source_error: Policy,
    /// `on_target_error`.
    pub on_target_error: Policy,
    /// The task to report through (an `Async.` call's), or none: the job
    /// creates its own.
    pub task: Option<Ref>,
    /// Fired by `task.cancel` on that task.
    pub cancel: Option<CancellationToken>,
    /// The target was just created (reads as zeroes): zero ranges need not
    /// be written.
    pub fresh_target: bool,
    /// The device is only read: writes to it are refused while the job
    /// runs instead of being hooked (VDI.copy/clone, so copies of one VDI
    /// run side by side).
    pub read_only_device: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            kind: JobKind::Backup { sync: Sync::Full },
            device: Ref::NULL,
            target: Ref::NULL,
            job_id: None,
            speed: 0,
            auto_finalize: true,
            auto_dismiss: true,
            on_source_error: Policy::Report,
            on_target_error: Policy::Report,
            task: None,
            cancel: None,
            fresh_target: false,
            read_only_device: false,
        }
    }
}

/// The control state that verbs and the work share.
#[derive(Debug)]
struct Ctl {
    m: Machine,
    speed: u64,
    limit: RateLimit,
    /// `Some(force)` once a cancel was requested.
    cancel: Option<bool>,
    complete: bool,
    finalize: bool,
    dismiss: bool,
    ready: bool,
    io_status: &'static str,
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
    server: Arc<Server>,
    own_task: bool,
    /// The grouped transaction the job belongs to, if any.
    txn: Option<Arc<Txn>>,
    auto_finalize: bool,
    auto_dismiss: bool,
    on_source_error: Policy,
    on_target_error: Policy,
    ctl: Mutex<Ctl>,
    cv: Condvar,
    /// Progress: current and total (QEMU's units: bytes of the image).
    current: AtomicU64,
    total: AtomicU64,
    /// Bytes of data actually copied (for `rate`).
    copied: AtomicU64,
    /// Wakes the coordinator (verbs in pending/concluded).
    notify: Notify,
    done: watch::Sender<Option<ApiResult<()>>>,
    /// Set once the job's object is gone (dismissed).
    removed: watch::Sender<bool>,
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

/// A job's write hook, shared with imports.
pub type Hook = Arc<dyn WriteHook>;

/// Every job that exists, by ref and by id, and the write hooks of devices.
#[derive(Default)]
pub struct Jobs {
    by_ref: DashMap<Ref, Arc<Job>>,
    ids: DashMap<String, Ref>,
    hooks: DashMap<Ref, Vec<(Ref, Hook)>>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("count", &self.by_ref.len())
            .finish()
    }
}

impl Jobs {
    /// A live job, or `HANDLE_INVALID`.
    pub fn get(&self, r: Ref) -> ApiResult<Arc<Job>> {
        self.by_ref
            .get(&r)
            .map(|j| j.clone())
            .ok_or_else(|| ApiError::handle_invalid("block_job", r))
    }

    /// The hooks of jobs whose device is `vdi` (imports write through them).
    pub fn hooks(&self, vdi: Ref) -> Vec<Arc<dyn WriteHook>> {
        self.hooks
            .get(&vdi)
            .map(|v| v.iter().map(|(_, h)| h.clone()).collect())
            .unwrap_or_default()
    }
}

fn refused(e: Refused) -> ApiError {
    ApiError::not_allowed(e.0)
}

fn lock(m: &Mutex<Ctl>) -> MutexGuard<'_, Ctl> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Job {
    fn ids(&self) -> &crate::api::ids::JobIds {
        &self.server.ids.job
    }

    /// Writes the status (and what goes with it) to the registry, durably
    /// for the states a restart must know.
    fn publish_status(&self, c: &Ctl) {
        let j = self.ids();
        let status = c.m.status;
        let write = match status {
            Status::Paused | Status::Standby | Status::Running | Status::Ready => Write::Volatile,
            _ => Write::Durable,
        };
        let _ = self.server.registry.update(j.class, self.r, write, |f| {
            f[j.status] = Value::from(status.name());
            f[j.ready] = Value::Bool(c.ready && matches!(status, Status::Ready | Status::Standby));
            f[j.io_status] = Value::from(c.io_status);
            f[j.speed] = Value::Int(c.speed.min(i64::MAX as u64) as i64);
            Ok(())
        });
    }

    fn transition(&self, c: &mut Ctl, to: Status) {
        if let Err(e) = c.m.transition(to) {
            tracing::error!(job = %self.id, error = %e, "job state machine");
            return;
        }
        tracing::debug!(job = %self.id, status = to.name(), "job status");
        self.publish_status(c);
    }

    // ----- called by the work, on its thread -----

    /// A pause point: waits while the job is paused, and tells the work to
    /// stop if it was cancelled (forced, or not yet ready).
    pub fn pause_point(&self) -> Result<(), Stopped> {
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
                self.publish_status(&c);
                return Err(Stopped::Cancelled);
            }
            let before = c.m.status;
            let wait = c.m.pause_point();
            if c.m.status != before {
                self.publish_status(&c);
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
    pub fn throttle(&self, n: u64) -> Result<(), Stopped> {
        self.copied.fetch_add(n, Ordering::Relaxed);
        {
            let mut c = lock(&self.ctl);
            let mut delay = c.limit.account(n, Instant::now());
            while !delay.is_zero() && !self.must_stop(&c) && !c.m.should_pause() {
                let (g, _) = self
                    .cv
                    .wait_timeout(c, delay)
                    .unwrap_or_else(|p| p.into_inner());
                c = g;
                delay = c.limit.account(0, Instant::now());
            }
        }
        self.pause_point()
    }

    /// Sleeps up to `d` (woken early by verbs); a pause point after.
    pub fn sleep(&self, d: Duration) -> Result<(), Stopped> {
        {
            let c = lock(&self.ctl);
            if !self.must_stop(&c)
                && !c.m.should_pause()
                && !c.complete
                && !self.soft_cancelled_locked(&c)
            {
                let _ = self.cv.wait_timeout(c, d);
            }
        }
        self.pause_point()
    }

    fn soft_cancelled_locked(&self, c: &Ctl) -> bool {
        c.cancel == Some(false) && c.ready
    }

    /// Wakes a work sleeping in [`Job::sleep`] (a mirror's new writes).
    pub fn wake(&self) {
        self.cv.notify_all();
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
            self.transition(&mut c, Status::Ready);
        }
    }

    /// An I/O error: what the policy of that side says to do. Under `stop`
    /// (and `enospc`/`auto` on ENOSPC) the job pauses here until resumed,
    /// with `io_status` failed or nospace, and then retries.
    pub fn io_error(&self, side: Side, e: &io::Error) -> OnError {
        let policy = match side {
            Side::Source => self.on_source_error,
            Side::Target => self.on_target_error,
        };
        let nospace = e.raw_os_error() == Some(libc::ENOSPC);
        let what = match side {
            Side::Source => "reading the source",
            Side::Target => "writing the target",
        };
        tracing::warn!(job = %self.id, error = %e, policy = policy.name(), "{what} failed");
        let stop = match policy {
            Policy::Report => false,
            Policy::Ignore => return OnError::Retry,
            Policy::Stop => true,
            Policy::Enospc | Policy::Auto => nospace,
        };
        if !stop {
            return OnError::Fail(if nospace {
                ApiError::new("SR_FULL", ["0".to_string(), "0".to_string()])
            } else {
                crate::api::vdi::io_error(what, e)
            });
        }
        {
            let mut c = lock(&self.ctl);
            c.io_status = if nospace { "nospace" } else { "failed" };
            if !c.m.user_paused {
                c.m.user_paused = true;
                c.m.pause_count += 1;
            }
            self.publish_status(&c);
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
            self.publish_status(&c);
        }
        self.cv.notify_all();
        Ok(())
    }

    /// `block_job.resume`.
    pub fn resume(&self) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        c.m.user_resume(&self.id).map_err(refused)?;
        c.io_status = "ok";
        self.publish_status(&c);
        drop(c);
        refresh_faults(&self.server, &self.vdis());
        self.cv.notify_all();
        Ok(())
    }

    /// `block_job.set_speed`.
    pub fn set_speed(&self, speed: i64) -> ApiResult<()> {
        let mut c = lock(&self.ctl);
        c.m.check_verb(&self.id, Verb::SetSpeed).map_err(refused)?;
        if speed < 0 {
            return Err(ApiError::new(
                "INVALID_VALUE",
                ["speed".to_string(), speed.to_string()],
            ));
        }
        c.speed = speed as u64;
        c.limit.set_speed(speed as u64);
        self.publish_status(&c);
        self.cv.notify_all();
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
            txn.failed(self);
        }
        self.cv.notify_all();
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
        self.cv.notify_all();
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

    fn target(&self) -> Option<Ref> {
        let j = self.ids();
        match self.server.registry.field(j.class, self.r, j.target) {
            Ok(Value::Ref(r)) if !r.is_null() => Some(r),
            _ => None,
        }
    }

    fn device(&self) -> Ref {
        let j = self.ids();
        match self.server.registry.field(j.class, self.r, j.device) {
            Ok(Value::Ref(r)) => r,
            _ => Ref::NULL,
        }
    }

    fn vdis(&self) -> Vec<Ref> {
        let j = self.ids();
        self.server
            .registry
            .read(j.class, self.r, |row| {
                [row.fields[j.device].clone(), row.fields[j.target].clone()]
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::Ref(r) if !r.is_null() => Some(r),
                        _ => None,
                    })
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
    async fn wait_for(&self, until: impl Fn(&Ctl) -> bool) {
        loop {
            let n = self.notify.notified();
            if until(&lock(&self.ctl)) {
                return;
            }
            n.await;
        }
    }
}

/// Applies `VDI.other_config:xapid-fault` of these VDIs to the fault table
/// (only when the server allows fault injection).
pub fn refresh_faults(server: &Server, vdis: &[Ref]) {
    if !server.config.fault_injection {
        return;
    }
    let v = &server.ids.vdi;
    for &vdi in vdis {
        let Ok((_, dir, loc)) = crate::api::vdi::file_of(server, vdi) else {
            continue;
        };
        let spec = server
            .registry
            .read(v.class, vdi, |row| {
                crate::api::vdi::map_get(&row.fields[v.other_config], "xapid-fault")
                    .map(str::to_owned)
            })
            .flatten();
        let rule = spec.and_then(|s| match crate::storage::fault::parse(&s) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(vdi = %vdi, error = %e, "bad xapid-fault");
                None
            }
        });
        crate::storage::fault::set(&dir.root().join(&loc), rule);
    }
}

/// A grouped transaction (QEMU's `JobTxn`): its jobs wait in `waiting`
/// until all of them have finished their work, then go `pending`
/// together; the first failure force-cancels the rest.
#[derive(Default)]
pub struct Txn {
    members: Mutex<Vec<std::sync::Weak<Job>>>,
    left: AtomicU64,
    failed: std::sync::atomic::AtomicBool,
    notify: Notify,
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn").finish_non_exhaustive()
    }
}

impl Txn {
    /// A transaction of `n` jobs (added with [`Txn::add`] as they start).
    pub fn new(n: usize) -> Arc<Txn> {
        let t = Txn::default();
        t.left.store(n as u64, Ordering::SeqCst);
        Arc::new(t)
    }

    fn add(&self, job: &Arc<Job>) {
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(job));
    }

    /// A member's work succeeded: waits until every member's has; false if
    /// one failed meanwhile (this job must then be cancelled too).
    async fn completed(&self) -> bool {
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

/// Everything a started job holds until it concludes.
pub struct Held {
    /// Claims on the VDIs it uses.
    pub claims: Vec<Claim>,
    /// Its work.
    pub work: Box<dyn Work>,
}

/// Creates and starts a job whose work and claims the job type prepared.
/// Returns once it is running.
pub async fn start_prepared(
    server: &Arc<Server>,
    spec: Spec,
    held: Held,
    own: bool,
    txn: Option<Arc<Txn>>,
) -> ApiResult<Arc<Job>> {
    let j = &server.ids.job;
    let id = match &spec.job_id {
        Some(id) => {
            if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_control()) {
                return Err(ApiError::new(
                    "INVALID_VALUE",
                    ["job_id".to_string(), id.clone()],
                ));
            }
            id.clone()
        }
        None => {
            let v = &server.ids.vdi;
            server
                .registry
                .field(v.class, spec.device, v.uuid)?
                .as_str()
                .unwrap_or("")
                .to_string()
        }
    };
    let r = Ref::new();
    match server.jobs.ids.entry(id.clone()) {
        dashmap::Entry::Occupied(_) => {
            return Err(ApiError::not_allowed(format!(
                "Job ID '{id}' already in use"
            )));
        }
        dashmap::Entry::Vacant(e) => {
            e.insert(r);
        }
    }
    let unregister = |server: &Server| {
        server.jobs.ids.remove(&id);
    };
    let Some(task) = spec.task else {
        unregister(server);
        return Err(ApiError::internal("a job without a task"));
    };
    let own_task = own;
    let cancel = spec.cancel.clone();
    // The task names its job.
    let t = &server.ids.task;
    if let Ok(((), c)) = server.registry.update(t.class, task, Write::Durable, |f| {
        crate::api::vdi::map_set(&mut f[t.other_config], "block_job", Some(&r.to_string()));
        Ok(())
    }) {
        let _ = c.wait().await;
    }
    let mut f = server.model.default_row(j.class);
    f[j.uuid] = Value::from(Uuid::new_v4().to_string());
    f[j.job_id] = Value::from(id.as_str());
    f[j.ty] = Value::from(spec.kind.type_name());
    f[j.status] = Value::from(Status::Created.name());
    f[j.device] = Value::Ref(spec.device);
    f[j.target] = Value::Ref(spec.target);
    f[j.speed] = Value::Int(spec.speed.min(i64::MAX as u64) as i64);
    f[j.auto_finalize] = Value::Bool(spec.auto_finalize);
    f[j.auto_dismiss] = Value::Bool(spec.auto_dismiss);
    f[j.on_source_error] = Value::from(spec.on_source_error.name());
    f[j.on_target_error] = Value::from(spec.on_target_error.name());
    f[j.task] = Value::Ref(task);
    f[j.sync] = Value::from(match spec.kind {
        JobKind::Backup { sync } | JobKind::Mirror { sync, .. } => sync.name(),
        _ => "",
    });
    if let Err(e) = server.registry.insert(j.class, r, f).wait().await {
        unregister(server);
        return Err(ApiError::internal(e));
    }
    let (done, _) = watch::channel(None);
    let job = Arc::new(Job {
        r,
        task,
        id: id.clone(),
        kind: spec.kind,
        server: server.clone(),
        own_task,
        txn: txn.clone(),
        auto_finalize: spec.auto_finalize,
        auto_dismiss: spec.auto_dismiss,
        on_source_error: spec.on_source_error,
        on_target_error: spec.on_target_error,
        ctl: Mutex::new(Ctl {
            m: Machine::new(),
            speed: spec.speed,
            limit: RateLimit::new(spec.speed, Instant::now()),
            cancel: None,
            complete: false,
            finalize: false,
            dismiss: false,
            ready: false,
            io_status: "ok",
        }),
        cv: Condvar::new(),
        current: AtomicU64::new(0),
        total: AtomicU64::new(0),
        copied: AtomicU64::new(0),
        notify: Notify::new(),
        done,
        removed: watch::channel(false).0,
    });
    server.jobs.by_ref.insert(r, job.clone());
    if let Some(t) = &txn {
        t.add(&job);
    }
    refresh_faults(server, &[spec.device, spec.target]);
    if let Some((vdi, hook)) = held.work.hook() {
        server.jobs.hooks.entry(vdi).or_default().push((r, hook));
    }
    {
        let mut c = lock(&job.ctl);
        if let Err(e) = c.m.start() {
            tracing::error!(error = %e, "job start");
        }
        job.publish_status(&c);
    }
    let tracker = server.tracker.clone();
    tracker.spawn(coordinate(job.clone(), held, cancel));
    Ok(job)
}

/// The coordinator: runs the work on its own thread, publishes progress,
/// then concludes the job.
async fn coordinate(job: Arc<Job>, held: Held, cancel: Option<CancellationToken>) {
    let server = job.server.clone();
    let Held { claims, mut work } = held;
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let worker_job = job.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("job-{}", job.r))
        .spawn(move || {
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
                    finish(&job, claims, Err(ApiError::internal("the job's thread died"))).await;
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
    let j = &server.ids.job;
    let result: ApiResult<Vec<Effect>> = match out {
        Ok(ended) => {
            {
                let mut c = lock(&job.ctl);
                job.transition(&mut c, Status::Waiting);
            }
            // In a grouped transaction the job waits for the others; a
            // single job is a transaction of one, all done.
            let group_failed = match &job.txn {
                Some(txn) => !txn.completed().await,
                None => false,
            };
            if !group_failed {
                let mut c = lock(&job.ctl);
                job.transition(&mut c, Status::Pending);
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
                Err(cancelled_error(&job))
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
                r.map_err(|e| crate::api::vdi::io_error("finalizing the job", e))
            }
        }
        Err(Stopped::Cancelled) => {
            if let Some(txn) = &job.txn {
                txn.failed(&job);
            }
            Err(cancelled_error(&job))
        }
        Err(Stopped::Failed(e)) => {
            if let Some(txn) = &job.txn {
                txn.failed(&job);
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
        Ok(effects) => apply_effects(&server, effects).await,
        Err(e) => {
            {
                let mut c = lock(&job.ctl);
                job.transition(&mut c, Status::Aborting);
            }
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
    let error = match &result {
        Err(e) if e.code != "TASK_CANCELLED" => e.to_vec().join(" "),
        _ => String::new(),
    };
    let _ = server
        .registry
        .update(j.class, job.r, Write::Volatile, |f| {
            f[j.error] = Value::from(error);
            Ok(())
        });
    // A backup's or mirror's target is only a good copy if the job
    // succeeded.
    if let (JobKind::Backup { .. } | JobKind::Mirror { .. }, Some(target)) =
        (job.kind, job.target())
    {
        let why = result.as_ref().err().map(|e| e.code);
        crate::api::vdi::mark_incomplete(&server, target, why).await;
    }
    finish(&job, claims, result).await;
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

fn cancelled_error(job: &Job) -> ApiError {
    ApiError::new("TASK_CANCELLED", [job.task.to_string()])
}

/// Concluded: releases the VDIs, finishes the task, tells waiters, and
/// dismisses (now, or when asked).
async fn finish(job: &Arc<Job>, claims: Vec<Claim>, result: ApiResult<()>) {
    let server = &job.server;
    if let Some(mut e) = server.jobs.hooks.get_mut(&job.device()) {
        e.retain(|(r, _)| *r != job.r);
    }
    server
        .jobs
        .hooks
        .remove_if(&job.device(), |_, v| v.is_empty());
    drop(claims);
    {
        let mut c = lock(&job.ctl);
        if c.m.status == Status::Running || c.m.status == Status::Ready {
            job.transition(&mut c, Status::Aborting);
        }
        job.transition(&mut c, Status::Concluded);
    }
    if job.own_task {
        task::finish(server, job.task, result.clone().map(|()| Value::Ref(job.r))).await;
    }
    let _ = job.done.send(Some(result));
    if !job.auto_dismiss {
        // Kept until dismissed; at shutdown it stays concluded in the store.
        tokio::select! {
            _ = job.wait_for(|c| c.dismiss) => {}
            _ = server.shutdown.cancelled() => return,
        }
    }
    {
        let mut c = lock(&job.ctl);
        job.transition(&mut c, Status::Null);
    }
    dismiss_row(server, job.r).await;
    server.jobs.by_ref.remove(&job.r);
    server.jobs.ids.remove(&job.id);
    job.removed.send_replace(true);
}

async fn dismiss_row(server: &Server, r: Ref) {
    if let Some((_, c)) = server.registry.remove(server.ids.job.class, r) {
        let _ = c.wait().await;
    }
}

async fn apply_effects(server: &Server, effects: Vec<Effect>) -> ApiResult<()> {
    for e in effects {
        match e {
            Effect::Refresh(v) => crate::api::vdi::refresh(server, v).await?,
            Effect::Pivot { vdi, onto } => crate::api::vdi::pivot(server, vdi, onto).await?,
        }
    }
    Ok(())
}

/// Every how many ticks progress is written durably.
const DURABLE_EVERY: u64 = 50;

/// Bytes copied over the last [`RATE_WINDOW`].
#[derive(Default)]
struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
    ticks: u64,
}

impl RateMeter {
    fn observe(&mut self, now: Instant, copied: u64) -> u64 {
        self.samples.push_back((now, copied));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
        let (t0, c0) = self.samples.front().copied().unwrap_or((now, copied));
        let dt = now.duration_since(t0).as_secs_f64();
        if dt < 0.05 {
            return 0;
        }
        ((copied - c0) as f64 / dt) as u64
    }
}

fn publish_progress(job: &Job, rate: &mut RateMeter) {
    let server = &job.server;
    let j = &server.ids.job;
    let cur = job.current.load(Ordering::Relaxed);
    let total = job.total.load(Ordering::Relaxed).max(cur);
    let r = rate.observe(Instant::now(), job.copied.load(Ordering::Relaxed));
    // Every few seconds the progress reaches the disk too, so a job
    // interrupted by a crash shows how far it got.
    let write = if rate.ticks % DURABLE_EVERY == 0 {
        Write::Durable
    } else {
        Write::Volatile
    };
    rate.ticks += 1;
    let _ = server.registry.update(j.class, job.r, write, |f| {
        f[j.current_progress] = Value::Int(cur.min(i64::MAX as u64) as i64);
        f[j.total_progress] = Value::Int(total.min(i64::MAX as u64) as i64);
        f[j.rate] = Value::Int(r.min(i64::MAX as u64) as i64);
        Ok(())
    });
    if total > 0 {
        task::set_progress_volatile(server, job.task, cur as f64 / total as f64);
    }
}

/// After a restart: jobs that were running conclude with an error (their
/// tasks end `failure` through task recovery); dismissed ones go.
pub async fn recover_after_restart(server: &Arc<Server>) -> anyhow::Result<()> {
    let j = &server.ids.job;
    let mut rows = Vec::new();
    server.registry.for_each(j.class, |r, row| {
        rows.push((
            r,
            row.fields[j.status].clone(),
            row.fields[j.auto_dismiss].clone(),
            row.fields[j.ty].clone(),
            row.fields[j.target].clone(),
            row.fields[j.job_id].clone(),
        ));
    });
    for (r, status, auto_dismiss, ty, target, id) in rows {
        let finished = matches!(status.as_str(), Some("concluded") | Some("null"));
        if !finished {
            if let (Some("backup" | "mirror"), Value::Ref(t)) = (ty.as_str(), target) {
                if !t.is_null() {
                    crate::api::vdi::mark_incomplete(server, t, Some("TASK_INTERRUPTED")).await;
                }
            }
        }
        if auto_dismiss != Value::Bool(false) {
            dismiss_row(server, r).await;
            continue;
        }
        // Kept, concluded, for its client to read and dismiss; its id stays
        // taken until then.
        if let Some(id) = id.as_str() {
            server.jobs.ids.insert(id.to_string(), r);
        }
        if finished {
            continue;
        }
        let ((), c) = server.registry.update(j.class, r, Write::Durable, |f| {
            f[j.status] = Value::from("concluded");
            f[j.ready] = Value::Bool(false);
            f[j.error] =
                Value::from("TASK_INTERRUPTED the server stopped while the job was running");
            Ok(())
        })?;
        c.wait().await?;
    }
    Ok(())
}

/// `dismiss` of a concluded job left over from before a restart.
pub async fn dismiss_stale(server: &Server, r: Ref) -> ApiResult<()> {
    let j = &server.ids.job;
    let status = server.registry.field(j.class, r, j.status)?;
    if status.as_str() != Some("concluded") {
        let id = server.registry.field(j.class, r, j.job_id)?;
        return Err(ApiError::not_allowed(format!(
            "Job '{}' in state '{}' cannot accept command verb 'dismiss'",
            id.as_str().unwrap_or(""),
            status.as_str().unwrap_or("")
        )));
    }
    dismiss_row(server, r).await;
    server.jobs.ids.retain(|_, v| *v != r);
    Ok(())
}
