//! Jobs after a restart: those that were running conclude with
//! `TASK_INTERRUPTED` (their tasks end `failure` through task recovery,
//! their backup or mirror targets are marked incomplete); concluded ones a
//! client must still dismiss are kept, with their ids taken.

use std::sync::Arc;

use super::coordinator::dismiss_row;
use super::table::Jobs;
use crate::domain::{tasks, vdis};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{block_job, codes, task, BlockJobStatus, BlockJobType, TaskStatusType};
use crate::model::RowExt;
use crate::registry::Write;
use crate::wire::{Ref, Value};

/// After a restart: jobs that were running conclude with an error (their
/// tasks end `failure` through task recovery); dismissed ones go.
pub async fn recover_after_restart(jobs: &Arc<Jobs>) -> anyhow::Result<()> {
    let d = &jobs.domain;
    let mut rows = Vec::new();
    d.registry.for_each(block_job::CLASS, |r, row| {
        rows.push((
            r,
            row.get(block_job::STATUS),
            row.get(block_job::AUTO_DISMISS),
            row.get(block_job::TYPE),
            row.get(block_job::TARGET),
            row.get(block_job::JOB_ID),
            row.get(block_job::ERROR),
            row.get(block_job::TASK),
        ));
    });
    for (r, status, auto_dismiss, ty, target, id, error, task) in rows {
        let finished = matches!(status, BlockJobStatus::Concluded | BlockJobStatus::Null);
        // Killed between a job's durable success and its own task's: the
        // job's outcome is known, so its task ends as it would have (a
        // success, not TASK_INTERRUPTED; found by bench/torture). A task
        // of a call (a copy) is left to that call's recovery.
        if finished && error.is_empty() && owns(d, task) {
            tasks::finish(d, task, Ok(Value::Ref(r))).await;
        }
        if !finished
            && matches!(ty, BlockJobType::Backup | BlockJobType::Mirror)
            && !target.is_null()
        {
            vdis::mark_incomplete(d, target, Some(codes::TASK_INTERRUPTED)).await?;
        }
        if auto_dismiss {
            dismiss_row(d, r).await;
            continue;
        }
        // Kept, concluded, for its client to read and dismiss; its id stays
        // taken until then.
        jobs.ids.insert(id, r);
        if finished {
            continue;
        }
        let ((), c) = d
            .registry
            .update(block_job::CLASS, r, Write::Durable, |f| {
                f.set(block_job::STATUS, BlockJobStatus::Concluded);
                f.set(block_job::READY, false);
                f.set(
                    block_job::ERROR,
                    "TASK_INTERRUPTED the server stopped while the job was running",
                );
                Ok(())
            })?;
        c.wait().await?;
    }
    Ok(())
}

/// Whether `task` is a job's own task still pending (one `block_job.*`
/// made for the job, not a call's).
fn owns(d: &crate::domain::Domain, task: Ref) -> bool {
    d.registry
        .read(task::CLASS, task, |row| {
            row.get(task::STATUS) == TaskStatusType::Pending
                && row.get(task::MANAGED)
                && row.get(task::NAME_LABEL).starts_with("block_job.")
        })
        .unwrap_or(false)
}

/// `dismiss` of a concluded job left over from before a restart.
pub async fn dismiss_stale(jobs: &Jobs, r: Ref) -> ApiResult<()> {
    let d = &jobs.domain;
    let status = d.registry.get_field(block_job::STATUS, r)?;
    if status != BlockJobStatus::Concluded {
        let id = d.registry.get_field(block_job::JOB_ID, r)?;
        return Err(ApiError::not_allowed(format!(
            "Job '{id}' in state '{status}' cannot accept command verb 'dismiss'"
        )));
    }
    dismiss_row(d, r).await;
    jobs.ids.retain(|_, v| *v != r);
    Ok(())
}
