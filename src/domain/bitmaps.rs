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

use super::cbt::Tracker;
use super::{blocking, durable, invalid, to_int, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{block_dirty_bitmap as bm, vdi, VdiType};
use crate::model::{Map, RowExt};
use crate::registry::Write;
use crate::storage::change_log::{self, ChangeLog};
use crate::storage::crash;
use crate::storage::image;
use crate::wire::{Ref, Value};

/// The bitmaps' logs: where they are, and the open ones.
#[derive(Debug)]
pub struct Bitmaps {
    dir: PathBuf,
    open: DashMap<Ref, Tracker>,
    /// Serializes changes to bitmaps (add, remove, merge, clear).
    lock: tokio::sync::Mutex<()>,
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
        })
    }
}

fn log_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::sr_backend_failure("EIO", "", format_args!("dirty bitmap: {e}"))
}

/// What of a bitmap's row its rules need.
struct Info {
    uuid: String,
    vdi: Ref,
    granularity: u64,
    recording: bool,
    busy: bool,
    inconsistent: bool,
}

fn info(d: &Domain, r: Ref) -> ApiResult<Info> {
    d.registry.read_or(bm::CLASS, r, |row| Info {
        uuid: row.get(bm::UUID),
        vdi: row.get(bm::VDI),
        granularity: row.get(bm::GRANULARITY).max(512) as u64,
        recording: row.get(bm::RECORDING),
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
    Ok(r)
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
    drop_one(d, r, i.uuid).await
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
    set(d, r, |f| f.set(bm::COUNT, 0i64)).await
}

/// `block_dirty_bitmap.enable(self)` / `disable(self)`.
pub async fn set_recording(d: &Domain, r: Ref, on: bool) -> ApiResult<()> {
    check_usable(r, &info(d, r)?)?;
    set(d, r, |f| f.set(bm::RECORDING, on)).await
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
    refresh_count(d, target).await
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

/// Brings `count` of bitmap `r` up to date.
pub async fn refresh_count(d: &Domain, r: Ref) -> ApiResult<()> {
    let i = info(d, r)?;
    let size = d
        .registry
        .read_or(vdi::CLASS, i.vdi, |row| row.get(vdi::VIRTUAL_SIZE))?
        .max(0) as u64;
    let (g, bits) = tracker(d, r, &i.uuid).await?.snapshot();
    let mut count = 0u64;
    for (idx, byte) in bits.iter().enumerate() {
        for k in 0..8 {
            if byte & (0x80 >> k) != 0 {
                let start = (idx as u64 * 8 + k) * g;
                count += g.min(size.saturating_sub(start));
            }
        }
    }
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
    Ok(())
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
