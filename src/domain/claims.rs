//! Which operations are using a VDI, and which may join them: the source of
//! `VDI.current_operations`, `allowed_operations` and the
//! `OTHER_OPERATION_IN_PROGRESS [VDI, ref, op, task]` refusals.
//!
//! Every operation that reads or writes a VDI's file holds a [`Claim`] on it
//! for as long as it runs. Three modes:
//! - `Read`: reads only (the source of a copy/clone, an export). Any number
//!   of readers share a VDI.
//! - `Hooked`: the device of a job that sees every write made through the
//!   server (mirror, active commit, backup with copy-before-write): readers
//!   and `import` writes may join it, as those writes go through the job.
//! - `Write`: exclusive (job targets, stream, commit, resize, snapshot,
//!   destroy, import).
//!
//! A hooked claim carries the job's [`WriteHook`] once the job has opened
//! its images ([`Claim::set_hook`]): this one table says both who uses a
//! VDI and through what writes must go, so an import finds the hook where
//! it finds the claim, and the hook goes when the claim does.

use std::io;
use std::sync::Arc;

use dashmap::DashMap;

use super::Domain;
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{vdi, VdiOperations, VdiType};
use crate::model::RowExt;
use crate::registry::Write;
use crate::storage::image::Image;
use crate::wire::{Ref, Value};

/// Sees writes to a job's device made through the server (HTTP imports).
pub trait WriteHook: Send + Sync {
    /// The device's open image: imports write through it.
    fn image(&self) -> &Arc<Image>;
    /// Before `len` bytes at `offset` are overwritten (copy-before-write).
    fn before_write(&self, offset: u64, len: u64) -> io::Result<()>;
    /// After they were written (a mirror marks them dirty).
    fn after_write(&self, offset: u64, len: u64);
}

/// A job's write hook, shared with imports.
pub type Hook = Arc<dyn WriteHook>;

/// How an operation uses a VDI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reads only.
    Read,
    /// A job that sees every write made through the server.
    Hooked,
    /// Exclusive.
    Write,
}

#[derive(Clone)]
struct Holder {
    id: u64,
    task: Ref,
    op: &'static str,
    mode: Mode,
    hook: Option<Hook>,
}

/// Operations in progress, by VDI.
#[derive(Default)]
pub struct Claims {
    held: DashMap<Ref, Vec<Holder>>,
    next: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims").finish_non_exhaustive()
    }
}

/// Every VDI operation, in the order `allowed_operations` lists them.
const OPS: &[(VdiOperations, Mode)] = &[
    (VdiOperations::Clone, Mode::Read),
    (VdiOperations::Copy, Mode::Read),
    (VdiOperations::Export, Mode::Read),
    (VdiOperations::Resize, Mode::Write),
    (VdiOperations::Snapshot, Mode::Write),
    (VdiOperations::Destroy, Mode::Write),
    (VdiOperations::Update, Mode::Write),
    (VdiOperations::Mirror, Mode::Hooked),
    (VdiOperations::Backup, Mode::Hooked),
    (VdiOperations::Stream, Mode::Write),
    (VdiOperations::Commit, Mode::Write),
    (VdiOperations::Import, Mode::Write),
    (VdiOperations::EnableCbt, Mode::Write),
    (VdiOperations::DisableCbt, Mode::Write),
    (VdiOperations::DataDestroy, Mode::Write),
    (VdiOperations::ListChangedBlocks, Mode::Read),
];

/// What of a VDI's row decides which operations it allows at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kind {
    /// `read_only`: no import, no resize.
    pub read_only: bool,
    /// `is_a_snapshot`: no enable/disable_cbt; only a snapshot may lose
    /// its data (`data_destroy`).
    pub snapshot: bool,
    /// type `cbt_metadata`: no data, so only what xapi allows on it.
    pub metadata: bool,
}

impl Kind {
    /// The kind of the VDI whose row is `f`.
    pub fn of(f: &[Value]) -> Kind {
        Kind {
            read_only: f.field(vdi::READ_ONLY),
            snapshot: f.field(vdi::IS_A_SNAPSHOT),
            metadata: f.field(vdi::TYPE) == VdiType::CbtMetadata,
        }
    }

    /// Whether a VDI of this kind allows `op` at all (whoever holds it).
    pub fn permits(self, op: VdiOperations) -> bool {
        use VdiOperations as O;
        if self.metadata {
            // xapi: data_destroy, destroy, list_changed_blocks, force_unlock,
            // forget, generate_config, update, blocked.
            return matches!(
                op,
                O::DataDestroy | O::Destroy | O::ListChangedBlocks | O::Update
            );
        }
        match op {
            O::Resize | O::Import => !self.read_only,
            O::EnableCbt | O::DisableCbt => !self.snapshot,
            O::DataDestroy => self.snapshot,
            _ => true,
        }
    }
}

/// The holder that `op` in `mode` would conflict with, if any.
fn conflict<'a>(held: &'a [Holder], op: &str, mode: Mode) -> Option<&'a Holder> {
    held.iter().find(|h| match (h.mode, mode) {
        (Mode::Read, Mode::Read) | (Mode::Read, Mode::Hooked) => false,
        (Mode::Hooked, Mode::Read) => false,
        (Mode::Hooked, Mode::Write) => op != "import",
        _ => true,
    })
}

/// `allowed_operations` for a VDI of this kind with these holders.
fn allowed(held: &[Holder], kind: Kind) -> Vec<VdiOperations> {
    OPS.iter()
        .filter(|(op, mode)| conflict(held, op.name(), *mode).is_none() && kind.permits(*op))
        .map(|(op, _)| *op)
        .collect()
}

/// An operation's hold on a VDI; released when dropped.
pub struct Claim {
    domain: Arc<Domain>,
    vdi: Ref,
    id: u64,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim").field("vdi", &self.vdi).finish()
    }
}

impl Claim {
    /// The VDI held.
    pub fn vdi(&self) -> Ref {
        self.vdi
    }

    /// Whether the claim may write the VDI's file (not a reader's).
    fn writes(&self) -> bool {
        self.domain
            .claims
            .held
            .get(&self.vdi)
            .is_some_and(|e| e.iter().any(|h| h.id == self.id && h.mode != Mode::Read))
    }

    /// Attaches the job's write hook to this (hooked) claim: from now on
    /// imports into the VDI write through it.
    pub fn set_hook(&self, hook: Hook) {
        if let Some(mut e) = self.domain.claims.held.get_mut(&self.vdi) {
            if let Some(h) = e.iter_mut().find(|h| h.id == self.id) {
                h.hook = Some(hook);
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let s = &self.domain;
        let wrote = self.writes();
        let release = |busy: &Claims| -> Vec<Holder> {
            let mut held = Vec::new();
            if let Some(mut e) = busy.held.get_mut(&self.vdi) {
                e.retain(|h| h.id != self.id);
                held = e.clone();
            }
            if held.is_empty() {
                busy.held.remove_if(&self.vdi, |_, h| h.is_empty());
            }
            held
        };
        // Same lock order as `claim_as`: the row, then the holders.
        let updated = s
            .registry
            .update(vdi::CLASS, self.vdi, Write::Volatile, |f| {
                let held = release(&s.claims);
                write_ops(f, &held);
                Ok(())
            });
        if updated.is_err() {
            release(&s.claims);
        }
        // The file may have been written: its copy of the persistent
        // dirty bitmaps is stored again once no writer has it open.
        if wrote {
            super::bitmaps::stale(s, self.vdi);
        }
    }
}

fn write_ops(f: &mut [Value], held: &[Holder]) {
    f[vdi::CURRENT_OPERATIONS] = Value::Struct(
        held.iter()
            .map(|h| (h.task.to_string(), Value::from(h.op)))
            .collect(),
    );
    let kind = Kind::of(f);
    f.set(vdi::ALLOWED_OPERATIONS, allowed(held, kind));
}

/// Sets the `allowed_operations` of an idle VDI from its row (after a
/// change of what [`Kind`] reads, or for a new row).
pub fn set_idle_allowed(f: &mut [Value]) {
    let kind = Kind::of(f);
    f.set(vdi::ALLOWED_OPERATIONS, allowed(&[], kind));
}

/// Sets `allowed_operations` from the row and whoever holds `vdi` now
/// (after a change of what [`Kind`] reads, the VDI perhaps held).
pub fn refresh_allowed(d: &Domain, vdi: Ref, f: &mut [Value]) {
    let held = d
        .claims
        .held
        .get(&vdi)
        .map(|e| e.clone())
        .unwrap_or_default();
    write_ops(f, &held);
}

/// Claims `vdi` for `op` on behalf of `task` (the caller's task or session
/// ref), or refuses with `OTHER_OPERATION_IN_PROGRESS`. `HANDLE_INVALID` if
/// the VDI is gone.
pub fn claim(d: &Arc<Domain>, vdi: Ref, op: &'static str, task: Ref) -> ApiResult<Claim> {
    claim_as(d, vdi, op, task, mode_of(op))
}

/// The mode operation `op` holds a VDI in (`Write` if unknown).
fn mode_of(op: &str) -> Mode {
    OPS.iter()
        .find(|(o, _)| o.name() == op)
        .map(|(_, m)| *m)
        .unwrap_or(Mode::Write)
}

/// As [`claim`], but waits (up to a minute) while the only obstacle is
/// the background coalesce folding a hidden base into the VDI's file
/// (`blocked`): a user's operation is delayed by it, not refused.
pub async fn claim_patiently(
    d: &Arc<Domain>,
    vdi: Ref,
    op: &'static str,
    task: Ref,
) -> ApiResult<Claim> {
    claim_as_patiently(d, vdi, op, task, mode_of(op)).await
}

/// As [`claim_as`], waiting out the background coalesce as
/// [`claim_patiently`] does. The coalesce never waits for a claim (a busy
/// VDI puts it off to its next round), so holding other claims meanwhile
/// cannot deadlock.
pub async fn claim_as_patiently(
    d: &Arc<Domain>,
    vdi: Ref,
    op: &'static str,
    task: Ref,
    mode: Mode,
) -> ApiResult<Claim> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match claim_as(d, vdi, op, task, mode) {
            Err(e)
                if e.code == crate::model::schema::codes::OTHER_OPERATION_IN_PROGRESS
                    && e.params.get(2).map(String::as_str) == Some(BLOCKED)
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

/// The operation the background coalesce holds a VDI with.
pub const BLOCKED: &str = "blocked";

/// As [`claim`], with an explicit mode (a backup's target is `Write`, its
/// device `Hooked`).
pub fn claim_as(
    d: &Arc<Domain>,
    r: Ref,
    op: &'static str,
    task: Ref,
    mode: Mode,
) -> ApiResult<Claim> {
    let busy = &d.claims;
    let id = busy.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The registry row's lock orders claims on one VDI.
    let ((), _) = d.registry.update(vdi::CLASS, r, Write::Volatile, |f| {
        // A cbt_metadata VDI has no data: only what xapi allows on it.
        let kind = Kind::of(f);
        if kind.metadata && !OPS.iter().any(|(o, _)| o.name() == op && kind.permits(*o)) {
            return Err(ApiError::vdi_incompatible_type(
                r,
                VdiType::CbtMetadata.name(),
            ));
        }
        let mut e = busy.held.entry(r).or_default();
        if let Some(h) = conflict(&e, op, mode) {
            return Err(ApiError::other_operation_in_progress(
                vdi::NAME,
                r,
                h.op,
                h.task,
            ));
        }
        e.push(Holder {
            id,
            task,
            op,
            mode,
            hook: None,
        });
        write_ops(f, &e);
        Ok(())
    })?;
    Ok(Claim {
        domain: d.clone(),
        vdi: r,
        id,
    })
}

/// Whether any operation holds `vdi`.
pub fn is_busy(d: &Domain, vdi: Ref) -> bool {
    d.claims.held.get(&vdi).is_some_and(|e| !e.is_empty())
}

/// The write hook of the job that holds `vdi` hooked, if any (imports
/// write through it).
pub fn hook(d: &Domain, vdi: Ref) -> Option<Hook> {
    d.claims
        .held
        .get(&vdi)
        .and_then(|e| e.iter().find_map(|h| h.hook.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(op: &'static str, mode: Mode) -> Holder {
        Holder {
            id: 0,
            task: Ref::NULL,
            op,
            mode,
            hook: None,
        }
    }

    #[test]
    fn readers_share_writers_do_not() {
        assert!(conflict(&[h("copy", Mode::Read)], "export", Mode::Read).is_none());
        assert!(conflict(&[h("copy", Mode::Read)], "backup", Mode::Hooked).is_none());
        assert!(conflict(&[h("copy", Mode::Read)], "destroy", Mode::Write).is_some());
        assert!(conflict(&[h("import", Mode::Write)], "export", Mode::Read).is_some());
        assert!(conflict(&[h("mirror", Mode::Hooked)], "import", Mode::Write).is_none());
        assert!(conflict(&[h("mirror", Mode::Hooked)], "resize", Mode::Write).is_some());
        assert!(conflict(&[h("mirror", Mode::Hooked)], "mirror", Mode::Hooked).is_some());
        assert!(conflict(&[], "destroy", Mode::Write).is_none());
    }

    #[test]
    fn allowed_operations_follow_the_holders() {
        let user = Kind::default();
        let snap = Kind {
            read_only: true,
            snapshot: true,
            metadata: false,
        };
        let meta = Kind {
            metadata: true,
            ..snap
        };
        assert_eq!(allowed(&[], user).len(), OPS.len() - 1);
        assert!(!allowed(&[], user).contains(&VdiOperations::DataDestroy));
        let s = allowed(&[], snap);
        assert!(!s.contains(&VdiOperations::Resize) && !s.contains(&VdiOperations::EnableCbt));
        assert!(s.contains(&VdiOperations::DataDestroy));
        assert_eq!(
            allowed(&[], meta),
            vec![
                VdiOperations::Destroy,
                VdiOperations::Update,
                VdiOperations::DataDestroy,
                VdiOperations::ListChangedBlocks
            ]
        );
        let b = allowed(&[h("copy", Mode::Read)], user);
        assert!(b.contains(&VdiOperations::Clone) && !b.contains(&VdiOperations::Destroy));
    }
}
