//! `task`: the messages of the class, the life of tasks the server runs
//! (`Async.` calls now, block jobs later), completion, ETA upkeep, restart
//! recovery and retention.

use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::eta::Eta;
use super::implicit::durable;
use super::{ApiError, ApiResult, Args, BoxFuture, Ctx, Handler, Server};
use crate::registry::Write;
use crate::wire::{xmlrpc, DateTime, Ref, Value};

const PENDING: &str = "pending";

/// Runtime state of tasks that is not part of their record.
#[derive(Default)]
pub struct Tasks {
    eta: DashMap<Ref, Eta>,
    cancel: DashMap<Ref, CancellationToken>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

fn is_pending(f: &[Value], status: usize) -> bool {
    f[status].as_str() == Some(PENDING)
}

/// A fresh pending task row.
fn new_row(
    server: &Server,
    label: &str,
    description: &str,
    subtask_of: Option<Ref>,
    managed: bool,
) -> Box<[Value]> {
    let t = &server.ids.task;
    let mut f = server.model.default_row(t.class);
    f[t.uuid] = Value::from(Uuid::new_v4().to_string());
    f[t.name_label] = Value::from(label);
    f[t.name_description] = Value::from(description);
    f[t.created] = Value::DateTime(DateTime::now());
    f[t.status] = Value::from(PENDING);
    f[t.resident_on] = Value::Ref(server.host);
    f[t.managed] = Value::Bool(managed);
    if let Some(parent) = subtask_of.filter(|p| server.registry.exists(t.class, *p)) {
        f[t.subtask_of] = Value::Ref(parent);
    }
    f
}

/// Inserts a task durably and links it to its parent.
async fn insert(server: &Server, f: Box<[Value]>) -> ApiResult<Ref> {
    let t = &server.ids.task;
    let parent = match f[t.subtask_of] {
        Value::Ref(p) if !p.is_null() => Some(p),
        _ => None,
    };
    let r = Ref::new();
    let commit = server.registry.insert(t.class, r, f);
    commit.wait().await.map_err(ApiError::internal)?;
    if let Some(p) = parent {
        if let Ok(((), c)) = server.registry.update(t.class, p, Write::Durable, |pf| {
            if let Value::Array(subs) = &mut pf[t.subtasks] {
                subs.push(Value::Ref(r));
            }
            Ok(())
        }) {
            c.wait().await.map_err(ApiError::internal)?;
        }
    }
    Ok(r)
}

/// Deletes a task and unlinks it from its parent.
async fn remove(server: &Server, r: Ref) -> ApiResult<()> {
    let t = &server.ids.task;
    server.tasks.eta.remove(&r);
    server.tasks.cancel.remove(&r);
    let Some((row, commit)) = server.registry.remove(t.class, r) else {
        return Ok(());
    };
    commit.wait().await.map_err(ApiError::internal)?;
    if let Value::Ref(p) = row.fields[t.subtask_of] {
        if let Ok(((), c)) = server.registry.update(t.class, p, Write::Durable, |pf| {
            if let Value::Array(subs) = &mut pf[t.subtasks] {
                subs.retain(|x| *x != Value::Ref(r));
            }
            Ok(())
        }) {
            c.wait().await.map_err(ApiError::internal)?;
        }
    }
    Ok(())
}

/// Creates a task the server runs (an `Async.` call, a job): durable before
/// it is returned, so a restart knows it was running.
pub async fn create_managed(
    server: &Server,
    label: &str,
    subtask_of: Option<Ref>,
) -> ApiResult<Ref> {
    insert(server, new_row(server, label, "", subtask_of, true)).await
}

/// Marks a server-run task cancellable: `allowed_operations = [cancel]`,
/// and `task.cancel` fires the returned token.
pub fn make_cancellable(server: &Server, r: Ref) -> CancellationToken {
    let t = &server.ids.task;
    let token = server.shutdown.child_token();
    server.tasks.cancel.insert(r, token.clone());
    let _ = server.registry.update(t.class, r, Write::Volatile, |f| {
        f[t.allowed_operations] = Value::Array(vec![Value::from("cancel")]);
        Ok(())
    });
    token
}

/// Fires the cancellation of a task the server runs (as `task.cancel`
/// would, without the record keeping); false if it is not cancellable.
pub fn cancel_now(server: &Server, r: Ref) -> bool {
    match server.tasks.cancel.get(&r) {
        Some(t) => {
            t.cancel();
            true
        }
        None => false,
    }
}

/// Runs an explicit message as an `Async.` call: the task exists (durably)
/// before this returns; the work goes on in the background.
pub async fn spawn_async(
    mut cx: Ctx,
    label: String,
    handler: Handler,
    args: Args,
) -> ApiResult<Ref> {
    let server = cx.server.clone();
    let r = create_managed(&server, &label, cx.subtask_of).await?;
    cx.task = Some(r);
    let tracker = server.tracker.clone();
    tracker.spawn(async move {
        let out = handler(cx, args).await;
        finish(&server, r, out).await;
    });
    Ok(r)
}

/// Completes a task once (later calls do nothing): success with the XML-RPC
/// fragment of the result, or failure/cancelled with the error.
pub async fn finish(server: &Server, r: Ref, out: ApiResult<Value>) {
    let t = &server.ids.task;
    server.tasks.eta.remove(&r);
    server.tasks.cancel.remove(&r);
    let now = Value::DateTime(DateTime::now());
    let updated = server.registry.update(t.class, r, Write::Durable, |f| {
        if !is_pending(f, t.status) {
            return Err(ApiError::not_allowed("already finished"));
        }
        match &out {
            Ok(v) => {
                let mut frag = Vec::new();
                xmlrpc::encode_value(v, &mut frag);
                f[t.result] = Value::from(String::from_utf8(frag).unwrap_or_default());
                f[t.status] = Value::from("success");
            }
            Err(e) => {
                f[t.error_info] = Value::Array(e.to_vec().into_iter().map(Value::from).collect());
                f[t.status] = Value::from(if e.code == "TASK_CANCELLED" {
                    "cancelled"
                } else {
                    "failure"
                });
            }
        }
        finished(f, t, now);
        Ok(destroy_requested(f, t))
    });
    if let Ok((destroy, commit)) = updated {
        if let Err(e) = commit.wait().await {
            tracing::error!(error = %e, task = %r, "could not persist a finished task");
        }
        if destroy {
            let _ = remove(server, r).await;
        }
    }
}

fn finished(f: &mut [Value], t: &super::ids::TaskIds, now: Value) {
    f[t.progress] = Value::Double(1.0);
    f[t.finished] = now.clone();
    f[t.eta] = now;
    f[t.allowed_operations] = Value::Array(Vec::new());
}

fn destroy_requested(f: &[Value], t: &super::ids::TaskIds) -> bool {
    matches!(&f[t.current_operations], Value::Struct(m) if m.iter().any(|(_, v)| v.as_str() == Some("destroy")))
}

/// Moves a running task's progress (memory only: the hot path of jobs) and
/// re-estimates its ETA. Progress never decreases.
pub fn set_progress_volatile(server: &Server, r: Ref, progress: f64) {
    let _ = update_progress(server, r, progress, Write::Volatile);
}

fn update_progress(
    server: &Server,
    r: Ref,
    progress: f64,
    write: Write,
) -> ApiResult<crate::registry::Commit> {
    let t = &server.ids.task;
    let now = Instant::now();
    let (_, commit) = server.registry.update(t.class, r, write, |f| {
        if !is_pending(f, t.status) {
            return Ok(());
        }
        let old = match f[t.progress] {
            Value::Double(d) => d,
            _ => 0.0,
        };
        let p = progress.clamp(0.0, 1.0).max(old);
        f[t.progress] = Value::Double(p);
        let left = match server.tasks.eta.entry(r) {
            dashmap::Entry::Occupied(mut e) => e.get_mut().observe(now, p),
            dashmap::Entry::Vacant(e) => {
                // The first observation is the task's creation at 0.
                let created = match f[t.created] {
                    Value::DateTime(d) => d.0,
                    _ => DateTime::now().0,
                };
                let age = (DateTime::now().0 - created).max(0) as u64;
                let start = now
                    .checked_sub(std::time::Duration::from_secs(age))
                    .unwrap_or(now);
                let mut eta = Eta::new(start, 0.0);
                let left = eta.observe(now, p);
                e.insert(eta);
                left
            }
        };
        if let Some(left) = left {
            f[t.eta] = Value::DateTime(DateTime(DateTime::now().0 + left.round() as i64));
        }
        Ok(())
    })?;
    Ok(commit)
}

/// The client-facing guard: only tasks a client created can be driven
/// through the setters.
fn client_task(server: &Server, r: Ref) -> ApiResult<()> {
    let t = &server.ids.task;
    let managed = server
        .registry
        .read_or(t.class, r, |row| row.fields[t.managed] == Value::Bool(true))?;
    if managed {
        return Err(ApiError::not_allowed(
            "this task is run by the server: only tasks created with task.create can be set",
        ));
    }
    Ok(())
}

/// `task.create(label, description)`.
pub fn create(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let row = new_row(s, a.str(0), a.str(1), cx.subtask_of, false);
        insert(s, row).await.map(Value::Ref)
    })
}

/// `task.destroy(self)`.
pub fn destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let t = &s.ids.task;
        let r = a.r(0);
        let (pending, commit) = s.registry.update(t.class, r, Write::Durable, |f| {
            if !is_pending(f, t.status) {
                return Ok(false);
            }
            if let Value::Struct(m) = &mut f[t.current_operations] {
                m.retain(|(k, _)| k != "task");
                m.push(("task".into(), Value::from("destroy")));
            }
            Ok(true)
        })?;
        commit.wait().await.map_err(ApiError::internal)?;
        if !pending {
            remove(s, r).await?;
        }
        Ok(Value::void())
    })
}

/// `task.cancel(task)`.
pub fn cancel(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let t = &s.ids.task;
        let r = a.r(0);
        let caller = cx.task.unwrap_or(cx.session).to_string();
        let (cancellable, commit) = s.registry.update(t.class, r, Write::Durable, |f| {
            if !is_pending(f, t.status) {
                return Ok(None);
            }
            let managed = f[t.managed] == Value::Bool(true);
            let allowed = matches!(&f[t.allowed_operations], Value::Array(a) if a.contains(&Value::from("cancel")));
            if managed && !allowed {
                return Err(ApiError::not_allowed("this task cannot be cancelled"));
            }
            if let Value::Struct(m) = &mut f[t.current_operations] {
                m.retain(|(_, v)| v.as_str() != Some("cancel"));
                m.push((caller, Value::from("cancel")));
            }
            Ok(Some(managed))
        })?;
        commit.wait().await.map_err(ApiError::internal)?;
        if cancellable == Some(true) {
            if let Some(token) = s.tasks.cancel.get(&r) {
                token.cancel();
            }
        }
        Ok(Value::void())
    })
}

/// `task.set_status(self, value)`.
pub fn set_status(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let t = &s.ids.task;
        let r = a.r(0);
        client_task(s, r)?;
        let status = a.take(1);
        let final_status =
            status.as_str() != Some(PENDING) && status.as_str() != Some("cancelling");
        let now = Value::DateTime(DateTime::now());
        let (destroy, commit) = s.registry.update(t.class, r, Write::Durable, |f| {
            let st = f[t.status].as_str().unwrap_or("");
            if st != PENDING && st != "cancelling" {
                return Err(ApiError::not_allowed("the task has already finished"));
            }
            f[t.status] = status;
            if final_status {
                finished(f, t, now);
                return Ok(destroy_requested(f, t));
            }
            Ok(false)
        })?;
        commit.wait().await.map_err(ApiError::internal)?;
        if final_status {
            s.tasks.eta.remove(&r);
        }
        if destroy {
            remove(s, r).await?;
        }
        Ok(Value::void())
    })
}

/// `task.set_progress(self, value)`.
pub fn set_progress(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let r = a.r(0);
        client_task(s, r)?;
        let p = a.f64(1);
        if !(0.0..=1.0).contains(&p) {
            return Err(ApiError::new(
                "INVALID_VALUE",
                ["value".to_string(), p.to_string()],
            ));
        }
        durable(update_progress(s, r, p, Write::Durable)?).await
    })
}

/// `task.set_result(self, value)`.
pub fn set_result(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let field = cx.server.ids.task.result;
        set_client_field(&cx, a, field).await
    })
}

/// `task.set_error_info(self, value)`.
pub fn set_error_info(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let field = cx.server.ids.task.error_info;
        set_client_field(&cx, a, field).await
    })
}

/// Sets one field of a task a client drives, durably.
async fn set_client_field(cx: &Ctx, mut a: Args, field: usize) -> ApiResult<Value> {
    let s = &cx.server;
    let r = a.r(0);
    client_task(s, r)?;
    let v = a.take(1);
    let ((), commit) = s
        .registry
        .update(s.ids.task.class, r, Write::Durable, |f| {
            f[field] = v;
            Ok(())
        })?;
    durable(commit).await
}

/// After a restart: every task the server was running when it stopped ends
/// `failure` with `TASK_INTERRUPTED`; tasks clients drive stay as they were.
pub async fn recover_after_restart(server: &Arc<Server>) -> anyhow::Result<()> {
    let t = &server.ids.task;
    let mut interrupted = Vec::new();
    server.registry.for_each(t.class, |r, row| {
        if is_pending(&row.fields, t.status) && row.fields[t.managed] == Value::Bool(true) {
            interrupted.push(r);
        }
    });
    for r in interrupted {
        tracing::warn!(task = %r, "task was running when the server stopped: marking it failed");
        let err = ApiError::new(
            "TASK_INTERRUPTED",
            [
                r.to_string(),
                "the server stopped while the task was running".to_string(),
            ],
        );
        finish(server, r, Err(err)).await;
    }
    Ok(())
}

/// Deletes finished tasks older than the retention time.
pub async fn gc(server: &Server) {
    let t = &server.ids.task;
    let horizon = DateTime::now().0 - server.config.task_retention.as_secs() as i64;
    let mut old = Vec::new();
    server.registry.for_each(t.class, |r, row| {
        if !is_pending(&row.fields, t.status) {
            if let Value::DateTime(d) = row.fields[t.finished] {
                if d.0 <= horizon {
                    old.push(r);
                }
            }
        }
    });
    for r in old {
        if let Err(e) = remove(server, r).await {
            tracing::warn!(error = %e, "task collection failed");
        }
    }
}
