//! Named dirty bitmaps of VDIs, as QEMU's (`block_dirty_bitmap`, a xapid
//! extension): add, remove, clear, enable, disable, merge, with QEMU's
//! rules (names unique per VDI, granularity a power of two from 512 to
//! 2^31, `busy` and `inconsistent` refuse changes).
//!
//! Each bitmap's bits live in a change log (`storage::change_log`, under
//! `<state>/bitmaps/<bitmap-uuid>.cbtlog`, at the bitmap's granularity)
//! that every write into the VDI marks before the data is written, as
//! CBT's: a crash leaves a superset, never an inconsistent bitmap. A
//! transient bitmap (`persistent = false`) goes when the server starts
//! again, as QEMU's; a persistent one (qcow2 VDIs only, as QEMU) stays.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use dashmap::DashMap;
use uuid::Uuid;

use super::{blocking, durable, invalid, to_int, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{block_dirty_bitmap as bm, vdi, VdiType};
use crate::model::{Map, RowExt};
use crate::registry::Write;
use crate::storage::change_log::Tracker;
use crate::storage::change_log::{self, ChangeLog};
use crate::storage::crash;
use crate::storage::image;
use crate::wire::{Ref, Value};

mod image_copy;
pub use image_copy::{spawn as spawn_sync, stale, sync, Copies, RETRY};

/// The bitmaps' logs: where they are, and the open ones.
#[derive(Debug)]
pub struct Bitmaps {
    dir: PathBuf,
    open: DashMap<Ref, Tracker>,
    /// Serializes changes to bitmaps (add, remove, merge, clear).
    lock: tokio::sync::Mutex<()>,
    /// The copies in the VDIs' qcow2 files.
    pub copies: Copies,
}

impl Bitmaps {
    /// The logs under `state_dir/bitmaps`.
    pub fn open(state_dir: &std::path::Path) -> io::Result<Bitmaps> {
        let dir = state_dir.join("bitmaps");
        std::fs::create_dir_all(&dir)?;
        Ok(Bitmaps {
            dir,
            open: DashMap::new(),
            lock: tokio::sync::Mutex::new(()),
            copies: Copies::default(),
        })
    }
}

fn log_error(e: impl std::fmt::Display) -> ApiError {
    super::backend_failure("dirty bitmap", e)
}

/// What of a bitmap's row its rules need.
struct Info {
    uuid: String,
    name: String,
    vdi: Ref,
    granularity: u64,
    recording: bool,
    persistent: bool,
    busy: bool,
    inconsistent: bool,
}

fn info(d: &Domain, r: Ref) -> ApiResult<Info> {
    d.registry.read_or(bm::CLASS, r, |row| Info {
        uuid: row.get(bm::UUID),
        name: row.get(bm::NAME_),
        vdi: row.get(bm::VDI),
        granularity: row.get(bm::GRANULARITY).max(512) as u64,
        recording: row.get(bm::RECORDING),
        persistent: row.get(bm::PERSISTENT),
        busy: row.get(bm::BUSY),
        inconsistent: row.get(bm::INCONSISTENT),
    })
}

/// The bitmaps of `vdi`.
pub fn of(d: &Domain, vdi: Ref) -> Vec<Ref> {
    let mut out = Vec::new();
    d.registry.for_each(bm::CLASS, |r, row| {
        if row.get(bm::VDI) == vdi {
            out.push(r);
        }
    });
    out
}

/// The bitmap of `vdi` named `name`.
pub fn named(d: &Domain, vdi: Ref, name: &str) -> Option<Ref> {
    of(d, vdi).into_iter().find(|r| {
        d.registry
            .read_or(bm::CLASS, *r, |row| row.get(bm::NAME_) == name)
            .unwrap_or(false)
    })
}

fn parse_bool(options: &Map<String>, key: &str) -> ApiResult<bool> {
    match options.get(key).map(String::as_str) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(invalid(key, v)),
    }
}

/// `block_dirty_bitmap.add(vdi, name, options)`.
pub async fn add(d: &Arc<Domain>, vdi: Ref, name: &str, options: &Map<String>) -> ApiResult<Ref> {
    for (k, _) in options.iter() {
        if !["granularity", "persistent", "disabled"].contains(&k) {
            return Err(invalid("options", k));
        }
    }
    if name.is_empty() || name.len() > 1023 {
        return Err(invalid("name", "1 to 1023 bytes"));
    }
    let (sr, loc, format, kind) = d.registry.read_or(vdi::CLASS, vdi, |row| {
        (
            row.get(vdi::SR),
            row.get(vdi::LOCATION),
            row.fields[vdi::SM_CONFIG]
                .map_get("image-format")
                .unwrap_or("raw")
                .to_string(),
            row.get(vdi::TYPE),
        )
    })?;
    if kind == VdiType::CbtMetadata {
        return Err(ApiError::vdi_incompatible_type(vdi, kind.name()));
    }
    let persistent = parse_bool(options, "persistent")?;
    let disabled = parse_bool(options, "disabled")?;
    if persistent && format != "qcow2" {
        return Err(ApiError::operation_not_allowed(
            "persistent dirty bitmaps need a qcow2 VDI",
        ));
    }
    let granularity = match options.get("granularity") {
        Some(g) => match g.parse::<u64>() {
            Ok(n) if n.is_power_of_two() && (512..=1 << 31).contains(&n) => n,
            _ => return Err(invalid("granularity", g)),
        },
        None if format == "qcow2" => {
            let dir = d.srs.get(sr)?.dir.clone();
            let cs = blocking(move || image::cluster_size(&dir, &loc))
                .await?
                .map_err(log_error)?;
            cs.unwrap_or(65536).clamp(4096, 65536)
        }
        None => 65536,
    };
    let _g = d.bitmaps.lock.lock().await;
    if named(d, vdi, name).is_some() {
        return Err(ApiError::block_dirty_bitmap_exists(vdi, name));
    }
    let uuid = Uuid::new_v4().to_string();
    // The log first (a restart sweeps one without a row), then the row.
    let (dir, u) = (d.bitmaps.dir.clone(), uuid.clone());
    let gbits = granularity.trailing_zeros();
    blocking(move || change_log::write_with(&dir, &u, &[], gbits))
        .await?
        .map_err(log_error)?;
    crash::point("bitmap.log");
    let mut f = d.model.default_row(bm::CLASS);
    f.set(bm::UUID, uuid.as_str());
    f.set(bm::NAME_, name);
    f.set(bm::VDI, vdi);
    f.set(bm::GRANULARITY, to_int(granularity));
    f.set(bm::RECORDING, !disabled);
    f.set(bm::PERSISTENT, persistent);
    let r = Ref::new();
    durable(d.registry.insert(bm::CLASS, r, f)).await?;
    if persistent {
        copy_changed(d, vdi).await;
    }
    Ok(r)
}

/// After a change to `vdi`'s bitmaps or file: its file's copy is stored
/// again (a failure is logged: the change logs hold the truth, and the
/// next sync stores it).
pub async fn copy_changed(d: &Domain, vdi: Ref) {
    if let Err(e) = sync(d, vdi).await {
        tracing::warn!(vdi = %vdi, error = %e, "could not store a VDI's dirty bitmaps in its file");
    }
}

fn check_usable(r: Ref, i: &Info) -> ApiResult<()> {
    if i.busy {
        return Err(ApiError::block_dirty_bitmap_busy(r));
    }
    if i.inconsistent {
        return Err(ApiError::block_dirty_bitmap_inconsistent(r));
    }
    Ok(())
}

/// `block_dirty_bitmap.remove(self)`: the row, then the log.
pub async fn remove(d: &Domain, r: Ref) -> ApiResult<()> {
    let i = info(d, r)?;
    if i.busy {
        return Err(ApiError::block_dirty_bitmap_busy(r));
    }
    let _g = d.bitmaps.lock.lock().await;
    drop_one(d, r, i.uuid).await?;
    copy_changed(d, i.vdi).await;
    Ok(())
}

async fn drop_one(d: &Domain, r: Ref, uuid: String) -> ApiResult<()> {
    if let Some((_, c)) = d.registry.remove(bm::CLASS, r) {
        durable(c).await?;
    }
    d.bitmaps.open.remove(&r);
    let dir = d.bitmaps.dir.clone();
    blocking(move || change_log::remove(&dir, &uuid))
        .await?
        .map_err(log_error)?;
    Ok(())
}

/// Before `vdi`'s row goes: its bitmaps go.
pub async fn forget_of(d: &Domain, vdi: Ref) -> ApiResult<()> {
    for r in of(d, vdi) {
        if let Ok(i) = info(d, r) {
            drop_one(d, r, i.uuid).await?;
        }
    }
    Ok(())
}

async fn tracker(d: &Domain, r: Ref, uuid: &str) -> ApiResult<Tracker> {
    if let Some(t) = d.bitmaps.open.get(&r) {
        return Ok(t.clone());
    }
    let (dir, u) = (d.bitmaps.dir.clone(), uuid.to_string());
    let log = blocking(move || ChangeLog::open(&dir, &u))
        .await?
        .map_err(log_error)?
        .ok_or_else(|| log_error("the bitmap's log is missing"))?;
    Ok(d.bitmaps
        .open
        .entry(r)
        .or_insert_with(|| Tracker::from(log))
        .clone())
}

/// `block_dirty_bitmap.clear(self)`.
pub async fn clear(d: &Domain, r: Ref) -> ApiResult<()> {
    let i = info(d, r)?;
    check_usable(r, &i)?;
    let _g = d.bitmaps.lock.lock().await;
    let t = tracker(d, r, &i.uuid).await?;
    blocking(move || t.clear()).await?.map_err(log_error)?;
    set(d, r, |f| f.set(bm::COUNT, 0i64)).await?;
    copy_changed(d, i.vdi).await;
    Ok(())
}

/// `block_dirty_bitmap.enable(self)` / `disable(self)`.
pub async fn set_recording(d: &Domain, r: Ref, on: bool) -> ApiResult<()> {
    let i = info(d, r)?;
    check_usable(r, &i)?;
    set(d, r, |f| f.set(bm::RECORDING, on)).await?;
    copy_changed(d, i.vdi).await;
    Ok(())
}

async fn set(d: &Domain, r: Ref, f: impl FnOnce(&mut [Value])) -> ApiResult<()> {
    let ((), c) = d.registry.update(bm::CLASS, r, Write::Durable, |row| {
        f(row);
        Ok(())
    })?;
    durable(c).await
}

/// The bits of `bits` (at `from` bytes per bit) at `to` bytes per bit: a
/// set source bit sets every target bit it overlaps.
fn regrain(bits: &[u8], from: u64, to: u64) -> Vec<u8> {
    if from == to {
        return bits.to_vec();
    }
    let mut out = Vec::new();
    for (i, byte) in bits.iter().enumerate() {
        for k in 0..8 {
            if byte & (0x80 >> k) == 0 {
                continue;
            }
            let b = i as u64 * 8 + k;
            let (start, end) = (b * from, (b + 1) * from);
            for t in start / to..end.div_ceil(to) {
                let idx = (t / 8) as usize;
                if out.len() <= idx {
                    out.resize(idx + 1, 0);
                }
                out[idx] |= 0x80 >> (t % 8);
            }
        }
    }
    out
}

/// `block_dirty_bitmap.merge(target, sources)`.
pub async fn merge(d: &Domain, target: Ref, sources: &[Ref]) -> ApiResult<()> {
    let ti = info(d, target)?;
    check_usable(target, &ti)?;
    let mut infos = Vec::new();
    for s in sources {
        let si = info(d, *s)?;
        if si.inconsistent {
            return Err(ApiError::block_dirty_bitmap_inconsistent(*s));
        }
        if si.vdi != ti.vdi {
            return Err(invalid("sources", "a bitmap of another VDI"));
        }
        infos.push((*s, si));
    }
    let _g = d.bitmaps.lock.lock().await;
    let mut acc = Vec::new();
    for (s, si) in &infos {
        let (g, bits) = tracker(d, *s, &si.uuid).await?.snapshot();
        change_log::or_into(&mut acc, &regrain(&bits, g, ti.granularity));
    }
    let t = tracker(d, target, &ti.uuid).await?;
    blocking(move || t.merge(&acc)).await?.map_err(log_error)?;
    refresh_count(d, target).await?;
    copy_changed(d, ti.vdi).await;
    Ok(())
}

/// Before a job writes into `vdi` as a whole (a backup or mirror target,
/// a commit's base): every block is marked in its recording bitmaps.
pub async fn mark_all(d: &Domain, vdi: Ref) -> ApiResult<()> {
    let size = d
        .registry
        .read_or(vdi::CLASS, vdi, |row| row.get(vdi::VIRTUAL_SIZE))?
        .max(0) as u64;
    for t in recording(d, vdi).await? {
        blocking(move || t.mark(0, size))
            .await?
            .map_err(log_error)?;
    }
    refresh_counts(d, vdi).await;
    Ok(())
}

/// The recording bitmaps of `vdi`, for a writer to mark before each write.
pub async fn recording(d: &Domain, vdi: Ref) -> ApiResult<Vec<Tracker>> {
    let mut out = Vec::new();
    for r in of(d, vdi) {
        let i = info(d, r)?;
        if i.recording && !i.inconsistent {
            out.push(tracker(d, r, &i.uuid).await?);
        }
    }
    Ok(out)
}

/// The bits of bitmap `r` and its granularity.
pub async fn bits(d: &Domain, r: Ref) -> ApiResult<(u64, Vec<u8>)> {
    let i = info(d, r)?;
    Ok(tracker(d, r, &i.uuid).await?.snapshot())
}

/// Bytes marked by `bits` (`g` per bit) within a `size`-byte disk.
fn dirty_bytes(bits: &[u8], g: u64, size: u64) -> u64 {
    let mut count = 0u64;
    for (idx, byte) in bits.iter().enumerate() {
        for k in 0..8 {
            if byte & (0x80 >> k) != 0 {
                let start = (idx as u64 * 8 + k) * g;
                count += g.min(size.saturating_sub(start));
            }
        }
    }
    count
}

/// Brings `count` of bitmap `r` up to date.
pub async fn refresh_count(d: &Domain, r: Ref) -> ApiResult<()> {
    let i = info(d, r)?;
    let size = d
        .registry
        .read_or(vdi::CLASS, i.vdi, |row| row.get(vdi::VIRTUAL_SIZE))?
        .max(0) as u64;
    let (g, bits) = tracker(d, r, &i.uuid).await?.snapshot();
    let count = dirty_bytes(&bits, g, size);
    let ((), c) = d.registry.update(bm::CLASS, r, Write::Volatile, |f| {
        f.set(bm::COUNT, to_int(count));
        Ok(())
    })?;
    drop(c);
    Ok(())
}

/// Brings `count` of every bitmap of `vdi` up to date (after a write).
pub async fn refresh_counts(d: &Domain, vdi: Ref) {
    for r in of(d, vdi) {
        if let Err(e) = refresh_count(d, r).await {
            tracing::warn!(bitmap = %r, error = %e, "could not count a dirty bitmap");
        }
    }
}

/// After a restart: transient bitmaps go (as QEMU's), logs without a row
/// go, and counts are read again.
pub async fn recover_after_restart(d: &Arc<Domain>) -> anyhow::Result<()> {
    let mut transient = Vec::new();
    let mut kept = std::collections::HashSet::new();
    let mut all = Vec::new();
    d.registry.for_each(bm::CLASS, |r, row| {
        if row.get(bm::PERSISTENT) && d.registry.exists(vdi::CLASS, row.get(bm::VDI)) {
            kept.insert(row.get(bm::UUID));
            all.push(r);
        } else {
            transient.push((r, row.get(bm::UUID)));
        }
    });
    for (r, u) in transient {
        drop_one(d, r, u).await?;
    }
    // A backup that was using a bitmap when the server stopped: its frozen
    // bits go back (a superset), and nothing is busy any more.
    for r in &all {
        let i = info(d, *r)?;
        let (fdir, u) = (frozen_dir(d), i.uuid.clone());
        let frozen = blocking(move || match change_log::read_with(&fdir, &u) {
            Ok(Some((_, b))) => Ok(Some(b)),
            Ok(None) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await??;
        if let Some(bits) = frozen {
            let t = tracker(d, *r, &i.uuid).await?;
            blocking(move || t.merge(&bits)).await??;
            let (fdir, u) = (frozen_dir(d), i.uuid.clone());
            blocking(move || change_log::remove(&fdir, &u)).await??;
        }
        if i.busy {
            set(d, *r, |f| f.set(bm::BUSY, false)).await?;
        }
    }
    let dir = d.bitmaps.dir.clone();
    tokio::task::spawn_blocking(move || -> io::Result<()> {
        for uuid in change_log::list(&dir)? {
            if !kept.contains(&uuid) {
                change_log::remove(&dir, &uuid)?;
            }
        }
        Ok(())
    })
    .await??;
    for r in all {
        let _ = refresh_count(d, r).await;
    }
    image_copy::recover_after_restart(d);
    Ok(())
}

/// A qcow2 file placed by hand and introduced as VDI `vdi` (SR `sr`,
/// file `loc`): the persistent bitmaps QEMU stored in it become its
/// bitmaps (persistent, recording as they were; one QEMU left in use is
/// `inconsistent`: only remove is allowed). From here on xapid records
/// the writes, in its own logs.
pub async fn adopt(d: &Arc<Domain>, vdi: Ref, sr: Ref, loc: &str) -> ApiResult<()> {
    let dir = d.srs.get(sr)?.dir.clone();
    let l = loc.to_string();
    let found = blocking(move || image::qcow2_bitmaps(&dir, &l))
        .await?
        .map_err(log_error)?;
    for f in found {
        if named(d, vdi, &f.name).is_some() || !f.granularity.is_power_of_two() {
            continue;
        }
        let uuid = Uuid::new_v4().to_string();
        let (bdir, u, bits) = (
            d.bitmaps.dir.clone(),
            uuid.clone(),
            f.bits.clone().unwrap_or_default(),
        );
        let gbits = f.granularity.trailing_zeros();
        blocking(move || change_log::write_with(&bdir, &u, &bits, gbits))
            .await?
            .map_err(log_error)?;
        let mut row = d.model.default_row(bm::CLASS);
        row.set(bm::UUID, uuid.as_str());
        row.set(bm::NAME_, f.name.as_str());
        row.set(bm::VDI, vdi);
        row.set(bm::GRANULARITY, to_int(f.granularity));
        row.set(bm::RECORDING, f.recording && f.bits.is_some());
        row.set(bm::PERSISTENT, true);
        row.set(bm::INCONSISTENT, f.bits.is_none());
        let r = Ref::new();
        durable(d.registry.insert(bm::CLASS, r, row)).await?;
        refresh_count(d, r).await?;
        tracing::info!(vdi = %vdi, bitmap = %f.name, "adopted a dirty bitmap from the image");
    }
    Ok(())
}

/// A bitmap action of a transaction (QEMU's `block-dirty-bitmap-*`
/// transaction actions). Bitmaps are named as in their VDI, and found
/// when the action is done: an action may name a bitmap an earlier one of
/// the same transaction added.
#[derive(Debug, Clone)]
pub struct Step {
    /// What to do: `add`, `clear`, `enable`, `disable` or `merge`.
    pub kind: &'static str,
    /// The VDI.
    pub vdi: Ref,
    /// The bitmap (the target of a merge).
    pub name: String,
    /// `add`'s options.
    pub options: Map<String>,
    /// `merge`'s sources, by name.
    pub sources: Vec<String>,
}

/// How to undo a step that was done.
#[derive(Debug)]
pub enum Undo {
    /// Remove the bitmap added.
    Remove(Ref),
    /// Give a cleared bitmap its bits back (ORed in: writes recorded
    /// meanwhile stay).
    Restore(Ref, Vec<u8>),
    /// Set recording back.
    Recording(Ref, bool),
    /// Nothing (an undone merge leaves its bits: a superset).
    Nothing,
}

/// Does `step`; returns how to undo it.
pub async fn apply(d: &Arc<Domain>, step: Step) -> ApiResult<Undo> {
    let find = |n: &str| named(d, step.vdi, n).ok_or_else(|| invalid("name", n));
    match step.kind {
        "add" => Ok(Undo::Remove(
            add(d, step.vdi, &step.name, &step.options).await?,
        )),
        "clear" => {
            let r = find(&step.name)?;
            let i = info(d, r)?;
            check_usable(r, &i)?;
            let (_, bits) = tracker(d, r, &i.uuid).await?.snapshot();
            clear(d, r).await?;
            Ok(Undo::Restore(r, bits))
        }
        "enable" | "disable" => {
            let r = find(&step.name)?;
            let before = info(d, r)?.recording;
            set_recording(d, r, step.kind == "enable").await?;
            Ok(Undo::Recording(r, before))
        }
        _ => {
            let target = find(&step.name)?;
            let sources = step
                .sources
                .iter()
                .map(|n| find(n))
                .collect::<ApiResult<Vec<Ref>>>()?;
            merge(d, target, &sources).await?;
            Ok(Undo::Nothing)
        }
    }
}

/// Undoes a step (best effort: a failure is logged).
pub async fn undo(d: &Arc<Domain>, u: Undo) {
    let r = match u {
        Undo::Remove(r) => remove(d, r).await,
        Undo::Restore(r, bits) => match info(d, r) {
            Ok(i) => match tracker(d, r, &i.uuid).await {
                Ok(t) => match blocking(move || t.merge(&bits)).await {
                    Ok(Ok(())) => refresh_count(d, r).await,
                    Ok(Err(e)) => Err(log_error(e)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        Undo::Recording(r, on) => set(d, r, |f| f.set(bm::RECORDING, on)).await,
        Undo::Nothing => Ok(()),
    };
    if let Err(e) = r {
        tracing::error!(error = %e, "could not undo a bitmap action of a failed transaction");
    }
}

/// What a backup does with its bitmap when it ends (QEMU's
/// `bitmap-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitmapMode {
    /// Cleared on success (only the writes made during the job remain);
    /// unchanged on failure or cancel.
    OnSuccess,
    /// Never cleared.
    Never,
    /// Cleared on success; on failure or cancel, what was not copied
    /// remains.
    Always,
}

impl BitmapMode {
    /// The option's value.
    pub fn name(self) -> &'static str {
        match self {
            BitmapMode::OnSuccess => "on-success",
            BitmapMode::Never => "never",
            BitmapMode::Always => "always",
        }
    }

    /// Parses the option.
    pub fn from_name(s: &str) -> Option<BitmapMode> {
        [BitmapMode::OnSuccess, BitmapMode::Never, BitmapMode::Always]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

fn frozen_dir(d: &Domain) -> PathBuf {
    d.bitmaps.dir.join("frozen")
}

/// A bitmap used by a backup job, QEMU's way: at the start its bits are
/// frozen (the point in time the job copies) and it goes on recording
/// only new writes (QEMU's successor); `busy` meanwhile. The frozen bits
/// are on disk too, so a crash gives them back ([`recover_after_restart`]).
pub struct InUse {
    d: Arc<Domain>,
    r: Ref,
    vdi: Ref,
    tracker: Tracker,
    uuid: String,
    granularity: u64,
    frozen: Vec<u8>,
    mode: BitmapMode,
    ended: bool,
}

impl std::fmt::Debug for InUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InUse").field("bitmap", &self.r).finish()
    }
}

/// Takes bitmap `r` for a backup that ends with `mode` (refused while it
/// is busy or inconsistent).
pub async fn begin_backup(d: &Arc<Domain>, r: Ref, mode: BitmapMode) -> ApiResult<InUse> {
    let i = info(d, r)?;
    check_usable(r, &i)?;
    let _g = d.bitmaps.lock.lock().await;
    let t = tracker(d, r, &i.uuid).await?;
    let (g, bits) = t.snapshot();
    let (fdir, u, b, t2) = (frozen_dir(d), i.uuid.clone(), bits.clone(), t.clone());
    blocking(move || {
        std::fs::create_dir_all(&fdir)?;
        change_log::write_with(&fdir, &u, &b, g.trailing_zeros())?;
        t2.clear()
    })
    .await?
    .map_err(log_error)?;
    set(d, r, |f| f.set(bm::BUSY, true)).await?;
    Ok(InUse {
        d: d.clone(),
        r,
        vdi: i.vdi,
        tracker: t,
        uuid: i.uuid,
        granularity: g,
        frozen: bits,
        mode,
        ended: false,
    })
}

/// Whether block `b` of a bitmap is set.
fn get(bits: &[u8], b: u64) -> bool {
    bits.get((b / 8) as usize)
        .is_some_and(|x| x & (0x80 >> (b % 8)) != 0)
}

impl InUse {
    /// The frozen bits (what the backup copies) and their granularity.
    pub fn frozen(&self) -> (u64, &[u8]) {
        (self.granularity, &self.frozen)
    }

    /// Whether `[offset, offset + len)` has a frozen bit set.
    pub fn dirty(&self, offset: u64, len: u64) -> bool {
        let g = self.granularity;
        (offset / g..(offset + len).div_ceil(g)).any(|b| get(&self.frozen, b))
    }

    /// The job ended (blocking): the bitmap gets back what its mode says,
    /// then is no longer busy. `copied(offset, len)` says whether a range
    /// was copied (for `always` after a failure).
    pub fn finish(mut self, success: bool, copied: &dyn Fn(u64, u64) -> bool) {
        self.end(success, copied);
    }

    fn end(&mut self, success: bool, copied: &dyn Fn(u64, u64) -> bool) {
        if self.ended {
            return;
        }
        self.ended = true;
        let back = match (self.mode, success) {
            (BitmapMode::OnSuccess | BitmapMode::Always, true) => None,
            (BitmapMode::Never, _) | (BitmapMode::OnSuccess, false) => Some(self.frozen.clone()),
            (BitmapMode::Always, false) => {
                let g = self.granularity;
                let mut left = self.frozen.clone();
                for b in 0..left.len() as u64 * 8 {
                    if get(&left, b) && copied(b * g, g) {
                        left[(b / 8) as usize] &= !(0x80 >> (b % 8));
                    }
                }
                Some(left)
            }
        };
        if let Some(bits) = back {
            if let Err(e) = self.tracker.merge(&bits) {
                // The frozen log stays: a restart merges it back.
                tracing::error!(bitmap = %self.r, error = %e, "could not give a bitmap its bits back");
                return;
            }
        }
        let _ = change_log::remove(&frozen_dir(&self.d), &self.uuid);
        let (g, bits) = self.tracker.snapshot();
        let size = self
            .d
            .registry
            .read_or(vdi::CLASS, self.vdi, |row| row.get(vdi::VIRTUAL_SIZE))
            .unwrap_or(0)
            .max(0) as u64;
        let count = dirty_bytes(&bits, g, size);
        if let Ok(((), c)) = self
            .d
            .registry
            .update(bm::CLASS, self.r, Write::Durable, |f| {
                f.set(bm::BUSY, false);
                f.set(bm::COUNT, to_int(count));
                Ok(())
            })
        {
            drop(c);
        }
        stale(&self.d, self.vdi);
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        // Never ended (the job was never run): as a failure, all back; the
        // file work on a blocking thread when dropped on the runtime.
        self.ended = true;
        let mut rest = InUse {
            d: self.d.clone(),
            r: self.r,
            vdi: self.vdi,
            tracker: self.tracker.clone(),
            uuid: std::mem::take(&mut self.uuid),
            granularity: self.granularity,
            frozen: std::mem::take(&mut self.frozen),
            mode: self.mode,
            ended: false,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => drop(h.spawn_blocking(move || rest.end(false, &|_, _| false))),
            Err(_) => rest.end(false, &|_, _| false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::regrain;

    #[test]
    fn regrain_marks_every_overlapped_bit() {
        // 64 KiB bits -> 4 KiB bits: one source bit sets 16 target bits.
        let out = regrain(&[0b0100_0000], 65536, 4096);
        assert_eq!(out, vec![0, 0, 0xff, 0xff]);
        // 4 KiB -> 64 KiB: any of 16 source bits sets the one target bit.
        let out = regrain(&[0, 0, 0, 0x01], 4096, 65536);
        assert_eq!(out, vec![0b0100_0000]);
        assert_eq!(regrain(&[7], 512, 512), vec![7]);
    }
}
