//! `block_job`: starting jobs (options parsed here), QEMU's verbs, and
//! transactions. The engine is in [`crate::jobs`].

use super::{ApiError, ApiResult, Ctx};
use crate::domain::bitmaps::{self, BitmapMode};
use crate::domain::{invalid, Domain};
use crate::jobs::start::{start, vdi_option};
use crate::jobs::txn::{self, Action};
use crate::jobs::{recover, Job, JobKind, Policy, Spec, SyncMode};
use crate::model::schema::args::{
    BlockJobBackup, BlockJobCancel, BlockJobCommit, BlockJobComplete, BlockJobDismiss,
    BlockJobFinalize, BlockJobMirror, BlockJobPause, BlockJobResume, BlockJobSetSpeed,
    BlockJobStream, BlockJobTransaction,
};
use crate::model::schema::block_job;
use crate::model::{FieldValue, Map, RowExt};
use crate::wire::{Ref, Value};

/// The options of one start message: `(key, value)` pairs, unknown keys
/// refused.
struct Options<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Options<'a> {
    fn new(map: &'a Map<String>, allowed: &[&str]) -> ApiResult<Options<'a>> {
        let mut pairs = Vec::new();
        for (k, val) in map.iter() {
            if !allowed.contains(&k) {
                return Err(invalid("options", k));
            }
            pairs.push((k, val.as_str()));
        }
        Ok(Options { pairs })
    }

    fn get(&self, k: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(x, _)| *x == k).map(|(_, v)| *v)
    }

    fn bool(&self, k: &str, default: bool) -> ApiResult<bool> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(invalid(k, v)),
            },
        }
    }

    fn policy(&self, k: &str) -> ApiResult<Policy> {
        match self.get(k) {
            None => Ok(Policy::Report),
            Some(v) => Policy::from_name(v).ok_or_else(|| invalid(k, v)),
        }
    }

    fn sync(&self) -> ApiResult<SyncMode> {
        match self.get("sync") {
            None => Ok(SyncMode::Full),
            Some(v) => SyncMode::from_name(v).ok_or_else(|| invalid("sync", v)),
        }
    }

    /// A backup's `bitmap` (a name of one of `device`'s bitmaps, or a
    /// ref) and `bitmap_mode`, with QEMU's checks against the sync mode.
    /// `incremental` is `bitmap` with `on-success`.
    fn bitmap(
        &self,
        d: &Domain,
        device: Ref,
        sync: SyncMode,
    ) -> ApiResult<(SyncMode, Option<(Ref, BitmapMode)>)> {
        let mode = match self.get("bitmap_mode") {
            None => None,
            Some(v) => Some(BitmapMode::from_name(v).ok_or_else(|| invalid("bitmap_mode", v))?),
        };
        let Some(name) = self.get("bitmap") else {
            if matches!(sync, SyncMode::Bitmap | SyncMode::Incremental) {
                return Err(invalid(
                    "bitmap",
                    format_args!(
                        "must provide a valid bitmap name for '{}' sync mode",
                        sync.name()
                    ),
                ));
            }
            if mode.is_some() {
                return Err(invalid(
                    "bitmap_mode",
                    "Cannot specify bitmap sync mode without a bitmap",
                ));
            }
            return Ok((sync, None));
        };
        let bm = bitmaps::named(d, device, name)
            .or_else(|| Ref::parse(name).filter(|r| bitmaps::of(d, device).contains(r)))
            .ok_or_else(|| invalid("bitmap", name))?;
        let (sync, mode) = match (sync, mode) {
            (SyncMode::Incremental, None | Some(BitmapMode::OnSuccess)) => {
                (SyncMode::Bitmap, BitmapMode::OnSuccess)
            }
            (SyncMode::Incremental, Some(_)) => {
                return Err(invalid(
                    "bitmap_mode",
                    "Bitmap sync mode must be 'on-success' when using sync mode 'incremental'",
                ))
            }
            (SyncMode::None, _) => {
                return Err(invalid(
                    "sync",
                    "sync mode 'none' does not produce meaningful bitmap outputs",
                ))
            }
            (_, None) => {
                return Err(invalid(
                    "bitmap_mode",
                    "Bitmap sync mode must be given when providing a bitmap",
                ))
            }
            (SyncMode::Full | SyncMode::Top, Some(BitmapMode::Never)) => {
                return Err(invalid(
                    "bitmap_mode",
                    format_args!(
                        "Bitmap sync mode 'never' has no meaningful effect when combined with sync '{}'",
                        sync.name()
                    ),
                ))
            }
            (s, Some(m)) => (s, m),
        };
        Ok((sync, Some((bm, mode))))
    }

    fn u64(&self, k: &str, default: u64) -> ApiResult<u64> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| invalid(k, v)),
        }
    }

    /// The options every job takes.
    fn common(&self, device: Ref, target: Ref, kind: JobKind) -> ApiResult<Spec> {
        Ok(Spec {
            kind,
            device,
            target,
            job_id: self.get("job_id").map(str::to_owned),
            speed: self.u64("speed", 0)?,
            auto_finalize: self.bool("auto_finalize", true)?,
            auto_dismiss: self.bool("auto_dismiss", true)?,
            ..Spec::default()
        })
    }
}

const COMMON: &[&str] = &["job_id", "speed", "auto_finalize", "auto_dismiss"];

/// A backup's own options.
const BACKUP: &[&str] = &[
    "sync",
    "on_source_error",
    "on_target_error",
    "bitmap",
    "bitmap_mode",
];

fn keys(extra: &[&'static str]) -> Vec<&'static str> {
    COMMON.iter().chain(extra).copied().collect()
}

async fn run(cx: &Ctx, mut spec: Spec) -> ApiResult<Value> {
    spec.owner = cx.identity.sid.clone();
    let job = start(cx.jobs(), spec).await?;
    Ok(Value::Ref(job.r))
}

/// `block_job.backup(device, target, options)`.
pub async fn backup(cx: Ctx, a: BlockJobBackup) -> ApiResult<Value> {
    let BlockJobBackup {
        device,
        target,
        options,
    } = a;
    let o = Options::new(&options, &keys(BACKUP))?;
    let (sync, bitmap) = o.bitmap(cx.domain(), device, o.sync()?)?;
    let mut spec = o.common(device, target, JobKind::Backup { sync })?;
    spec.bitmap = bitmap;
    spec.on_source_error = o.policy("on_source_error")?;
    spec.on_target_error = o.policy("on_target_error")?;
    run(&cx, spec).await
}

/// `block_job.mirror(device, target, options)`.
pub async fn mirror(cx: Ctx, a: BlockJobMirror) -> ApiResult<Value> {
    let BlockJobMirror {
        device,
        target,
        options,
    } = a;
    let allowed = keys(&["sync", "on_source_error", "on_target_error", "granularity"]);
    let o = Options::new(&options, &allowed)?;
    let sync = o.sync()?;
    if matches!(sync, SyncMode::Bitmap | SyncMode::Incremental) {
        return Err(invalid("sync", sync.name()));
    }
    let kind = JobKind::Mirror {
        sync,
        granularity: o.u64("granularity", 64 << 10)?,
    };
    let mut spec = o.common(device, target, kind)?;
    spec.on_source_error = o.policy("on_source_error")?;
    spec.on_target_error = o.policy("on_target_error")?;
    run(&cx, spec).await
}

/// `block_job.stream(device, options)`.
pub async fn stream(cx: Ctx, a: BlockJobStream) -> ApiResult<Value> {
    let BlockJobStream { device, options } = a;
    let allowed = keys(&["base", "on_error"]);
    let o = Options::new(&options, &allowed)?;
    let base = match o.get("base") {
        Some(b) if !b.is_empty() => vdi_option(cx.domain(), "base", b)?,
        _ => Ref::NULL,
    };
    let mut spec = o.common(device, base, JobKind::Stream { base })?;
    spec.on_source_error = o.policy("on_error")?;
    spec.on_target_error = spec.on_source_error;
    run(&cx, spec).await
}

/// `block_job.commit(device, options)`.
pub async fn commit(cx: Ctx, a: BlockJobCommit) -> ApiResult<Value> {
    let BlockJobCommit { device, options } = a;
    let allowed = keys(&["top", "base", "on_error"]);
    let o = Options::new(&options, &allowed)?;
    let pick = |k: &str| -> ApiResult<Ref> {
        match o.get(k) {
            Some(b) if !b.is_empty() => vdi_option(cx.domain(), k, b),
            _ => Ok(Ref::NULL),
        }
    };
    let (top, base) = (pick("top")?, pick("base")?);
    let top = if top == device { Ref::NULL } else { top };
    let mut spec = o.common(device, base, JobKind::Commit { top, base })?;
    if top.is_null() {
        spec.kind = JobKind::Commit { top: device, base };
    }
    spec.on_source_error = o.policy("on_error")?;
    spec.on_target_error = spec.on_source_error;
    run(&cx, spec).await
}

/// A verb on a job that no longer runs (concluded before a restart).
fn stale(d: &Domain, r: Ref, verb: &str) -> ApiError {
    let read = d.registry.read_or(block_job::CLASS, r, |row| {
        (
            row.fields.field(block_job::JOB_ID),
            row.fields.field(block_job::STATUS),
        )
    });
    match read {
        Ok((id, status)) => ApiError::not_allowed(format!(
            "Job '{id}' in state '{status}' cannot accept command verb '{verb}'"
        )),
        Err(e) => e,
    }
}

/// Runs QEMU's `verb` on the job `r` with `act`.
async fn verb(
    cx: &Ctx,
    r: Ref,
    verb: &str,
    act: impl FnOnce(&Job) -> ApiResult<()>,
) -> ApiResult<Value> {
    let job = match cx.jobs().get(r) {
        Ok(j) => j,
        Err(_) => {
            if verb == "dismiss" || verb == "cancel" {
                recover::dismiss_stale(cx.jobs(), r).await?;
                return Ok(Value::void());
            }
            return Err(stale(cx.domain(), r, verb));
        }
    };
    // Dismissing (also by cancelling a concluded job) is synchronous: the
    // object is gone when the call returns.
    let dismissing = verb == "dismiss" || (verb == "cancel" && job.is_concluded());
    act(&job)?;
    if dismissing {
        job.wait_removed().await;
    }
    Ok(Value::void())
}

/// `block_job.pause(job)`.
pub async fn pause(cx: Ctx, a: BlockJobPause) -> ApiResult<Value> {
    let BlockJobPause { job } = a;
    verb(&cx, job, "pause", Job::pause).await
}

/// `block_job.resume(job)`.
pub async fn resume(cx: Ctx, a: BlockJobResume) -> ApiResult<Value> {
    let BlockJobResume { job } = a;
    verb(&cx, job, "resume", Job::resume).await
}

/// `block_job.cancel(job [, force])`.
pub async fn cancel(cx: Ctx, a: BlockJobCancel) -> ApiResult<Value> {
    let BlockJobCancel { job, force } = a;
    let force = force.unwrap_or(false);
    verb(&cx, job, "cancel", |j| j.cancel(force)).await
}

/// `block_job.set_speed(job, speed)`.
pub async fn set_speed(cx: Ctx, a: BlockJobSetSpeed) -> ApiResult<Value> {
    let BlockJobSetSpeed { job, speed } = a;
    verb(&cx, job, "set-speed", |j| j.set_speed(speed)).await
}

/// `block_job.complete(job)`.
pub async fn complete(cx: Ctx, a: BlockJobComplete) -> ApiResult<Value> {
    let BlockJobComplete { job } = a;
    verb(&cx, job, "complete", Job::complete).await
}

/// `block_job.finalize(job)`.
pub async fn finalize(cx: Ctx, a: BlockJobFinalize) -> ApiResult<Value> {
    let BlockJobFinalize { job } = a;
    verb(&cx, job, "finalize", Job::finalize).await
}

/// `block_job.dismiss(job)`.
pub async fn dismiss(cx: Ctx, a: BlockJobDismiss) -> ApiResult<Value> {
    let BlockJobDismiss { job } = a;
    verb(&cx, job, "dismiss", Job::dismiss).await
}

/// A bitmap action of a transaction: `{type, device, name[, options |
/// sources]}` (`sources`: names of `device`'s bitmaps).
fn bitmap_step(ty: &str, act: &Value, device: Ref) -> ApiResult<bitmaps::Step> {
    let kind = match ty {
        "bitmap_add" => "add",
        "bitmap_clear" => "clear",
        "bitmap_enable" => "enable",
        "bitmap_disable" => "disable",
        _ => "merge",
    };
    let sources = if kind == "merge" {
        match act.member("sources") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid("sources", "a list of bitmap names"))
                })
                .collect::<ApiResult<Vec<String>>>()?,
            _ => return Err(invalid("sources", "a list of bitmap names")),
        }
    } else {
        Vec::new()
    };
    Ok(bitmaps::Step {
        kind,
        vdi: device,
        name: member_str(act, "name").to_owned(),
        options: act
            .member("options")
            .map(Map::<String>::from_value)
            .unwrap_or_default(),
        sources,
    })
}

fn member_str<'a>(v: &'a Value, k: &str) -> &'a str {
    v.member(k).and_then(Value::as_str).unwrap_or("")
}

/// `block_job.transaction(actions, completion_mode)`.
pub async fn transaction(cx: Ctx, a: BlockJobTransaction) -> ApiResult<Value> {
    let BlockJobTransaction {
        actions: list,
        completion_mode,
    } = a;
    let s = cx.domain().clone();
    let grouped = match completion_mode.as_str() {
        "individual" | "" => false,
        "grouped" => true,
        other => return Err(invalid("completion_mode", other)),
    };
    let allowed = keys(BACKUP);
    let mut actions = Vec::new();
    // Everything is checked before anything is done.
    for act in &list {
        let ty = member_str(act, "type");
        if grouped && ty != "backup" {
            return Err(ApiError::not_allowed(format!(
                "Action '{ty}' does not support transaction property completion-mode = grouped"
            )));
        }
        let vdi = |k: &str| vdi_option(&s, k, member_str(act, k));
        match ty {
            "abort" => {}
            "snapshot" => actions.push(Action::Snapshot(vdi("device")?)),
            "bitmap_add" | "bitmap_clear" | "bitmap_enable" | "bitmap_disable" | "bitmap_merge" => {
                actions.push(Action::Bitmap(bitmap_step(ty, act, vdi("device")?)?));
            }
            "backup" => {
                // Options that are not a struct read as none.
                let options = act
                    .member("options")
                    .map(Map::<String>::from_value)
                    .unwrap_or_default();
                let o = Options::new(&options, &allowed)?;
                let device = vdi("device")?;
                let (sync, bitmap) = o.bitmap(&s, device, o.sync()?)?;
                let mut spec = o.common(device, vdi("target")?, JobKind::Backup { sync })?;
                spec.bitmap = bitmap;
                spec.on_source_error = o.policy("on_source_error")?;
                spec.on_target_error = o.policy("on_target_error")?;
                actions.push(Action::Backup(Box::new(spec)));
            }
            other => return Err(invalid("type", other)),
        }
    }
    if list.iter().any(|act| member_str(act, "type") == "abort") {
        return Err(ApiError::not_allowed(
            "Transaction aborted using Abort action",
        ));
    }
    let jobs = txn::run(cx.jobs(), actions, grouped, cx.owner()).await?;
    Ok(Value::Array(jobs.iter().map(|j| Value::Ref(j.r)).collect()))
}
