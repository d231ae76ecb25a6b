//! The explicit messages and their handlers. Start-up (and a test) fails if
//! a message of the datamodel has no handler here, or a handler names no
//! message.

use super::{block_job, event, session, sr, task, vbd, vdi, vm, Handler};
use crate::model::Model;

/// `(wire name, handler)` for every explicit message.
pub const TABLE: &[(&str, Handler)] = &[
    ("session.login_with_password", session::login_with_password),
    ("session.logout", session::logout),
    ("session.local_logout", session::logout),
    ("session.change_password", session::change_password),
    ("task.create", task::create),
    ("task.destroy", task::destroy),
    ("task.cancel", task::cancel),
    ("task.set_status", task::set_status),
    ("task.set_progress", task::set_progress),
    ("task.set_result", task::set_result),
    ("task.set_error_info", task::set_error_info),
    ("SR.scan", sr::scan),
    ("VDI.create", vdi::create),
    ("VDI.destroy", vdi::destroy),
    ("VDI.resize", vdi::resize),
    ("VDI.copy", vdi::copy),
    ("VDI.clone", vdi::clone),
    ("VDI.snapshot", vdi::snapshot),
    ("block_job.backup", block_job::backup),
    ("block_job.mirror", block_job::mirror),
    ("block_job.stream", block_job::stream),
    ("block_job.commit", block_job::commit),
    ("block_job.transaction", block_job::transaction),
    ("block_job.pause", block_job::pause),
    ("block_job.resume", block_job::resume),
    ("block_job.cancel", block_job::cancel),
    ("block_job.set_speed", block_job::set_speed),
    ("block_job.complete", block_job::complete),
    ("block_job.finalize", block_job::finalize),
    ("block_job.dismiss", block_job::dismiss),
    ("event.register", event::register),
    ("event.unregister", event::unregister),
    ("event.next", event::next),
    ("event.from", event::from),
    ("event.get_current_id", event::get_current_id),
    ("event.inject", event::inject),
    ("VM.create", vm::create),
    ("VM.destroy", vm::destroy),
    ("VM.clone", vm::clone),
    ("VM.copy", vm::copy),
    ("VBD.create", vbd::create),
    ("VBD.destroy", vbd::destroy),
];

/// Lays the handlers out by class and message index.
pub fn resolve(model: &Model) -> anyhow::Result<Vec<Vec<Handler>>> {
    let mut out = Vec::with_capacity(model.classes.len());
    let mut used = vec![false; TABLE.len()];
    for c in &model.classes {
        let mut row = Vec::with_capacity(c.messages.len());
        for m in &c.messages {
            let wire = format!("{}.{}", c.name, m.name);
            let i = TABLE
                .iter()
                .position(|(n, _)| *n == wire)
                .ok_or_else(|| anyhow::anyhow!("datamodel message {wire} has no handler"))?;
            used[i] = true;
            row.push(TABLE[i].1);
        }
        out.push(row);
    }
    if let Some(i) = used.iter().position(|u| !u) {
        anyhow::bail!("handler {} has no datamodel message", TABLE[i].0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::model;

    #[test]
    fn every_message_has_exactly_one_handler() {
        let m = model::load_sources(model::embedded()).unwrap();
        super::resolve(&m).unwrap();
        crate::domain::Ids::resolve(&m);
    }
}
