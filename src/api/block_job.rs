//! `block_job`: starting jobs (options parsed here), QEMU's verbs, and
//! transactions. The engine is in [`crate::jobs`].

use super::{ApiError, ApiResult, Args, BoxFuture, Ctx};
use crate::domain::{invalid, Domain};
use crate::jobs::start::{start, vdi_option};
use crate::jobs::txn::{self, Action};
use crate::jobs::{recover, JobKind, Policy, Spec, SyncMode};
use crate::wire::{Ref, Value};

/// The options of one start message: `(key, value)` pairs, unknown keys
/// refused.
struct Options<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Options<'a> {
    fn new(v: &'a Value, allowed: &[&str]) -> ApiResult<Options<'a>> {
        let mut pairs = Vec::new();
        if let Value::Struct(kv) = v {
            for (k, val) in kv {
                if !allowed.contains(&k.as_str()) {
                    return Err(invalid("options", k));
                }
                pairs.push((k.as_str(), val.as_str().unwrap_or("")));
            }
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

fn keys(extra: &[&'static str]) -> Vec<&'static str> {
    COMMON.iter().chain(extra).copied().collect()
}

async fn run(cx: &Ctx, spec: Spec) -> ApiResult<Value> {
    let job = start(cx.jobs(), spec).await?;
    Ok(Value::Ref(job.r))
}

/// `block_job.backup(device, target, options)`.
pub fn backup(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let allowed = keys(&["sync", "on_source_error", "on_target_error"]);
        let o = Options::new(&a.0[2], &allowed)?;
        let mut spec = o.common(a.r(0), a.r(1), JobKind::Backup { sync: o.sync()? })?;
        spec.on_source_error = o.policy("on_source_error")?;
        spec.on_target_error = o.policy("on_target_error")?;
        run(&cx, spec).await
    })
}

/// `block_job.mirror(device, target, options)`.
pub fn mirror(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let allowed = keys(&["sync", "on_source_error", "on_target_error", "granularity"]);
        let o = Options::new(&a.0[2], &allowed)?;
        let kind = JobKind::Mirror {
            sync: o.sync()?,
            granularity: o.u64("granularity", 64 << 10)?,
        };
        let mut spec = o.common(a.r(0), a.r(1), kind)?;
        spec.on_source_error = o.policy("on_source_error")?;
        spec.on_target_error = o.policy("on_target_error")?;
        run(&cx, spec).await
    })
}

/// `block_job.stream(device, options)`.
pub fn stream(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let allowed = keys(&["base", "on_error"]);
        let o = Options::new(&a.0[1], &allowed)?;
        let base = match o.get("base") {
            Some(b) if !b.is_empty() => vdi_option(cx.domain(), "base", b)?,
            _ => Ref::NULL,
        };
        let mut spec = o.common(a.r(0), base, JobKind::Stream { base })?;
        spec.on_source_error = o.policy("on_error")?;
        spec.on_target_error = spec.on_source_error;
        run(&cx, spec).await
    })
}

/// `block_job.commit(device, options)`.
pub fn commit(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let allowed = keys(&["top", "base", "on_error"]);
        let o = Options::new(&a.0[1], &allowed)?;
        let pick = |k: &str| -> ApiResult<Ref> {
            match o.get(k) {
                Some(b) if !b.is_empty() => vdi_option(cx.domain(), k, b),
                _ => Ok(Ref::NULL),
            }
        };
        let (top, base) = (pick("top")?, pick("base")?);
        let device = a.r(0);
        let top = if top == device { Ref::NULL } else { top };
        let mut spec = o.common(device, base, JobKind::Commit { top, base })?;
        if top.is_null() {
            spec.kind = JobKind::Commit { top: device, base };
        }
        spec.on_source_error = o.policy("on_error")?;
        spec.on_target_error = spec.on_source_error;
        run(&cx, spec).await
    })
}

/// A verb on a job that no longer runs (concluded before a restart).
fn stale(server: &Domain, r: Ref, verb: &str) -> ApiError {
    let j = &server.ids.job;
    let id = server.registry.field(j.class, r, j.job_id);
    let status = server.registry.field(j.class, r, j.status);
    match (id, status) {
        (Ok(id), Ok(st)) => ApiError::not_allowed(format!(
            "Job '{}' in state '{}' cannot accept command verb '{verb}'",
            id.as_str().unwrap_or(""),
            st.as_str().unwrap_or("")
        )),
        _ => ApiError::handle_invalid("block_job", r),
    }
}

macro_rules! verb {
    ($(#[$doc:meta])* $name:ident, $verb:literal, |$job:ident, $a:ident| $body:expr) => {
        $(#[$doc])*
        pub fn $name(cx: Ctx, $a: Args) -> BoxFuture<ApiResult<Value>> {
            Box::pin(async move {
                let r = $a.r(0);
                let $job = match cx.jobs().get(r) {
                    Ok(j) => j,
                    Err(_) => {
                        if $verb == "dismiss" || $verb == "cancel" {
                            recover::dismiss_stale(cx.jobs(), r).await?;
                            return Ok(Value::void());
                        }
                        return Err(stale(cx.domain(), r, $verb));
                    }
                };
                // Dismissing (also by cancelling a concluded job) is
                // synchronous: the object is gone when the call returns.
                let dismissing = $verb == "dismiss" || ($verb == "cancel" && $job.is_concluded());
                $body?;
                if dismissing {
                    $job.wait_removed().await;
                }
                Ok(Value::void())
            })
        }
    };
}

verb!(
    /// `block_job.pause(job)`.
    pause, "pause", |job, a| job.pause()
);
verb!(
    /// `block_job.resume(job)`.
    resume, "resume", |job, a| job.resume()
);
verb!(
    /// `block_job.cancel(job, force)`.
    cancel, "cancel", |job, a| job.cancel(a.bool(1))
);
verb!(
    /// `block_job.set_speed(job, speed)`.
    set_speed, "set-speed", |job, a| job.set_speed(a.i64(1))
);
verb!(
    /// `block_job.complete(job)`.
    complete, "complete", |job, a| job.complete()
);
verb!(
    /// `block_job.finalize(job)`.
    finalize, "finalize", |job, a| job.finalize()
);
verb!(
    /// `block_job.dismiss(job)`.
    dismiss, "dismiss", |job, a| job.dismiss()
);

fn member_str<'a>(v: &'a Value, k: &str) -> &'a str {
    v.member(k).and_then(Value::as_str).unwrap_or("")
}

/// `block_job.transaction(actions, completion_mode)`.
pub fn transaction(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = cx.domain().clone();
        let mode = a.str(1).to_string();
        let grouped = match mode.as_str() {
            "individual" | "" => false,
            "grouped" => true,
            other => return Err(invalid("completion_mode", other)),
        };
        let Value::Array(list) = a.take(0) else {
            return Err(invalid("actions", "not an array"));
        };
        let allowed = keys(&["sync", "on_source_error", "on_target_error"]);
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
                "backup" => {
                    let empty = Value::Struct(Vec::new());
                    let o = Options::new(act.member("options").unwrap_or(&empty), &allowed)?;
                    let mut spec = o.common(
                        vdi("device")?,
                        vdi("target")?,
                        JobKind::Backup { sync: o.sync()? },
                    )?;
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
    })
}
