//! Snapshots of VDIs, instant and crash-safe: the VDI's current file gets a
//! second name (the snapshot's file) and a qcow2 overlay backed by it takes
//! the VDI's name in one rename (`storage::files::take_snapshot`).
//!
//! The protocol, and what a restart does at each point:
//!
//! | step | a crash after it leaves | recovery |
//! |---|---|---|
//! | 1. snapshot row, durable, `building` | row, no file | `Absent`: forget the row |
//! | 2. link (second name) | row, link | `Linked`: drop the link, forget the row |
//! | 3. overlay renamed over the VDI's file | VDI row still says its old format | `Switched`: complete (4, 5) |
//! | 4. VDI row: format qcow2, `snapshots` += snap | snapshot still `building` | `Switched`: complete |
//! | 5. snapshot row: `building` cleared | done | nothing to do |
//!
//! The state comes from the files ([`SnapshotState`]), never from the VDI's
//! recorded format, which is stale between 3 and 4: that is what once made
//! a restart delete the only name of a raw VDI's data. An undo (a failed
//! transaction) marks the snapshot as building again, renames its file
//! back over the VDI's, restores the VDI's format and forgets the snapshot;
//! a crash in between ends either as a complete snapshot (before the
//! rename) or as no snapshot with the VDI's format restored (after it).

use std::sync::Arc;

use uuid::Uuid;

use super::vdis::{self, file_of, known_format, new_row};
use super::{bitmaps, blocking, cbt, claims, durable, io_error, tasks, Domain};
use crate::error::ApiResult;
use crate::model::schema::vdi;
use crate::model::RowExt;
use crate::registry::Write;
use crate::storage::crash;
use crate::storage::files::{self, SnapshotState};
use crate::storage::image::probe_known;
use crate::storage::image::Format;
use crate::wire::{DateTime, Ref, Value};

/// Takes a snapshot of `vdi` on behalf of `owner` (the caller's task or
/// session); returns the snapshot VDI. `vdi` becomes a qcow2 overlay on it.
pub async fn take(d: &Arc<Domain>, vdi: Ref, owner: Ref) -> ApiResult<Ref> {
    let (sr, dir, loc) = file_of(d, vdi)?;
    let _claim = claims::claim_patiently(d, vdi, "snapshot", owner).await?;
    let st = d.srs.get(sr)?;
    let (label, desc, fmt, cbt_enabled, cbt_prev) = d.registry.read_or(vdi::CLASS, vdi, |row| {
        (
            row.get(vdi::NAME_LABEL),
            row.get(vdi::NAME_DESCRIPTION),
            vdis::format_of(&row.fields[vdi::SM_CONFIG]),
            row.get(vdi::CBT_ENABLED),
            row.get(vdi::CBT_PREV),
        )
    })?;
    let snap = Ref::new();
    let uuid = Uuid::new_v4().to_string();
    let snap_loc = format!("{uuid}.{}", fmt.name());
    let _g = st.lock.lock().await;
    let (dd, l) = (dir.clone(), loc.clone());
    let p = blocking(move || probe_known(&dd, &l, fmt))
        .await?
        .map_err(|e| io_error("cannot read the image", e))?;
    // 1. The snapshot's row, durable and marked as building.
    let mut f = new_row(d, sr, &snap_loc, &p, "");
    f.set(vdi::UUID, uuid.as_str());
    f.set(vdi::NAME_LABEL, label);
    f.set(vdi::NAME_DESCRIPTION, desc);
    f.set(vdi::IS_A_SNAPSHOT, true);
    f.set(vdi::READ_ONLY, true);
    f.set(vdi::SNAPSHOT_OF, vdi);
    f.set(vdi::SNAPSHOT_TIME, DateTime::now());
    f.set(vdi::BUILDING, owner);
    f.set(vdi::CBT_ENABLED, cbt_enabled);
    f.set(vdi::CBT_PREV, cbt_prev);
    claims::set_idle_allowed(&mut f);
    durable(d.registry.insert(vdi::CLASS, snap, f)).await?;
    crash::point("snapshot.row");
    // 2, 3. The files.
    let (dd, l, sl) = (dir.clone(), loc.clone(), snap_loc.clone());
    let size = p.virtual_size;
    let done = blocking(move || files::take_snapshot(&dd, &l, &sl, size, fmt)).await?;
    if let Err(e) = done {
        // take_snapshot undid its steps; a link it could not remove holds
        // no data of its own.
        let (dd, l, sl) = (dir.clone(), loc.clone(), snap_loc.clone());
        let _ = blocking(move || files::drop_snapshot_link(&dd, &l, &sl)).await;
        vdis::forget(d, snap).await?;
        return Err(io_error("cannot take the snapshot", e));
    }
    crash::point("snapshot.files");
    // 4, 5.
    complete(d, vdi, snap).await?;
    drop(_g);
    vdis::refresh(d, vdi).await?;
    vdis::refresh(d, snap).await?;
    // The persistent dirty bitmaps follow the VDI into its new file; the
    // snapshot's file (the VDI's old one) keeps none.
    for v in [vdi, snap] {
        bitmaps::copy_changed(d, v).await;
    }
    Ok(snap)
}

/// Steps 4 and 5: the VDI is the overlay on `snap`, which is whole.
/// Idempotent (recovery may run it again).
async fn complete(d: &Domain, vdi: Ref, snap: Ref) -> ApiResult<()> {
    let tracked = cbt::snapshot_taken(d, vdi, snap).await?;
    let ((), c) = d.registry.update(vdi::CLASS, vdi, Write::Durable, |f| {
        if tracked {
            f.set(vdi::CBT_PREV, snap);
        }
        if let Value::Array(snaps) = &mut f[vdi::SNAPSHOTS] {
            if !snaps.contains(&Value::Ref(snap)) {
                snaps.push(Value::Ref(snap));
            }
        }
        f[vdi::SM_CONFIG].map_set("image-format", Some(Format::Qcow2.name()));
        Ok(())
    })?;
    durable(c).await?;
    crash::point("snapshot.vdi");
    tasks::clear_building(d, vdi::CLASS, snap).await
}

/// Undoes a snapshot just taken (a failed transaction): the snapshot's
/// file, which holds the VDI's data, takes the VDI's name again in one
/// rename, the VDI gets its old format back, and the snapshot VDI is
/// forgotten.
pub async fn undo(d: &Domain, vdi: Ref, snap: Ref) -> ApiResult<()> {
    let (sr, dir, loc) = file_of(d, vdi)?;
    let (_, _, snap_loc) = file_of(d, snap)?;
    // The snapshot's own format is the VDI's format before the snapshot.
    let format = known_format(d, snap)?;
    let st = d.srs.get(sr)?;
    {
        let _g = st.lock.lock().await;
        let ((), c) = d.registry.update(vdi::CLASS, snap, Write::Durable, |f| {
            f.set(vdi::BUILDING, snap);
            Ok(())
        })?;
        durable(c).await?;
        crash::point("undo.marked");
        let renamed = blocking(move || files::undo_snapshot(&dir, &loc, &snap_loc)).await?;
        if let Err(e) = renamed {
            tasks::clear_building(d, vdi::CLASS, snap).await?;
            return Err(io_error("cannot undo the snapshot", e));
        }
        crash::point("undo.renamed");
        restore(d, vdi, snap, format).await?;
    }
    vdis::refresh(d, vdi).await
}

/// After the rename back (or when no link was ever made): the VDI has the
/// snapshot's format again and the snapshot's row goes.
async fn restore(d: &Domain, vdi: Ref, snap: Ref, format: Format) -> ApiResult<()> {
    cbt::snapshot_undone(d, vdi, snap).await?;
    let ((), c) = d.registry.update(vdi::CLASS, vdi, Write::Durable, |f| {
        f[vdi::SM_CONFIG].map_set("image-format", Some(format.name()));
        Ok(())
    })?;
    durable(c).await?;
    vdis::forget(d, snap).await
}

/// After a restart: every snapshot still being taken or undone ends
/// complete or gone, as its files say (see the table in the module doc).
pub async fn recover_after_restart(d: &Arc<Domain>) -> anyhow::Result<()> {
    let mut pending = Vec::new();
    d.registry.for_each(vdi::CLASS, |r, row| {
        let of = row.get(vdi::SNAPSHOT_OF);
        if !row.get(vdi::BUILDING).is_null() && row.get(vdi::IS_A_SNAPSHOT) && !of.is_null() {
            pending.push((r, of));
        }
    });
    for (snap, of) in pending {
        recover(d, snap, of).await?;
    }
    Ok(())
}

/// Recovers one snapshot `snap` of `of`. Nothing that holds data is
/// removed.
async fn recover(d: &Arc<Domain>, snap: Ref, of: Ref) -> anyhow::Result<()> {
    let (Ok((_, dir, snap_loc)), Ok((_, _, cur))) = (file_of(d, snap), file_of(d, of)) else {
        // The VDI or an SR is gone: keep whatever file the snapshot has.
        tracing::warn!(vdi = %snap, "snapshot of a VDI that is gone: keeping it as it is");
        tasks::clear_building(d, vdi::CLASS, snap).await?;
        return Ok(());
    };
    let (dd, c, s) = (dir.clone(), cur.clone(), snap_loc.clone());
    let state = tokio::task::spawn_blocking(move || files::snapshot_state(&dd, &c, &s)).await??;
    match state {
        SnapshotState::Absent => {
            tracing::warn!(vdi = %snap, "snapshot was not taken (or was undone) when the server stopped: forgetting it");
            let format = known_format(d, snap)?;
            restore(d, of, snap, format).await?;
        }
        SnapshotState::Linked => {
            tracing::warn!(vdi = %snap, "snapshot was not switched over when the server stopped: dropping it");
            tokio::task::spawn_blocking(move || files::drop_snapshot_link(&dir, &cur, &snap_loc))
                .await??;
            vdis::forget(d, snap).await?;
        }
        SnapshotState::Switched => {
            tracing::info!(vdi = %snap, "snapshot was switched over when the server stopped: completing it");
            complete(d, of, snap).await?;
            vdis::refresh(d, of).await?;
            vdis::refresh(d, snap).await?;
        }
        SnapshotState::Other => {
            tracing::error!(vdi = %snap, "snapshot files in an unexpected state: keeping everything");
            tasks::clear_building(d, vdi::CLASS, snap).await?;
        }
    }
    Ok(())
}
