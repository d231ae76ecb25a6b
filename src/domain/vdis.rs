//! VDIs: image files in SRs. Where a VDI's file is and in what format,
//! refreshing sizes from the file, making VDIs (row first, then file),
//! forgetting and deleting them, resizing, the pivot at the end of a mirror
//! or active commit, the `incomplete` mark of failed job targets, and what
//! a restart does with VDIs that were still being made.
//!
//! Making a VDI is crash-safe because the row comes first: it is written
//! durably with `building` naming who makes it (a task or a session), then
//! the file is created, then `building` is cleared. A restart deletes every
//! VDI still marked (file and row), except one whose maker is a task that
//! is recorded as a success: that VDI is whole and is kept (see
//! [`super::tasks`], commits on success). A file is never found by a scan
//! before its row exists, since both happen under the SR's lock.

use std::sync::Arc;

use uuid::Uuid;

use super::srs::{refresh_totals, SrState};
use super::Domain;
use super::{
    backend_failure, bitmaps, blocking, cbt, claims, durable, invalid, io_error, tasks, to_int, vms,
};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{codes, vdi};
use crate::model::RowExt;
use crate::registry::Write;
use crate::storage::crash;
use crate::storage::files::{self, fs_size};
use crate::storage::image::probe_known;
use crate::storage::image::{self, Format, Probe};
use crate::storage::path::SrDir;
use crate::wire::{Ref, Value};

/// Where a VDI's file is: its SR, the SR's directory and the file name.
pub fn file_of(d: &Domain, vdi: Ref) -> ApiResult<(Ref, SrDir, String)> {
    let (sr, loc) = d.registry.read_or(vdi::CLASS, vdi, |row| {
        (row.get(vdi::SR), row.get(vdi::LOCATION))
    })?;
    let st = d.srs.get(sr)?;
    Ok((sr, st.dir.clone(), loc))
}

/// The format a VDI is known to have (`sm_config:image-format`; raw when
/// unset).
pub fn known_format(d: &Domain, vdi: Ref) -> ApiResult<Format> {
    d.registry.read_or(vdi::CLASS, vdi, |row| {
        format_of(&row.fields[vdi::SM_CONFIG])
    })
}

/// The format recorded in an `sm_config`.
pub fn format_of(sm_config: &Value) -> Format {
    sm_config
        .map_get("image-format")
        .and_then(Format::from_name)
        .unwrap_or(Format::Raw)
}

/// The VDI named by a string: its ref or its uuid.
pub fn find(d: &Domain, s: &str) -> Option<Ref> {
    Ref::parse(s)
        .filter(|r| d.registry.exists(vdi::CLASS, *r))
        .or_else(|| {
            Uuid::parse_str(s)
                .ok()
                .and_then(|u| d.registry.by_uuid(vdi::CLASS, &u))
        })
}

/// The VDI of SR `sr` whose file is `name`.
pub fn at(d: &Domain, sr: Ref, name: &str) -> Option<Ref> {
    let mut out = None;
    d.registry.for_each(vdi::CLASS, |r, row| {
        if row.get(vdi::SR) == sr && row.fields[vdi::LOCATION].as_str() == Some(name) {
            out = Some(r);
        }
    });
    out
}

/// The virtual size and read-only flag of a VDI.
pub fn size_and_read_only(d: &Domain, vdi: Ref) -> ApiResult<(u64, bool)> {
    d.registry.read_or(vdi::CLASS, vdi, |row| {
        (
            row.get(vdi::VIRTUAL_SIZE).max(0) as u64,
            row.get(vdi::READ_ONLY),
        )
    })
}

/// Writes what a probe of the file says into the VDI's row.
pub(super) fn probe_fields(f: &mut [Value], p: &Probe) {
    f.set(vdi::VIRTUAL_SIZE, to_int(p.virtual_size));
    f.set(vdi::PHYSICAL_UTILISATION, to_int(p.physical_utilisation));
    f[vdi::SM_CONFIG].map_set("image-format", Some(p.format.name()));
    f[vdi::SM_CONFIG].map_set("backing-file", p.backing.as_deref());
}

/// Refreshes a VDI's sizes and format from a probe.
pub async fn apply_probe(d: &Domain, vdi: Ref, p: &Probe) -> ApiResult<()> {
    // Nothing to write when the file is as recorded (every VDI of every SR
    // at start-up, mostly): a commit each would cost start-up its fsyncs.
    let same = d.registry.read(vdi::CLASS, vdi, |row| {
        let mut f = row.fields.clone();
        probe_fields(&mut f, p);
        f == row.fields
    });
    if same == Some(true) {
        return Ok(());
    }
    let ((), c) = d.registry.update(vdi::CLASS, vdi, Write::Durable, |f| {
        probe_fields(f, p);
        Ok(())
    })?;
    durable(c).await
}

/// Probes a VDI's file anew and records what it found (and the SR totals).
pub async fn refresh(d: &Domain, vdi: Ref) -> ApiResult<()> {
    let (sr, dir, loc) = file_of(d, vdi)?;
    let format = known_format(d, vdi)?;
    let p = blocking(move || probe_known(&dir, &loc, format))
        .await?
        .map_err(|e| io_error("cannot read the image", e))?;
    apply_probe(d, vdi, &p).await?;
    refresh_totals(d, sr, None).await
}

/// A fresh VDI row for a file of `sr`.
pub(super) fn new_row(d: &Domain, sr: Ref, location: &str, p: &Probe, label: &str) -> Box<[Value]> {
    let mut f = d.model.default_row(vdi::CLASS);
    f.set(vdi::UUID, Uuid::new_v4().to_string());
    f.set(vdi::NAME_LABEL, label);
    f.set(vdi::SR, sr);
    f.set(vdi::LOCATION, location);
    probe_fields(&mut f, p);
    claims::set_idle_allowed(&mut f);
    f
}

/// Makes a VDI of a file a scan found.
pub async fn introduce(d: &Domain, sr: Ref, name: &str, p: &Probe) -> ApiResult<Ref> {
    let f = new_row(d, sr, name, p, name);
    let r = Ref::new();
    durable(d.registry.insert(vdi::CLASS, r, f)).await?;
    Ok(r)
}

/// Removes a VDI's row (not its file), its VBDs, and the snapshot links to
/// it. Its changes in a CBT chain go to the VDI after it first
/// ([`cbt::unlink`]), its change log after.
pub async fn forget(d: &Domain, vdi: Ref) -> ApiResult<()> {
    if !d.registry.exists(vdi::CLASS, vdi) {
        return Ok(());
    }
    cbt::unlink(d, vdi).await?;
    bitmaps::forget_of(d, vdi).await?;
    // A VDI still being made (not a snapshot, whose fate start-up reads
    // from its files) goes from memory even if the store cannot write (a
    // copy that failed for want of space): its row on disk says it is
    // being made, and start-up deletes such a row, and a file it lacks.
    let provisional = d
        .registry
        .read(vdi::CLASS, vdi, |row| {
            let snapshot = row.get(vdi::IS_A_SNAPSHOT) && !row.get(vdi::SNAPSHOT_OF).is_null();
            !row.get(vdi::BUILDING).is_null() && !snapshot
        })
        .unwrap_or(false);
    let removed = if provisional {
        d.registry.remove_provisional(vdi::CLASS, vdi)
    } else {
        d.registry.remove(vdi::CLASS, vdi)
    };
    let Some((row, c)) = removed else {
        return Ok(());
    };
    match durable(c).await {
        Ok(()) => {}
        Err(e) if provisional => {
            tracing::warn!(vdi = %vdi, error = %e, "an unfinished VDI is forgotten; start-up removes its row");
        }
        Err(e) => return Err(e),
    }
    if row.get(vdi::CBT_ENABLED) {
        cbt::forgotten(d, vdi, row.get(vdi::UUID)).await;
    }
    for b in row.get(vdi::VBDS) {
        vms::remove_vbd(d, b).await?;
    }
    let mut linked = row.get(vdi::SNAPSHOTS);
    linked.push(row.get(vdi::SNAPSHOT_OF));
    for o in linked.into_iter().filter(|o| !o.is_null()) {
        if let Ok(((), c)) = d.registry.update(vdi::CLASS, o, Write::Durable, |f| {
            if let Value::Array(s) = &mut f[vdi::SNAPSHOTS] {
                s.retain(|x| *x != Value::Ref(vdi));
            }
            if f.field(vdi::SNAPSHOT_OF) == vdi {
                f.set(vdi::SNAPSHOT_OF, Ref::NULL);
            }
            Ok(())
        }) {
            durable(c).await?;
        }
    }
    Ok(())
}

/// Deletes a VDI's file and forgets it.
pub async fn delete(d: &Domain, vdi: Ref) -> ApiResult<()> {
    let (sr, dir, loc) = file_of(d, vdi)?;
    let st = d.srs.get(sr)?;
    {
        let _g = st.lock.lock().await;
        blocking(move || files::remove_image(&dir, &loc))
            .await?
            .map_err(|e| backend_failure("cannot delete the image file", e))?;
        forget(d, vdi).await?;
    }
    refresh_totals(d, sr, None).await
}

/// The file name of a new VDI.
fn file_name(uuid: &str, format: Format) -> String {
    format!("{uuid}.{}", format.name())
}

/// What a new VDI is made of.
pub struct NewVdi {
    /// The row's fields (labels and the like; the file's fields are
    /// filled in here).
    pub fields: Box<[Value]>,
    /// Its format.
    pub format: Format,
    /// Its virtual size in bytes.
    pub size: u64,
    /// Who makes it: the task whose success commits it, or the session of
    /// a call that commits it itself ([`commit`]).
    pub building: Ref,
}

/// Makes a VDI in SR `sr`: its row (durable, marked as building), then its
/// file, then the row gets the file's sizes. It stays marked as building
/// until [`commit`] (or the success of the task that makes it). On a
/// failure nothing stays.
pub async fn make(d: &Domain, sr: Ref, new: NewVdi) -> ApiResult<Ref> {
    let st = d.srs.get(sr)?;
    let NewVdi {
        mut fields,
        format,
        size,
        building,
    } = new;
    let uuid = Uuid::new_v4().to_string();
    let loc = file_name(&uuid, format);
    let r = Ref::new();
    fields.set(vdi::UUID, uuid);
    fields.set(vdi::SR, sr);
    fields.set(vdi::LOCATION, loc.as_str());
    fields.set(vdi::VIRTUAL_SIZE, to_int(size));
    fields[vdi::SM_CONFIG].map_set("image-format", Some(format.name()));
    fields.set(vdi::BUILDING, building);
    claims::set_idle_allowed(&mut fields);
    {
        let _g = st.lock.lock().await;
        durable(d.registry.insert(vdi::CLASS, r, fields)).await?;
        crash::point("vdi.row");
        let (dir, l) = (st.dir.clone(), loc.clone());
        let made = blocking(move || {
            image::create(&dir, &l, format, size, None)?;
            image::probe(&dir, &l)
        })
        .await?;
        let p = match made {
            Ok(p) => p,
            Err(e) => {
                // The file is not there (create removes what it began).
                forget(d, r).await?;
                return Err(create_error(&st, size, e));
            }
        };
        crash::point("vdi.file");
        apply_probe(d, r, &p).await?;
    }
    refresh_totals(d, sr, None).await?;
    Ok(r)
}

/// Clears the `building` mark of a VDI made by a call that is its own
/// commit point (no task).
pub async fn commit(d: &Domain, vdi: Ref) -> ApiResult<()> {
    tasks::clear_building(d, vdi::CLASS, vdi).await
}

/// `SR_FULL [requested, maximum]` when the file system cannot hold the
/// image (no space, or larger than its largest file), else
/// `SR_BACKEND_FAILURE`.
fn create_error(st: &SrState, size: u64, e: std::io::Error) -> ApiError {
    match e.raw_os_error() {
        Some(libc::EFBIG) | Some(libc::ENOSPC) => ApiError::sr_full(size, fs_size(st.dir.root())),
        _ => backend_failure("cannot create the image file", e),
    }
}

/// A requested virtual size: non-negative, rounded up to 512 bytes, within
/// what an image can hold (else `INVALID_VALUE [field, size]`).
pub fn check_size(field: &str, size: i64) -> ApiResult<u64> {
    let bad = || invalid(field, size);
    if size < 0 {
        return Err(bad());
    }
    let rounded = (size as u64).checked_add(511).ok_or_else(bad)? & !511;
    if rounded > image::MAX_SIZE {
        return Err(bad());
    }
    Ok(rounded)
}

/// `VDI.resize`: grows only (`VDI_TOO_SMALL` otherwise).
pub async fn resize(d: &Arc<Domain>, r: Ref, size: i64, owner: Ref) -> ApiResult<()> {
    let (_, dir, loc) = file_of(d, r)?;
    let (cur, ro) = d.registry.read_or(vdi::CLASS, r, |row| {
        (row.get(vdi::VIRTUAL_SIZE), row.get(vdi::READ_ONLY))
    })?;
    if ro {
        return Err(ApiError::vdi_read_only(r));
    }
    let new = check_size("size", size)?;
    if (new as i64) < cur {
        return Err(ApiError::vdi_too_small(r, cur));
    }
    let _claim = claims::claim_patiently(d, r, "resize", owner).await?;
    blocking(move || image::resize(&dir, &loc, new))
        .await?
        .map_err(|e| io_error("cannot resize the image", e))?;
    refresh(d, r).await?;
    // The persistent dirty bitmaps go back into the file, at the new size.
    bitmaps::copy_changed(d, r).await;
    Ok(())
}

/// Marks (or with `None` clears) a VDI as the incomplete target of a job
/// that failed, was cancelled or was interrupted: `sm_config:incomplete`
/// says why, so a half-written copy never looks like a good one.
pub async fn mark_incomplete(d: &Domain, vdi: Ref, why: Option<&str>) -> ApiResult<()> {
    match d.registry.update(vdi::CLASS, vdi, Write::Durable, |f| {
        f[vdi::SM_CONFIG].map_set("incomplete", why);
        Ok(())
    }) {
        Ok(((), c)) => durable(c).await,
        // A target that is gone needs no mark.
        Err(e) if e.code == codes::HANDLE_INVALID => Ok(()),
        Err(e) => Err(e),
    }
}

/// After a restart: no operation holds any VDI, and VDIs still being made
/// are kept if the task that made them succeeded and deleted otherwise.
/// (Snapshots still being taken or undone are left to
/// `snapshots::recover_after_restart`, which decides from their files.)
pub async fn recover_after_restart(d: &Arc<Domain>) -> anyhow::Result<()> {
    let mut building = Vec::new();
    for r in d.registry.refs(vdi::CLASS) {
        let ((), _) = d.registry.update(vdi::CLASS, r, Write::Volatile, |f| {
            f[vdi::CURRENT_OPERATIONS] = Value::Struct(Vec::new());
            claims::set_idle_allowed(f);
            let maker = f.field(vdi::BUILDING);
            if !maker.is_null() {
                building.push((
                    r,
                    maker,
                    f.field(vdi::IS_A_SNAPSHOT),
                    f.field(vdi::SNAPSHOT_OF),
                ));
            }
            Ok(())
        })?;
    }
    for (r, maker, is_snapshot, of) in building {
        if is_snapshot && !of.is_null() {
            // Decided by its files: `snapshots::recover_after_restart`.
            continue;
        }
        if tasks::succeeded(d, maker) {
            tracing::info!(vdi = %r, "VDI made by a task that succeeded: keeping it");
            commit(d, r).await?;
            continue;
        }
        tracing::warn!(vdi = %r, "VDI was being made when the server stopped: deleting it");
        if delete(d, r).await.is_err() {
            forget(d, r).await?;
        }
    }
    Ok(())
}
