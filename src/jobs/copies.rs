//! Copies as jobs: `VDI.copy`/`VDI.clone` (a full backup job into a new
//! VDI) and `VM.copy`/`VM.clone` (one such copy per disk, each in a
//! subtask of the call's task, progress weighed by the disks' sizes, the
//! rest cancelled when one fails or the parent is cancelled).
//!
//! What a copy makes stays marked as `building` until it counts: for a call
//! with a task, until that task has succeeded (commits on success, see
//! `domain::tasks`); for a plain call, until the job has. A failure, a
//! cancel or a restart before then leaves nothing behind.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::options::{JobKind, Spec, SyncMode};
use super::start::start;
use super::table::Jobs;
use crate::domain::vdis::{self, NewVdi};
use crate::domain::{blocking, claims, durable, io_error, tasks, vms};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{self, codes, VbdType};
use crate::model::RowExt;
use crate::storage::crash;
use crate::storage::image::probe_known;
use crate::wire::{Ref, Value};

/// Who asks for a copy.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The ref operations are recorded under (the call's task, else its
    /// session).
    pub owner: Ref,
    /// The call's task, if any (the job reports through it, and its success
    /// commits what the copy made).
    pub task: Option<Ref>,
    /// The caller's subject identifier (`""` for root): tasks made for the
    /// call are theirs.
    pub sid: String,
}

/// A full copy of `vdi` as a new VDI of `sr`, by a backup job (sync=full).
/// `commit_with` is the task whose success makes the new VDI count (none:
/// it counts once the job has succeeded). If the job fails or is
/// cancelled, the new VDI is deleted.
pub async fn full_copy(
    jobs: &Arc<Jobs>,
    vdi: Ref,
    sr: Ref,
    op: &'static str,
    caller: Caller,
    commit_with: Option<Ref>,
) -> ApiResult<Ref> {
    let d = &jobs.domain;
    let (_, sdir, sloc) = vdis::file_of(d, vdi)?;
    d.srs.get(sr)?;
    let _claim = claims::claim_patiently(d, vdi, op, caller.owner).await?;
    let mut fields = d.model.default_row(schema::vdi::CLASS);
    d.registry.read_or(schema::vdi::CLASS, vdi, |row| {
        // What a copy keeps of its source's row.
        fields.set(schema::vdi::NAME_LABEL, row.get(schema::vdi::NAME_LABEL));
        fields.set(
            schema::vdi::NAME_DESCRIPTION,
            row.get(schema::vdi::NAME_DESCRIPTION),
        );
        fields[schema::vdi::OTHER_CONFIG] = row.fields[schema::vdi::OTHER_CONFIG].clone();
        fields.set(schema::vdi::TYPE, row.get(schema::vdi::TYPE));
        fields.set(schema::vdi::SHARABLE, row.get(schema::vdi::SHARABLE));
    })?;
    let sfmt = vdis::known_format(d, vdi)?;
    let p = blocking(move || probe_known(&sdir, &sloc, sfmt))
        .await?
        .map_err(|e| io_error("cannot read the image", e))?;
    let new = vdis::make(
        d,
        sr,
        NewVdi {
            fields,
            format: p.format,
            size: p.virtual_size,
            building: commit_with.unwrap_or(caller.owner),
        },
    )
    .await?;
    let cancel = caller.task.map(|t| tasks::make_cancellable(d, t));
    let spec = Spec {
        kind: JobKind::Backup {
            sync: SyncMode::Full,
        },
        device: vdi,
        target: new,
        task: caller.task,
        owner: caller.sid.clone(),
        cancel,
        fresh_target: true,
        read_only_device: true,
        // Copies of one VDI may run side by side: each job its own id.
        job_id: Some(format!("{op}-{}", Uuid::new_v4())),
        ..Spec::default()
    };
    let own_task = caller.task.is_none();
    let outcome = match start(jobs, spec).await {
        Ok(job) => {
            let out = job.wait().await;
            // A plain call's copy ran in a task the job made for itself,
            // which nobody is given to read: it goes, as the task of a
            // synchronous xapi call does (it stayed, one per copy, until
            // the retention ran out).
            if own_task {
                if let Err(e) = tasks::destroy(d, job.task).await {
                    tracing::warn!(task = %job.task, error = %e, "could not remove a copy's task");
                }
            }
            out
        }
        Err(e) => Err(e),
    };
    let done = match outcome {
        Ok(()) => vdis::refresh(d, new).await,
        Err(e) => Err(e),
    };
    crash::point("copy.done");
    match done {
        Ok(()) => {
            match commit_with {
                Some(t) => tasks::commit_on_success(d, t, schema::vdi::CLASS, new),
                None => vdis::commit(d, new).await?,
            }
            Ok(new)
        }
        Err(e) => {
            if let Err(x) = vdis::delete(d, new).await {
                tracing::warn!(vdi = %new, error = %x, "could not delete a failed copy");
            }
            Err(e)
        }
    }
}

/// One VBD of the source VM.
struct Drive {
    vbd_fields: Box<[Value]>,
    vdi: Ref,
    size: f64,
}

/// `VM.clone` (`sr` none: each disk into its own SR) or `VM.copy`: a new
/// VM named `name` with a copy of every disk. Runs in `task` (an `Async.`
/// call's) or in a task of its own, a subtask of `subtask_of`.
pub async fn copy_vm(
    jobs: &Arc<Jobs>,
    vm: Ref,
    name: &str,
    sr: Option<Ref>,
    caller: Caller,
    subtask_of: Option<Ref>,
) -> ApiResult<Ref> {
    let d = &jobs.domain;
    let (src, vbds) = d.registry.read_or(schema::vm::CLASS, vm, |row| {
        (row.fields.clone(), row.get(schema::vm::VBDS))
    })?;
    let mut drives = Vec::new();
    for r in vbds {
        let Some(fields) = d
            .registry
            .read(schema::vbd::CLASS, r, |row| row.fields.clone())
        else {
            continue;
        };
        let vdi = fields.field(schema::vbd::VDI);
        let size = d
            .registry
            .get_field(schema::vdi::VIRTUAL_SIZE, vdi)
            .map_or(0.0, |n| n as f64);
        drives.push(Drive {
            vbd_fields: fields,
            vdi,
            size,
        });
    }
    // The parent task: the call's, or one of our own for a plain call.
    let (parent, own) = match caller.task {
        Some(t) => (t, false),
        None => (
            tasks::create_managed(
                d,
                "VM.copy",
                subtask_of,
                &caller.sid,
                &[vm, sr.unwrap_or(Ref::NULL)],
            )
            .await?,
            true,
        ),
    };
    let cancel = tasks::make_cancellable(d, parent);
    // The new VM, marked as building until the parent task succeeds.
    let mut f = src.clone();
    f.set(schema::vm::UUID, Uuid::new_v4().to_string());
    f.set(schema::vm::NAME_LABEL, name);
    f.set(schema::vm::VBDS, Vec::new());
    f.set(schema::vm::JOBS, Vec::new());
    f.set(schema::vm::BUILDING, parent);
    let new_vm = Ref::new();
    durable(d.registry.insert(schema::vm::CLASS, new_vm, f)).await?;

    // One subtask per disk (CD drives and empty drives are attached as
    // they are, not copied).
    let op = if sr.is_some() { "copy" } else { "clone" };
    let mut subs = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for (i, drive) in drives.iter().enumerate() {
        let is_disk =
            drive.vbd_fields.field(schema::vbd::TYPE) == VbdType::Disk && !drive.vdi.is_null();
        if !is_disk {
            continue;
        }
        let target_sr = match sr {
            Some(x) => x,
            None => d
                .registry
                .get_field(schema::vdi::SR, drive.vdi)
                .unwrap_or(Ref::NULL),
        };
        let sub = tasks::create_managed(
            d,
            &format!("VDI.{op}"),
            Some(parent),
            "",
            &[drive.vdi, target_sr],
        )
        .await?;
        subs.push((sub, drive.size));
        let (jobs2, vdi) = (jobs.clone(), drive.vdi);
        let sub_caller = Caller {
            owner: sub,
            task: Some(sub),
            sid: caller.sid.clone(),
        };
        set.spawn(async move {
            let r = full_copy(&jobs2, vdi, target_sr, op, sub_caller, Some(parent)).await;
            tasks::finish(&jobs2.domain, sub, r.clone().map(Value::Ref)).await;
            (i, r)
        });
    }
    // Wait, weighing progress; the first failure (or a cancel) cancels
    // the rest.
    let total: f64 = subs.iter().map(|(_, w)| w.max(1.0)).sum();
    let mut results: Vec<(usize, ApiResult<Ref>)> = Vec::new();
    let mut failed: Option<ApiError> = None;
    let mut cancelled = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !set.is_empty() {
        tokio::select! {
            done = set.join_next() => {
                let Some(done) = done else { break };
                let (i, r) = done.map_err(ApiError::internal)?;
                if let Err(e) = &r {
                    if failed.is_none() && e.code != codes::TASK_CANCELLED {
                        failed = Some(e.clone());
                    }
                    for (sub, _) in &subs {
                        tasks::cancel_now(d, *sub);
                    }
                }
                results.push((i, r));
            }
            _ = tick.tick() => {
                let done: f64 = subs
                    .iter()
                    .map(|(sub, w)| tasks::progress(d, *sub) * w.max(1.0))
                    .sum();
                if total > 0.0 {
                    tasks::set_progress_volatile(d, parent, done / total);
                }
            }
            _ = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                for (sub, _) in &subs {
                    tasks::cancel_now(d, *sub);
                }
            }
        }
    }
    let ok = failed.is_none() && !cancelled && results.iter().all(|(_, r)| r.is_ok());
    let outcome = if ok {
        // Attach the copies (and the drives that were not copied).
        let mut new_vdi: Vec<Option<Ref>> = vec![None; drives.len()];
        for (i, r) in &results {
            if let Ok(x) = r {
                new_vdi[*i] = Some(*x);
            }
        }
        for (i, drive) in drives.iter().enumerate() {
            let mut f = drive.vbd_fields.clone();
            f.set(schema::vbd::VM, new_vm);
            f.set(schema::vbd::VDI, new_vdi[i].unwrap_or(drive.vdi));
            vms::insert_vbd(d, f).await?;
        }
        tasks::commit_on_success(d, parent, schema::vm::CLASS, new_vm);
        Ok(new_vm)
    } else {
        // Nothing stays: the copies that finished and the new VM go.
        for (_, r) in &results {
            if let Ok(x) = r {
                if let Err(e) = vdis::delete(d, *x).await {
                    tracing::warn!(vdi = %x, error = %e, "could not delete the copy of a failed VM copy");
                }
            }
        }
        vms::remove_vm(d, new_vm).await?;
        Err(failed.unwrap_or_else(|| ApiError::task_cancelled(parent)))
    };
    if own {
        tasks::finish(d, parent, outcome.clone().map(Value::Ref)).await;
        // A plain call's tasks, which nobody was given to read, go with
        // it, as a synchronous xapi call's do.
        for t in subs.iter().map(|(sub, _)| *sub).chain([parent]) {
            if let Err(e) = tasks::destroy(d, t).await {
                tracing::warn!(task = %t, error = %e, "could not remove a VM copy's task");
            }
        }
    }
    outcome
}
