//! Tasks: the life of tasks the server runs (`Async.` calls, block jobs,
//! imports and exports) and of tasks clients drive (`task.create`):
//! creation, progress and ETA upkeep, cancellation, completion, restart
//! recovery and retention.
//!
//! A task can carry *commits on success*: rows a call made that must only
//! count once the task that made them has succeeded (the new VDI of an
//! `Async.VDI.copy`, the new VM of a `VM.copy`). They stay marked as
//! `building` until [`finish`] has durably written the success; a restart
//! in between commits them if the task is recorded as a success and deletes
//! them otherwise (see `vdis::recover_after_restart`). So a client never
//! finds its task `TASK_INTERRUPTED` while the copy it asked for survives.

use std::time::Instant;

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::eta::Eta;
use super::sessions::Identity;
use super::task_objects;
use super::{durable, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::field::Field;
use crate::model::schema::{codes, task, TaskAllowedOperations, TaskStatusType};
use crate::model::{ClassId, FieldValue, RowExt};
use crate::registry::{Commit, Write};
use crate::storage::crash;
use crate::wire::{xmlrpc, DateTime, Ref, Value};

/// Runtime state of tasks that is not part of their record.
#[derive(Default)]
pub struct Tasks {
    eta: DashMap<Ref, Eta>,
    cancel: DashMap<Ref, CancellationToken>,
    /// Rows (class, ref) whose `building` mark is cleared once the task
    /// has succeeded.
    commits: DashMap<Ref, Vec<(ClassId, Ref)>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

fn is_pending(f: &[Value]) -> bool {
    f.field(task::STATUS) == TaskStatusType::Pending
}

/// Whether the task exists and has finished with `success`.
pub fn succeeded(d: &Domain, r: Ref) -> bool {
    d.registry.get_field(task::STATUS, r).ok() == Some(TaskStatusType::Success)
}

/// A fresh pending task row.
fn new_row(
    d: &Domain,
    label: &str,
    description: &str,
    subtask_of: Option<Ref>,
    managed: bool,
    owner: &str,
    objects: &[Ref],
) -> Box<[Value]> {
    let mut f = d.model.default_row(task::CLASS);
    f.set(task::UUID, Uuid::new_v4().to_string());
    f.set(task::NAME_LABEL, label);
    f.set(task::NAME_DESCRIPTION, description);
    f.set(task::CREATED, DateTime::now());
    f.set(task::STATUS, TaskStatusType::Pending);
    f.set(task::RESIDENT_ON, d.host);
    f.set(task::MANAGED, managed);
    f.set(task::OWNER, owner);
    f.set(
        task::OBJECTS,
        objects.iter().map(Ref::to_string).collect::<Vec<_>>(),
    );
    if let Some(parent) = subtask_of.filter(|p| d.registry.exists(task::CLASS, *p)) {
        f.set(task::SUBTASK_OF, parent);
        // A subtask belongs to whoever owns its parent.
        if let Ok(o) = d.registry.get_field(task::OWNER, parent) {
            f.set(task::OWNER, o);
        }
    }
    let user = task_objects::user_name(&f.field(task::OWNER));
    f.set(task::CREATED_BY, user);
    f
}

/// Inserts a task durably and links it to its parent.
async fn insert(d: &Domain, f: Box<[Value]>) -> ApiResult<Ref> {
    let parent = Some(f.field(task::SUBTASK_OF)).filter(|p| !p.is_null());
    let objects = task_objects::of_row(&f);
    let r = Ref::new();
    durable(d.registry.insert(task::CLASS, r, f)).await?;
    task_objects::link(d, r, &objects, true);
    if let Some(p) = parent {
        if let Ok(((), c)) = d.registry.update(task::CLASS, p, Write::Durable, |pf| {
            if let Value::Array(subs) = &mut pf[task::SUBTASKS] {
                subs.push(Value::Ref(r));
            }
            Ok(())
        }) {
            durable(c).await?;
        }
    }
    Ok(r)
}

/// Deletes a task and unlinks it from its parent.
async fn remove(d: &Domain, r: Ref) -> ApiResult<()> {
    d.tasks.eta.remove(&r);
    d.tasks.cancel.remove(&r);
    d.tasks.commits.remove(&r);
    let Some((row, commit)) = d.registry.remove(task::CLASS, r) else {
        return Ok(());
    };
    task_objects::link(d, r, &task_objects::of_row(&row.fields), false);
    durable(commit).await?;
    let parent = row.get(task::SUBTASK_OF);
    if !parent.is_null() {
        if let Ok(((), c)) = d
            .registry
            .update(task::CLASS, parent, Write::Durable, |pf| {
                if let Value::Array(subs) = &mut pf[task::SUBTASKS] {
                    subs.retain(|x| *x != Value::Ref(r));
                }
                Ok(())
            })
        {
            durable(c).await?;
        }
    }
    Ok(())
}

/// Creates a task the server runs (an `Async.` call, a job) for `owner`
/// (a subject identifier; a subtask belongs to its parent's owner), acting
/// on `objects` (those that are VDIs, VMs or SRs are kept): durable before
/// it is returned, so a restart knows it was running.
pub async fn create_managed(
    d: &Domain,
    label: &str,
    subtask_of: Option<Ref>,
    owner: &str,
    objects: &[Ref],
) -> ApiResult<Ref> {
    let objects = task_objects::acted_on(d, objects.iter().copied());
    insert(d, new_row(d, label, "", subtask_of, true, owner, &objects)).await
}

/// `task.create`: a task a client drives.
pub async fn create_client(
    d: &Domain,
    label: &str,
    description: &str,
    subtask_of: Option<Ref>,
    owner: &str,
) -> ApiResult<Ref> {
    insert(
        d,
        new_row(d, label, description, subtask_of, false, owner, &[]),
    )
    .await
}

/// Whether `who` may cancel, destroy or update a task: its owner may, and
/// so may holders of `task.destroy/any` (pool-operator and up), as xapi's
/// `TaskHelper.assert_op_valid`. A task that does not exist is left to the
/// operation to report.
pub fn assert_can_modify(d: &Domain, r: Ref, who: &Identity) -> ApiResult<()> {
    const ANY: &str = "task.destroy/any";
    let any = d.rbac.permission(ANY).map_or(0, |p| p.roles);
    if who.allows(any) {
        return Ok(());
    }
    match d.registry.get_field(task::OWNER, r) {
        Ok(owner) if owner != who.sid => Err(super::roles::denied(d, ANY, any)),
        _ => Ok(()),
    }
}

/// Whether the task is one the server runs.
pub fn is_managed(d: &Domain, r: Ref) -> bool {
    d.registry.get_field(task::MANAGED, r) == Ok(true)
}

/// Marks a server-run task cancellable: `allowed_operations = [cancel]`,
/// and `task.cancel` fires the returned token.
pub fn make_cancellable(d: &Domain, r: Ref) -> CancellationToken {
    let token = d.shutdown.child_token();
    d.tasks.cancel.insert(r, token.clone());
    // Volatile: a restart ends the task anyway.
    let _ = d.registry.update(task::CLASS, r, Write::Volatile, |f| {
        f.set(
            task::ALLOWED_OPERATIONS,
            vec![TaskAllowedOperations::Cancel],
        );
        Ok(())
    });
    token
}

/// Fires the cancellation of a task the server runs (as `task.cancel`
/// would, without the record keeping); false if it is not cancellable.
pub fn cancel_now(d: &Domain, r: Ref) -> bool {
    match d.tasks.cancel.get(&r) {
        Some(t) => {
            t.cancel();
            true
        }
        None => false,
    }
}

/// Registers a row (with a `building` field) made on behalf of task `r`:
/// its `building` mark is cleared once `r` has succeeded.
pub fn commit_on_success(d: &Domain, r: Ref, class: ClassId, row: Ref) {
    d.tasks.commits.entry(r).or_default().push((class, row));
}

/// Clears the `building` mark of a row: it is now whole.
pub async fn clear_building(d: &Domain, class: ClassId, r: Ref) -> ApiResult<()> {
    let building = d.model.field(class, "building");
    if let Ok(((), c)) = d.registry.update(class, r, Write::Durable, |f| {
        f[building] = Value::Ref(Ref::NULL);
        Ok(())
    }) {
        durable(c).await?;
    }
    Ok(())
}

/// Completes a task once (later calls do nothing): success with the XML-RPC
/// fragment of the result, or failure/cancelled with the error. On success
/// the rows the task made are committed, after the success is durable.
pub async fn finish(d: &Domain, r: Ref, out: ApiResult<Value>) {
    if out.is_ok() {
        crash::point("task.finishing");
    }
    d.tasks.eta.remove(&r);
    d.tasks.cancel.remove(&r);
    let commits = d.tasks.commits.remove(&r).map(|(_, v)| v);
    // The object a success names (the new VDI of a copy) is one the task
    // acted on too.
    let made = match &out {
        Ok(Value::Ref(x)) => task_objects::acted_on(d, [*x]),
        _ => Vec::new(),
    };
    let now = DateTime::now();
    let updated = d.registry.update(task::CLASS, r, Write::Durable, |f| {
        if !is_pending(f) {
            return Err(ApiError::not_allowed("already finished"));
        }
        match &out {
            Ok(v) => {
                let mut frag = Vec::new();
                xmlrpc::encode_value(v, &mut frag);
                f.set(task::RESULT, String::from_utf8(frag).unwrap_or_default());
                f.set(task::STATUS, TaskStatusType::Success);
            }
            Err(e) => {
                f.set(task::ERROR_INFO, e.to_vec());
                f.set(
                    task::STATUS,
                    if e.code == codes::TASK_CANCELLED {
                        TaskStatusType::Cancelled
                    } else {
                        TaskStatusType::Failure
                    },
                );
            }
        }
        finished(f, now);
        Ok((destroy_requested(f), task_objects::append(f, &made)))
    });
    let Ok(((destroy, made), commit)) = updated else {
        return;
    };
    task_objects::link(d, r, &made, true);
    if let Err(e) = commit.wait().await {
        // The rows stay marked as building: a restart deletes them, as it
        // must when the success was never recorded.
        tracing::error!(error = %e, task = %r, "could not persist a finished task");
        return;
    }
    if out.is_ok() {
        crash::point("task.success");
        for (class, row) in commits.unwrap_or_default() {
            if let Err(e) = clear_building(d, class, row).await {
                tracing::error!(error = %e, task = %r, "could not commit what a task made");
            }
        }
    }
    if destroy {
        if let Err(e) = remove(d, r).await {
            tracing::warn!(error = %e, task = %r, "could not remove a destroyed task");
        }
    }
}

fn finished(f: &mut [Value], now: DateTime) {
    f.set(task::PROGRESS, 1.0);
    f.set(task::FINISHED, now);
    f.set(task::ETA, now);
    f.set(
        task::ALLOWED_OPERATIONS,
        Vec::<TaskAllowedOperations>::new(),
    );
}

fn destroy_requested(f: &[Value]) -> bool {
    f.field(task::CURRENT_OPERATIONS)
        .iter()
        .any(|(_, op)| *op == TaskAllowedOperations::Destroy)
}

/// Moves a running task's progress (memory only: the hot path of jobs) and
/// re-estimates its ETA. Progress never decreases.
pub fn set_progress_volatile(d: &Domain, r: Ref, progress: f64) {
    // A task that is gone or finished has nothing to move.
    let _ = update_progress(d, r, progress, Write::Volatile);
}

/// The progress of a task (0 when it is gone).
pub fn progress(d: &Domain, r: Ref) -> f64 {
    d.registry.get_field(task::PROGRESS, r).unwrap_or(0.0)
}

fn update_progress(d: &Domain, r: Ref, progress: f64, write: Write) -> ApiResult<Commit> {
    let now = Instant::now();
    let (_, commit) = d.registry.update(task::CLASS, r, write, |f| {
        if !is_pending(f) {
            return Ok(());
        }
        let old = f.field(task::PROGRESS);
        let p = progress.clamp(0.0, 1.0).max(old);
        f.set(task::PROGRESS, p);
        let left = match d.tasks.eta.entry(r) {
            dashmap::Entry::Occupied(mut e) => e.get_mut().observe(now, p),
            dashmap::Entry::Vacant(e) => {
                // The first observation is the task's creation at 0.
                let created = f.field(task::CREATED).0;
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
            f.set(task::ETA, DateTime(DateTime::now().0 + left.round() as i64));
        }
        Ok(())
    })?;
    Ok(commit)
}

/// The client-facing guard: only tasks a client created can be driven
/// through the setters.
fn client_task(d: &Domain, r: Ref) -> ApiResult<()> {
    if d.registry.get_field(task::MANAGED, r)? {
        return Err(ApiError::not_allowed(
            "this task is run by the server: only tasks created with task.create can be set",
        ));
    }
    Ok(())
}

/// `task.destroy`: a finished task goes at once; a pending one is marked
/// and goes when it finishes (as xapi).
pub async fn destroy(d: &Domain, r: Ref) -> ApiResult<()> {
    let (pending, commit) = d.registry.update(task::CLASS, r, Write::Durable, |f| {
        if !is_pending(f) {
            return Ok(false);
        }
        let mut ops = f.field(task::CURRENT_OPERATIONS);
        // Removed first, so the mark goes last, as the newest operation.
        ops.remove("task");
        ops.insert("task", TaskAllowedOperations::Destroy);
        f.set(task::CURRENT_OPERATIONS, ops);
        Ok(true)
    })?;
    durable(commit).await?;
    if !pending {
        remove(d, r).await?;
    }
    Ok(())
}

/// `task.cancel` by `caller` (a task or session ref): recorded in
/// `current_operations`; a server-run task's cancellation fires.
pub async fn cancel(d: &Domain, r: Ref, caller: Ref) -> ApiResult<()> {
    let caller = caller.to_string();
    let (cancellable, commit) = d.registry.update(task::CLASS, r, Write::Durable, |f| {
        if !is_pending(f) {
            return Ok(None);
        }
        let managed = f.field(task::MANAGED);
        let allowed = f
            .field(task::ALLOWED_OPERATIONS)
            .contains(&TaskAllowedOperations::Cancel);
        if managed && !allowed {
            return Err(ApiError::not_allowed("this task cannot be cancelled"));
        }
        // The latest canceller replaces any earlier one.
        let mut ops = f.field(task::CURRENT_OPERATIONS);
        ops.0.retain(|(_, op)| *op != TaskAllowedOperations::Cancel);
        ops.0.push((caller, TaskAllowedOperations::Cancel));
        f.set(task::CURRENT_OPERATIONS, ops);
        Ok(Some(managed))
    })?;
    durable(commit).await?;
    if cancellable == Some(true) {
        cancel_now(d, r);
    }
    Ok(())
}

/// `task.set_status` of a client's task.
pub async fn set_status(d: &Domain, r: Ref, status: TaskStatusType) -> ApiResult<()> {
    use TaskStatusType::{Cancelling, Pending};
    client_task(d, r)?;
    let final_status = !matches!(status, Pending | Cancelling);
    let now = DateTime::now();
    let (destroy, commit) = d.registry.update(task::CLASS, r, Write::Durable, |f| {
        if !matches!(f.field(task::STATUS), Pending | Cancelling) {
            return Err(ApiError::not_allowed("the task has already finished"));
        }
        f.set(task::STATUS, status);
        if final_status {
            finished(f, now);
            return Ok(destroy_requested(f));
        }
        Ok(false)
    })?;
    durable(commit).await?;
    if final_status {
        d.tasks.eta.remove(&r);
    }
    if destroy {
        remove(d, r).await?;
    }
    Ok(())
}

/// `task.set_progress` of a client's task (durable).
pub async fn set_progress(d: &Domain, r: Ref, p: f64) -> ApiResult<()> {
    client_task(d, r)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(ApiError::invalid_value("value", p));
    }
    durable(update_progress(d, r, p, Write::Durable)?).await
}

/// Sets one field (`result`, `error_info`) of a task a client drives,
/// durably.
pub async fn set_client_field<T: FieldValue>(
    d: &Domain,
    r: Ref,
    field: Field<T>,
    v: T,
) -> ApiResult<()> {
    client_task(d, r)?;
    let ((), commit) = d.registry.update(task::CLASS, r, Write::Durable, |f| {
        f.set(field, v);
        Ok(())
    })?;
    durable(commit).await
}

/// Names a task's block job in its `other_config:block_job`.
pub async fn name_job(d: &Domain, r: Ref, job: Ref) -> ApiResult<()> {
    let ((), c) = d.registry.update(task::CLASS, r, Write::Durable, |f| {
        f[task::OTHER_CONFIG].map_set("block_job", Some(&job.to_string()));
        Ok(())
    })?;
    durable(c).await
}

/// After a restart: every task the server was running when it stopped ends
/// `failure` with `TASK_INTERRUPTED`; tasks clients drive stay as they were.
pub async fn recover_after_restart(d: &Domain) -> anyhow::Result<()> {
    let mut interrupted = Vec::new();
    d.registry.for_each(task::CLASS, |r, row| {
        if is_pending(&row.fields) && row.get(task::MANAGED) {
            interrupted.push(r);
        }
    });
    for r in interrupted {
        tracing::warn!(task = %r, "task was running when the server stopped: marking it failed");
        let err = ApiError::task_interrupted(r, "the server stopped while the task was running");
        finish(d, r, Err(err)).await;
    }
    task_objects::rebuild(d);
    Ok(())
}

/// Deletes finished tasks older than the retention time.
pub async fn gc(d: &Domain) {
    let horizon = DateTime::now().0 - d.config.task_retention.as_secs() as i64;
    let mut old = Vec::new();
    d.registry.for_each(task::CLASS, |r, row| {
        if !is_pending(&row.fields) && row.get(task::FINISHED).0 <= horizon {
            old.push(r);
        }
    });
    for r in old {
        if let Err(e) = remove(d, r).await {
            tracing::warn!(error = %e, "task collection failed");
        }
    }
}
