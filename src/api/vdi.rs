//! `VDI`: image files in SRs. Create, destroy, resize, snapshot here;
//! copy and clone run as backup jobs ([`crate::jobs`]). Sizes come from the
//! files; labels, `other_config` and snapshot links live in the registry and
//! persist.

use std::sync::Arc;

use uuid::Uuid;

use super::implicit::{record_member, row_from_record};
use super::sr::{backend_failure, refresh_totals};
use super::{busy, task, ApiError, ApiResult, Args, BoxFuture, Ctx, Server};
use crate::jobs::engine::{self, JobKind, Spec, Sync};
use crate::registry::Write;
use crate::storage::image::{self, Format, Probe};
use crate::storage::path::SrDir;
use crate::wire::{DateTime, Ref, Value};

/// The value of `key` in a `(string -> string) map`.
pub fn map_get<'a>(m: &'a Value, key: &str) -> Option<&'a str> {
    match m {
        Value::Struct(kv) => kv
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_str()),
        _ => None,
    }
}

/// Sets (or with `None` removes) `key` in a `(string -> string) map`.
pub fn map_set(m: &mut Value, key: &str, value: Option<&str>) {
    if !matches!(m, Value::Struct(_)) {
        *m = Value::Struct(Vec::new());
    }
    if let Value::Struct(kv) = m {
        kv.retain(|(k, _)| k != key);
        if let Some(v) = value {
            kv.push((key.to_string(), Value::from(v)));
        }
    }
}

/// An I/O failure on a VDI, as the client sees it.
pub fn io_error(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new("VDI_IO_ERROR", [format!("{what}: {e}")])
}

/// Runs blocking file work off the RPC threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> ApiResult<std::io::Result<T>> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// Where a VDI's file is: its SR's directory and its file name.
pub fn file_of(server: &Server, vdi: Ref) -> ApiResult<(Ref, SrDir, String)> {
    let v = &server.ids.vdi;
    let (sr, loc) = server.registry.read_or(v.class, vdi, |row| {
        (
            match row.fields[v.sr] {
                Value::Ref(r) => r,
                _ => Ref::NULL,
            },
            row.fields[v.location].as_str().unwrap_or("").to_string(),
        )
    })?;
    let st = server.srs.get(sr)?;
    Ok((sr, st.dir.clone(), loc))
}

/// The format a VDI is known to have (`sm_config:image-format`).
pub fn known_format(server: &Server, vdi: Ref) -> ApiResult<Format> {
    let v = &server.ids.vdi;
    server.registry.read_or(v.class, vdi, |row| {
        map_get(&row.fields[v.sm_config], "image-format")
            .and_then(Format::from_name)
            .unwrap_or(Format::Raw)
    })
}

/// Probes the file of a VDI whose format is known. A raw disk is never
/// looked at as anything else (a guest may have written a qcow2 header into
/// it): its size is the file's length. A qcow2 that no longer is one is an
/// error.
pub fn probe_known(dir: &SrDir, loc: &str, format: Format) -> std::io::Result<Probe> {
    use std::os::unix::fs::MetadataExt;
    match format {
        Format::Raw => {
            let m = dir.open_file(loc, false)?.metadata()?;
            Ok(Probe {
                format: Format::Raw,
                virtual_size: m.len(),
                physical_utilisation: m.blocks().saturating_mul(512),
                backing: None,
                backing_format: None,
            })
        }
        Format::Qcow2 => {
            let p = image::probe(dir, loc)?;
            if p.format != Format::Qcow2 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the file of a qcow2 VDI is no longer a qcow2 image",
                ));
            }
            Ok(p)
        }
    }
}

/// Writes what a probe of the file says into the VDI's row.
fn probe_fields(f: &mut [Value], v: &super::ids::VdiIds, p: &Probe) {
    f[v.virtual_size] = Value::Int(p.virtual_size.min(i64::MAX as u64) as i64);
    f[v.physical_utilisation] = Value::Int(p.physical_utilisation.min(i64::MAX as u64) as i64);
    map_set(&mut f[v.sm_config], "image-format", Some(p.format.name()));
    map_set(&mut f[v.sm_config], "backing-file", p.backing.as_deref());
}

/// Refreshes a VDI's sizes and format from a probe.
pub async fn apply_probe(server: &Server, vdi: Ref, p: &Probe) -> ApiResult<()> {
    let v = &server.ids.vdi;
    let ((), c) = server.registry.update(v.class, vdi, Write::Durable, |f| {
        probe_fields(f, v, p);
        Ok(())
    })?;
    c.wait().await.map_err(ApiError::internal)
}

/// Probes a VDI's file anew and records what it found (and the SR totals).
pub async fn refresh(server: &Server, vdi: Ref) -> ApiResult<()> {
    let (sr, dir, loc) = file_of(server, vdi)?;
    let format = known_format(server, vdi)?;
    let p = blocking(move || probe_known(&dir, &loc, format))
        .await?
        .map_err(|e| io_error("cannot read the image", e))?;
    apply_probe(server, vdi, &p).await?;
    refresh_totals(server, sr, None).await
}

/// A fresh VDI row for a file of `sr`.
fn new_row(server: &Server, sr: Ref, location: &str, p: &Probe, label: &str) -> Box<[Value]> {
    let v = &server.ids.vdi;
    let mut f = server.model.default_row(v.class);
    f[v.uuid] = Value::from(Uuid::new_v4().to_string());
    f[v.name_label] = Value::from(label);
    f[v.sr] = Value::Ref(sr);
    f[v.location] = Value::from(location);
    f[v.allowed_operations] = busy::idle_allowed(false);
    probe_fields(&mut f, v, p);
    f
}

/// Makes a VDI of a file a scan found.
pub async fn introduce(server: &Server, sr: Ref, name: &str, p: &Probe) -> ApiResult<Ref> {
    let f = new_row(server, sr, name, p, name);
    let r = Ref::new();
    server
        .registry
        .insert(server.ids.vdi.class, r, f)
        .wait()
        .await
        .map_err(ApiError::internal)?;
    Ok(r)
}

/// Removes a VDI's row (not its file) and the snapshot links to it.
pub async fn forget(server: &Server, vdi: Ref) -> ApiResult<()> {
    let v = &server.ids.vdi;
    let Some((row, c)) = server.registry.remove(v.class, vdi) else {
        return Ok(());
    };
    c.wait().await.map_err(ApiError::internal)?;
    // Its VBDs go with it.
    if let Value::Array(vbds) = &row.fields[v.vbds] {
        for b in vbds {
            if let Value::Ref(b) = b {
                super::vbd::remove(server, *b).await?;
            }
        }
    }
    let mut linked = Vec::new();
    if let Value::Ref(o) = row.fields[v.snapshot_of] {
        linked.push(o);
    }
    if let Value::Array(snaps) = &row.fields[v.snapshots] {
        linked.extend(snaps.iter().filter_map(|s| match s {
            Value::Ref(r) => Some(*r),
            _ => None,
        }));
    }
    for o in linked {
        if let Ok(((), c)) = server.registry.update(v.class, o, Write::Durable, |f| {
            if let Value::Array(s) = &mut f[v.snapshots] {
                s.retain(|x| *x != Value::Ref(vdi));
            }
            if f[v.snapshot_of] == Value::Ref(vdi) {
                f[v.snapshot_of] = Value::Ref(Ref::NULL);
            }
            Ok(())
        }) {
            c.wait().await.map_err(ApiError::internal)?;
        }
    }
    Ok(())
}

/// Deletes a VDI's file and forgets it.
pub async fn delete(server: &Server, vdi: Ref) -> ApiResult<()> {
    let (sr, dir, loc) = file_of(server, vdi)?;
    let st = server.srs.get(sr)?;
    {
        let _g = st.lock.lock().await;
        blocking(move || match dir.path(&loc) {
            Ok(p) => match std::fs::remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            Err(_) => Ok(()),
        })
        .await?
        .map_err(|e| backend_failure("cannot delete the image file", e))?;
        forget(server, vdi).await?;
    }
    refresh_totals(server, sr, None).await
}

/// After a restart: no operation holds any VDI, and the new VDIs of copies,
/// clones and snapshots that did not finish are deleted (a snapshot whose
/// overlay was already switched over is kept).
pub async fn recover_after_restart(server: &Arc<Server>) -> anyhow::Result<()> {
    let v = &server.ids.vdi;
    let mut building = Vec::new();
    for r in server.registry.refs(v.class) {
        let ((), _) = server.registry.update(v.class, r, Write::Volatile, |f| {
            f[v.current_operations] = Value::Struct(Vec::new());
            let ro = f[v.read_only] == Value::Bool(true);
            f[v.allowed_operations] = busy::idle_allowed(ro);
            if matches!(f[v.building], Value::Ref(t) if !t.is_null()) {
                building.push((r, f[v.snapshot_of].clone(), f[v.location].clone()));
            }
            Ok(())
        })?;
    }
    for (r, of, loc) in building {
        // A snapshot is complete once its VDI's file has it as backing.
        if let (Value::Ref(of), Some(loc)) = (of, loc.as_str()) {
            if !of.is_null() {
                if let Ok((_, dir, ofloc)) = file_of(server, of) {
                    let f = known_format(server, of)?;
                    let p =
                        tokio::task::spawn_blocking(move || probe_known(&dir, &ofloc, f)).await?;
                    if p.ok().and_then(|p| p.backing).as_deref() == Some(loc) {
                        let ((), c) = server.registry.update(v.class, r, Write::Durable, |f| {
                            f[v.building] = Value::Ref(Ref::NULL);
                            Ok(())
                        })?;
                        c.wait().await?;
                        continue;
                    }
                }
            }
        }
        tracing::warn!(vdi = %r, "VDI was being built when the server stopped: deleting it");
        if delete(server, r).await.is_err() {
            forget(server, r).await?;
        }
    }
    // Temporary overlays of snapshots that did not finish.
    for e in server.srs.all() {
        if let Ok(names) = e.dir.list() {
            for n in names.iter().filter(|n| n.ends_with(PARTIAL)) {
                if let Ok(p) = e.dir.path(n) {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }
    Ok(())
}

/// Suffix of files xapid is still writing (never introduced by a scan).
pub const PARTIAL: &str = ".xapid-partial";

fn file_name(uuid: &str, format: Format) -> String {
    format!("{uuid}.{}", format.name())
}

/// `VDI.create(args)`.
pub fn create(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let v = &s.ids.vdi;
        let rec = a.take(0);
        let missing = |f: &str| ApiError::new("FIELD_TYPE_ERROR", [f.to_string()]);
        let sr = match record_member(s, &rec, v.class, "SR")?.ok_or_else(|| missing("SR"))? {
            Value::Ref(r) => r,
            _ => return Err(missing("SR")),
        };
        let size = match record_member(s, &rec, v.class, "virtual_size")?
            .ok_or_else(|| missing("virtual_size"))?
        {
            Value::Int(n) => n,
            _ => return Err(missing("virtual_size")),
        };
        let size = check_size(size)?;
        let st = s.srs.get(sr)?;
        let mut f = row_from_record(
            s,
            v.class,
            &rec,
            &[
                "name_label",
                "name_description",
                "type",
                "sharable",
                "read_only",
                "other_config",
                "sm_config",
            ],
        )?;
        let format = match map_get(&f[v.sm_config], "image-format") {
            None => Format::Raw,
            Some(n) => Format::from_name(n).ok_or_else(|| {
                ApiError::new(
                    "INVALID_VALUE",
                    ["sm_config:image-format".to_string(), n.to_string()],
                )
            })?,
        };
        let uuid = Uuid::new_v4().to_string();
        let loc = file_name(&uuid, format);
        let r = Ref::new();
        {
            let _g = st.lock.lock().await;
            let (dir, l) = (st.dir.clone(), loc.clone());
            let p = blocking(move || {
                image::create(&dir, &l, format, size, None)?;
                image::probe(&dir, &l)
            })
            .await?
            .map_err(|e| create_error(&st.dir, size, e))?;
            f[v.uuid] = Value::from(uuid);
            f[v.sr] = Value::Ref(sr);
            f[v.location] = Value::from(loc.as_str());
            let ro = f[v.read_only] == Value::Bool(true);
            f[v.allowed_operations] = busy::idle_allowed(ro);
            probe_fields(&mut f, v, &p);
            s.registry
                .insert(v.class, r, f)
                .wait()
                .await
                .map_err(ApiError::internal)?;
        }
        refresh_totals(s, sr, None).await?;
        Ok(Value::Ref(r))
    })
}

/// `SR_FULL [requested, maximum]` when the file system cannot hold the
/// image (no space, or larger than its largest file), else
/// `SR_BACKEND_FAILURE`.
fn create_error(dir: &SrDir, size: u64, e: std::io::Error) -> ApiError {
    match e.raw_os_error() {
        Some(libc::EFBIG) | Some(libc::ENOSPC) => ApiError::new(
            "SR_FULL",
            [size.to_string(), super::sr::fs_size(dir.root()).to_string()],
        ),
        _ => backend_failure("cannot create the image file", e),
    }
}

/// A requested virtual size: non-negative, rounded up to 512 bytes, within
/// what an image can hold.
fn check_size(size: i64) -> ApiResult<u64> {
    let bad = || {
        ApiError::new(
            "INVALID_VALUE",
            ["virtual_size".to_string(), size.to_string()],
        )
    };
    if size < 0 {
        return Err(bad());
    }
    let rounded = (size as u64).checked_add(511).ok_or_else(bad)? & !511;
    if rounded > image::MAX_SIZE {
        return Err(bad());
    }
    Ok(rounded)
}

/// The ref that operations on behalf of this call are recorded under.
fn op_owner(cx: &Ctx) -> Ref {
    cx.task.unwrap_or(cx.session)
}

/// `VDI.destroy(self)`.
pub fn destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let v = &s.ids.vdi;
        let r = a.r(0);
        let (sr, _, loc) = file_of(s, r)?;
        let _claim = busy::claim(s, r, "destroy", op_owner(&cx))?;
        // A VDI that is another's backing image stays.
        let mut user = None;
        s.registry.for_each(v.class, |o, row| {
            if o != r
                && row.fields[v.sr] == Value::Ref(sr)
                && map_get(&row.fields[v.sm_config], "backing-file") == Some(loc.as_str())
            {
                user = Some(o);
            }
        });
        if user.is_some() {
            return Err(ApiError::new(
                "VDI_IN_USE",
                [r.to_string(), "destroy".to_string()],
            ));
        }
        delete(s, r).await?;
        Ok(Value::void())
    })
}

/// `VDI.resize(vdi, size)`.
pub fn resize(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let v = &s.ids.vdi;
        let r = a.r(0);
        let size = a.i64(1);
        let (_, dir, loc) = file_of(s, r)?;
        let (cur, ro) = s.registry.read_or(v.class, r, |row| {
            (
                match row.fields[v.virtual_size] {
                    Value::Int(n) => n,
                    _ => 0,
                },
                row.fields[v.read_only] == Value::Bool(true),
            )
        })?;
        if ro {
            return Err(ApiError::new("VDI_READ_ONLY", [r.to_string()]));
        }
        let new = check_size(size)
            .map_err(|_| ApiError::new("INVALID_VALUE", ["size".to_string(), size.to_string()]))?;
        if (new as i64) < cur {
            return Err(ApiError::new(
                "VDI_TOO_SMALL",
                [r.to_string(), cur.to_string()],
            ));
        }
        let _claim = busy::claim(s, r, "resize", op_owner(&cx))?;
        blocking(move || image::resize(&dir, &loc, new))
            .await?
            .map_err(|e| io_error("cannot resize the image", e))?;
        refresh(s, r).await?;
        Ok(Value::void())
    })
}

/// `VDI.snapshot(vdi, driver_params)`: the current file becomes the
/// snapshot (a second name for it, at once), and a new qcow2 overlay with
/// it as backing replaces the VDI's file in one rename.
pub fn snapshot(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move { snapshot_vdi(&cx, a.r(0)).await.map(Value::Ref) })
}

/// Takes the snapshot of `r` (see [`snapshot`]); returns the snapshot VDI.
pub(crate) async fn snapshot_vdi(cx: &Ctx, r: Ref) -> ApiResult<Ref> {
    {
        let s = &cx.server;
        let v = &s.ids.vdi;
        let (sr, dir, loc) = file_of(s, r)?;
        let _claim = busy::claim(s, r, "snapshot", op_owner(cx))?;
        let st = s.srs.get(sr)?;
        let (label, desc, fmt) = s.registry.read_or(v.class, r, |row| {
            (
                row.fields[v.name_label].clone(),
                row.fields[v.name_description].clone(),
                map_get(&row.fields[v.sm_config], "image-format")
                    .and_then(Format::from_name)
                    .unwrap_or(Format::Raw),
            )
        })?;
        let snap = Ref::new();
        let uuid = Uuid::new_v4().to_string();
        let snap_loc = file_name(&uuid, fmt);
        let building = cx.task.unwrap_or(snap);
        let _g = st.lock.lock().await;
        let (d, l) = (dir.clone(), loc.clone());
        let p = blocking(move || probe_known(&d, &l, fmt))
            .await?
            .map_err(|e| io_error("cannot read the image", e))?;
        // 1. The snapshot's row, durable and marked as building: a restart
        //    before step 4 deletes the snapshot's name again.
        let mut f = new_row(s, sr, &snap_loc, &p, "");
        f[v.uuid] = Value::from(uuid.as_str());
        f[v.name_label] = label;
        f[v.name_description] = desc;
        f[v.is_a_snapshot] = Value::Bool(true);
        f[v.read_only] = Value::Bool(true);
        f[v.allowed_operations] = busy::idle_allowed(true);
        f[v.snapshot_of] = Value::Ref(r);
        f[v.snapshot_time] = Value::DateTime(DateTime::now());
        f[v.building] = Value::Ref(building);
        s.registry
            .insert(v.class, snap, f)
            .wait()
            .await
            .map_err(ApiError::internal)?;
        // 2. A second name for the current file; 3. an overlay on it;
        // 4. the overlay takes the VDI's name in one atomic rename.
        let (d, l, sl) = (dir.clone(), loc.clone(), snap_loc.clone());
        let size = p.virtual_size;
        let done = blocking(move || {
            let tmp = format!("{}{PARTIAL}", Uuid::new_v4());
            let cur = d.path(&l).map_err(std::io::Error::other)?;
            let sp = d.path(&sl).map_err(std::io::Error::other)?;
            std::fs::hard_link(&cur, &sp)?;
            let undo = |e: std::io::Error| {
                let _ = std::fs::remove_file(&sp);
                e
            };
            image::create(&d, &tmp, Format::Qcow2, size, Some(&sl)).map_err(undo)?;
            let tp = d.path(&tmp).map_err(std::io::Error::other)?;
            if let Err(e) = std::fs::rename(&tp, &cur) {
                let _ = std::fs::remove_file(&tp);
                return Err(undo(e));
            }
            std::fs::File::open(d.root())?.sync_all()?;
            Ok(())
        })
        .await?;
        if let Err(e) = done {
            forget(s, snap).await?;
            return Err(io_error("cannot take the snapshot", e));
        }
        let ((), c) = s.registry.update(v.class, snap, Write::Durable, |f| {
            f[v.building] = Value::Ref(Ref::NULL);
            Ok(())
        })?;
        c.wait().await.map_err(ApiError::internal)?;
        let ((), c) = s.registry.update(v.class, r, Write::Durable, |f| {
            if let Value::Array(snaps) = &mut f[v.snapshots] {
                snaps.push(Value::Ref(snap));
            }
            // The VDI is now the qcow2 overlay.
            map_set(&mut f[v.sm_config], "image-format", Some("qcow2"));
            Ok(())
        })?;
        c.wait().await.map_err(ApiError::internal)?;
        drop(_g);
        refresh(s, r).await?;
        refresh(s, snap).await?;
        Ok(snap)
    }
}

/// Undoes a snapshot just taken (a failed transaction): the snapshot's
/// file, which holds the VDI's data, takes the VDI's name again in one
/// rename, and the snapshot VDI is forgotten.
pub(crate) async fn undo_snapshot(
    server: &Server,
    vdi: Ref,
    snap: Ref,
    format: Format,
) -> ApiResult<()> {
    let v = &server.ids.vdi;
    let (sr, dir, loc) = file_of(server, vdi)?;
    let (_, _, snap_loc) = file_of(server, snap)?;
    let st = server.srs.get(sr)?;
    {
        let _g = st.lock.lock().await;
        blocking(move || {
            let from = dir.path(&snap_loc).map_err(std::io::Error::other)?;
            let to = dir.path(&loc).map_err(std::io::Error::other)?;
            std::fs::rename(from, to)?;
            std::fs::File::open(dir.root())?.sync_all()
        })
        .await?
        .map_err(|e| io_error("cannot undo the snapshot", e))?;
        forget(server, snap).await?;
    }
    let ((), c) = server.registry.update(v.class, vdi, Write::Durable, |f| {
        map_set(&mut f[v.sm_config], "image-format", Some(format.name()));
        Ok(())
    })?;
    c.wait().await.map_err(ApiError::internal)?;
    refresh(server, vdi).await
}

/// `VDI.copy(vdi, sr)`.
pub fn copy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let (vdi, sr) = (a.r(0), a.r(1));
        full_copy(cx, vdi, sr, "copy").await
    })
}

/// `VDI.clone(vdi, driver_params)`.
pub fn clone(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let vdi = a.r(0);
        let (sr, _, _) = file_of(&cx.server, vdi)?;
        full_copy(cx, vdi, sr, "clone").await
    })
}

/// A full copy of `vdi` as a new VDI of `sr`, by a backup job (sync=full).
/// The new VDI is marked as building until the job succeeds; if the job
/// fails or is cancelled, it is destroyed.
pub(crate) async fn full_copy(cx: Ctx, vdi: Ref, sr: Ref, op: &'static str) -> ApiResult<Value> {
    let s = &cx.server;
    let v = &s.ids.vdi;
    let (_, sdir, sloc) = file_of(s, vdi)?;
    let dst = s.srs.get(sr)?;
    let owner = op_owner(&cx);
    let _claim = busy::claim(s, vdi, op, owner)?;
    let (label, desc, other, ty, sharable) = s.registry.read_or(v.class, vdi, |row| {
        (
            row.fields[v.name_label].clone(),
            row.fields[v.name_description].clone(),
            row.fields[v.other_config].clone(),
            row.fields[v.ty].clone(),
            row.fields[v.sharable].clone(),
        )
    })?;
    let sfmt = known_format(s, vdi)?;
    let p = blocking(move || probe_known(&sdir, &sloc, sfmt))
        .await?
        .map_err(|e| io_error("cannot read the image", e))?;
    let uuid = Uuid::new_v4().to_string();
    let loc = file_name(&uuid, p.format);
    let new = Ref::new();
    {
        let _g = dst.lock.lock().await;
        let (d, l, fmt, size) = (dst.dir.clone(), loc.clone(), p.format, p.virtual_size);
        let np = blocking(move || {
            image::create(&d, &l, fmt, size, None)?;
            image::probe(&d, &l)
        })
        .await?
        .map_err(|e| create_error(&dst.dir, p.virtual_size, e))?;
        let mut f = new_row(s, sr, &loc, &np, "");
        f[v.uuid] = Value::from(uuid);
        f[v.name_label] = label;
        f[v.name_description] = desc;
        f[v.other_config] = other;
        f[v.ty] = ty;
        f[v.sharable] = sharable;
        f[v.building] = Value::Ref(owner);
        s.registry
            .insert(v.class, new, f)
            .wait()
            .await
            .map_err(ApiError::internal)?;
    }
    let cancel = cx.task.map(|t| task::make_cancellable(s, t));
    let spec = Spec {
        kind: JobKind::Backup { sync: Sync::Full },
        device: vdi,
        target: new,
        task: cx.task,
        cancel,
        fresh_target: true,
        read_only_device: true,
        // Copies of one VDI may run side by side: each job its own id.
        job_id: Some(format!("{op}-{}", Uuid::new_v4())),
        ..Spec::default()
    };
    let outcome = match engine::start(s, spec).await {
        Ok(job) => job.wait().await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            let ((), c) = s.registry.update(v.class, new, Write::Durable, |f| {
                f[v.building] = Value::Ref(Ref::NULL);
                Ok(())
            })?;
            c.wait().await.map_err(ApiError::internal)?;
            refresh(s, new).await?;
            Ok(Value::Ref(new))
        }
        Err(e) => {
            if let Err(d) = delete(s, new).await {
                tracing::warn!(vdi = %new, error = %d, "could not delete a failed copy");
            }
            Err(e)
        }
    }
}

/// The end of a mirror or an active commit: `vdi` now lives in `onto`'s
/// file and SR, `onto`'s object is gone, and `vdi`'s old file is deleted.
pub async fn pivot(server: &Server, vdi: Ref, onto: Ref) -> ApiResult<()> {
    let v = &server.ids.vdi;
    let (old_sr, old_dir, old_loc) = file_of(server, vdi)?;
    let (new_sr, _, new_loc) = file_of(server, onto)?;
    let new_format = known_format(server, onto)?;
    forget(server, onto).await?;
    let ((), c) = server.registry.update(v.class, vdi, Write::Durable, |f| {
        f[v.sr] = Value::Ref(new_sr);
        f[v.location] = Value::from(new_loc.as_str());
        map_set(&mut f[v.sm_config], "image-format", Some(new_format.name()));
        f[v.read_only] = Value::Bool(false);
        Ok(())
    })?;
    c.wait().await.map_err(ApiError::internal)?;
    let st = server.srs.get(old_sr)?;
    {
        let _g = st.lock.lock().await;
        let gone = blocking(move || {
            std::fs::remove_file(old_dir.path(&old_loc).map_err(std::io::Error::other)?)
        })
        .await?;
        if let Err(e) = gone {
            tracing::warn!(vdi = %vdi, error = %e, "could not delete the old file after a pivot");
        }
    }
    refresh(server, vdi).await?;
    if old_sr != new_sr {
        refresh_totals(server, old_sr, None).await?;
    }
    Ok(())
}

/// Marks (or with `None` clears) a VDI as the incomplete target of a job
/// that failed, was cancelled or was interrupted: `sm_config:incomplete`
/// says why, so a half-written copy never looks like a good one.
pub async fn mark_incomplete(server: &Server, vdi: Ref, why: Option<&str>) {
    let v = &server.ids.vdi;
    if let Ok(((), c)) = server.registry.update(v.class, vdi, Write::Durable, |f| {
        map_set(&mut f[v.sm_config], "incomplete", why);
        Ok(())
    }) {
        let _ = c.wait().await;
    }
}
