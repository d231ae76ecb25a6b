//! Jobs after a restart: those that were running conclude with
//! `TASK_INTERRUPTED` (their tasks end `failure` through task recovery,
//! their backup or mirror targets are marked incomplete); concluded ones a
//! client must still dismiss are kept, with their ids taken.

use std::sync::Arc;

use super::coordinator::dismiss_row;
use super::table::Jobs;
use crate::domain::vdis;
use crate::error::{ApiError, ApiResult};
use crate::registry::Write;
use crate::wire::{Ref, Value};

/// After a restart: jobs that were running conclude with an error (their
/// tasks end `failure` through task recovery); dismissed ones go.
pub async fn recover_after_restart(jobs: &Arc<Jobs>) -> anyhow::Result<()> {
    let server = &jobs.domain;
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
                    vdis::mark_incomplete(server, t, Some("TASK_INTERRUPTED")).await?;
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
            jobs.ids.insert(id.to_string(), r);
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
pub async fn dismiss_stale(jobs: &Jobs, r: Ref) -> ApiResult<()> {
    let server = &jobs.domain;
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
    jobs.ids.retain(|_, v| *v != r);
    Ok(())
}
