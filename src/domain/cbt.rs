//! Changed block tracking, as xapi's CBT (`VDI.enable_cbt`,
//! `list_changed_blocks`, `data_destroy`...), with SM's chain semantics and
//! without SM's ways of losing track.
//!
//! Every VDI with `cbt_enabled` has a change log (`storage::change_log`):
//! one bit per 64 KiB block, set on disk *before* xapid writes the block
//! (imports, jobs writing into the VDI). The logs form chains through the
//! internal field `cbt_prev`:
//!
//! ```text
//!   S1 <-cbt_prev- S2 <-cbt_prev- V (the leaf)
//!   log(S2) = written after S1 was taken, up to S2;  log(V) = since S2
//! ```
//!
//! - A snapshot of V takes V's log (a rename) and V starts an empty one;
//!   V's `cbt_prev` becomes the snapshot (steps in `snapshots`).
//! - Forgetting a VDI of a chain (destroy, commit) ORs its log into the
//!   VDI after it and links that one to the VDI before, first: the chain
//!   never loses a change, whatever the order of deletions.
//! - `list_changed_blocks(from, to)` ORs the logs after `from` up to and
//!   including `to`.
//! - Nothing disables tracking behind the user's back: a crash leaves
//!   every log a superset of what reached the disk (bits are durable before
//!   data), a missing log reads as "everything changed", and a mirror
//!   keeps the VDI (and so its log, named by uuid) across the pivot.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use dashmap::DashMap;

use super::{blocking, claims, durable, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{vdi, VdiType};
use crate::model::RowExt;
use crate::registry::Write;
pub use crate::storage::change_log::GRANULARITY;
use crate::storage::change_log::{self, ChangeLog, Tracker};
use crate::storage::crash;
use crate::wire::{Ref, Value};

/// The change logs: where they are, and the open ones (the VDIs being
/// written).
#[derive(Debug)]
pub struct Cbt {
    dir: PathBuf,
    open: DashMap<Ref, Tracker>,
    /// Serializes changes to chains (enable, disable, links, merges).
    lock: tokio::sync::Mutex<()>,
}

impl Cbt {
    /// The change logs under `state_dir/cbt`.
    pub fn open(state_dir: &std::path::Path) -> io::Result<Cbt> {
        Ok(Cbt {
            dir: change_log::open_dir(state_dir)?,
            open: DashMap::new(),
            lock: tokio::sync::Mutex::new(()),
        })
    }
}

/// A bitmap with every block of a `size`-byte disk set (what a VDI whose
/// log is missing answers: nothing is known, so everything changed).
fn ones(size: u64) -> Vec<u8> {
    let mut v = vec![0xff; change_log::bytes_for(size)];
    trim(&mut v, size);
    v
}

/// Cuts `bits` to the blocks of a `size`-byte disk (zero-extending it).
fn trim(bits: &mut Vec<u8>, size: u64) {
    let blocks = size.div_ceil(GRANULARITY);
    bits.resize(change_log::bytes_for(size), 0);
    if !blocks.is_multiple_of(8) {
        if let Some(last) = bits.last_mut() {
            *last &= 0xff << (8 - blocks % 8);
        }
    }
}

fn log_error(e: impl std::fmt::Display) -> ApiError {
    super::backend_failure("changed block tracking", e)
}

/// What of a VDI's row CBT needs.
struct Info {
    uuid: String,
    enabled: bool,
    prev: Ref,
    snapshot: bool,
    kind: VdiType,
    size: u64,
}

fn info(d: &Domain, r: Ref) -> ApiResult<Info> {
    d.registry.read_or(vdi::CLASS, r, |row| Info {
        uuid: row.get(vdi::UUID),
        enabled: row.get(vdi::CBT_ENABLED),
        prev: row.get(vdi::CBT_PREV),
        snapshot: row.get(vdi::IS_A_SNAPSHOT),
        kind: row.get(vdi::TYPE),
        size: row.get(vdi::VIRTUAL_SIZE).max(0) as u64,
    })
}

/// The VDI whose chain link points at `r`, if any.
fn successor(d: &Domain, r: Ref) -> Option<Ref> {
    let mut out = None;
    d.registry.for_each(vdi::CLASS, |o, row| {
        if o != r && row.get(vdi::CBT_PREV) == r {
            out = Some(o);
        }
    });
    out
}

async fn set_fields(d: &Domain, r: Ref, f: impl FnOnce(&mut [Value])) -> ApiResult<()> {
    let ((), c) = d.registry.update(vdi::CLASS, r, Write::Durable, |row| {
        f(row);
        Ok(())
    })?;
    durable(c).await
}

/// The tracker of `vdi` when its changes are tracked (opened on first
/// use; a missing log is made with every block set). Writers mark it
/// before each write.
pub async fn tracker(d: &Domain, vdi: Ref) -> ApiResult<Option<Tracker>> {
    let i = info(d, vdi)?;
    if !i.enabled {
        return Ok(None);
    }
    if let Some(t) = d.cbt.open.get(&vdi) {
        return Ok(Some(t.clone()));
    }
    let dir = d.cbt.dir.clone();
    let log = blocking(move || {
        if let Some(l) = ChangeLog::open(&dir, &i.uuid)? {
            return Ok(l);
        }
        tracing::warn!(vdi = %vdi, "change log missing: every block counts as changed");
        change_log::write(&dir, &i.uuid, &ones(i.size))?;
        ChangeLog::open(&dir, &i.uuid)?.ok_or_else(|| io::Error::other("change log vanished"))
    })
    .await?
    .map_err(log_error)?;
    let t = d
        .cbt
        .open
        .entry(vdi)
        .or_insert_with(|| Tracker::from(log))
        .clone();
    Ok(Some(t))
}

/// The bitmap of `r`'s log, cut to `size` bytes of disk (every block set
/// if the log is missing).
async fn bits_of(d: &Domain, r: Ref, uuid: &str, size: u64) -> ApiResult<Vec<u8>> {
    let mut bits = match d.cbt.open.get(&r).map(|t| t.clone()) {
        Some(t) => t.snapshot().1,
        None => {
            let (dir, u) = (d.cbt.dir.clone(), uuid.to_string());
            let read = blocking(move || change_log::read(&dir, &u))
                .await?
                .map_err(log_error)?;
            match read {
                Some(b) => b,
                None => {
                    tracing::warn!(vdi = %r, "change log missing: every block counts as changed");
                    ones(size)
                }
            }
        }
    };
    trim(&mut bits, size);
    Ok(bits)
}

/// enable/disable_cbt's checks (xapi's `check_operation_error`).
fn check_leaf(r: Ref, i: &Info) -> ApiResult<()> {
    if i.snapshot {
        return Err(ApiError::operation_not_allowed(format_args!(
            "VDI is a snapshot: {r}"
        )));
    }
    if !matches!(i.kind, VdiType::User | VdiType::System) {
        return Err(ApiError::vdi_incompatible_type(r, i.kind.name()));
    }
    Ok(())
}

/// `VDI.enable_cbt`: an empty log (durable) then the row; a no-op when on.
pub async fn enable(d: &Arc<Domain>, r: Ref, owner: Ref) -> ApiResult<()> {
    check_leaf(r, &info(d, r)?)?;
    let _claim = claims::claim_patiently(d, r, "enable_cbt", owner).await?;
    let _g = d.cbt.lock.lock().await;
    let i = info(d, r)?;
    if i.enabled {
        return Ok(());
    }
    let dir = d.cbt.dir.clone();
    blocking(move || change_log::write(&dir, &i.uuid, &[]))
        .await?
        .map_err(log_error)?;
    crash::point("cbt.log");
    d.cbt.open.remove(&r);
    set_fields(d, r, |f| {
        f.set(vdi::CBT_ENABLED, true);
        f.set(vdi::CBT_PREV, Ref::NULL);
    })
    .await
}

/// `VDI.disable_cbt`: the row, then the log goes (a restart sweeps a log
/// left behind); a no-op when off.
pub async fn disable(d: &Arc<Domain>, r: Ref, owner: Ref) -> ApiResult<()> {
    check_leaf(r, &info(d, r)?)?;
    let _claim = claims::claim_patiently(d, r, "disable_cbt", owner).await?;
    let _g = d.cbt.lock.lock().await;
    let i = info(d, r)?;
    if !i.enabled {
        return Ok(());
    }
    set_fields(d, r, |f| {
        f.set(vdi::CBT_ENABLED, false);
        f.set(vdi::CBT_PREV, Ref::NULL);
    })
    .await?;
    crash::point("cbt.disabled");
    d.cbt.open.remove(&r);
    let dir = d.cbt.dir.clone();
    blocking(move || change_log::remove(&dir, &i.uuid))
        .await?
        .map_err(log_error)?;
    Ok(())
}

/// `VDI.set_cbt_enabled` (xapi's internal setter): the field only.
pub async fn set_enabled(d: &Domain, r: Ref, value: bool) -> ApiResult<()> {
    let _g = d.cbt.lock.lock().await;
    d.cbt.open.remove(&r);
    set_fields(d, r, |f| f.set(vdi::CBT_ENABLED, value)).await
}

/// A snapshot `snap` of `v` is switched over (its files are whole): the
/// snapshot takes `v`'s log and `v` starts an empty one. Idempotent (a
/// restart may run it again); says whether `v` is tracked, in which case
/// the caller links `v` to `snap` (`cbt_prev`) in its next row update.
pub async fn snapshot_taken(d: &Domain, v: Ref, snap: Ref) -> ApiResult<bool> {
    let vi = info(d, v)?;
    if !vi.enabled {
        return Ok(false);
    }
    let su = info(d, snap)?.uuid;
    let _g = d.cbt.lock.lock().await;
    d.cbt.open.remove(&v);
    d.cbt.open.remove(&snap);
    let dir = d.cbt.dir.clone();
    blocking(move || {
        if !change_log::exists(&dir, &su)? && change_log::exists(&dir, &vi.uuid)? {
            change_log::rename(&dir, &vi.uuid, &su)?;
        }
        crash::point("cbt.moved");
        if !change_log::exists(&dir, &vi.uuid)? {
            change_log::write(&dir, &vi.uuid, &[])?;
        }
        Ok(())
    })
    .await?
    .map_err(log_error)?;
    Ok(true)
}

/// A snapshot `snap` of `v` is undone: `v` gets its log back (the one
/// `snap` took) and its link before the snapshot. Before `snap` is
/// forgotten.
pub async fn snapshot_undone(d: &Domain, v: Ref, snap: Ref) -> ApiResult<()> {
    let (vi, si) = (info(d, v)?, info(d, snap)?);
    let _g = d.cbt.lock.lock().await;
    d.cbt.open.remove(&v);
    d.cbt.open.remove(&snap);
    let dir = d.cbt.dir.clone();
    let (vu, su) = (vi.uuid.clone(), si.uuid.clone());
    blocking(move || {
        if change_log::exists(&dir, &su)? {
            change_log::rename(&dir, &su, &vu)?;
        }
        Ok(())
    })
    .await?
    .map_err(log_error)?;
    if vi.prev == snap {
        set_fields(d, v, |f| f.set(vdi::CBT_PREV, si.prev)).await?;
    }
    Ok(())
}

/// Before `r`'s row goes: the VDI after it in its chain gets its changes
/// (OR, durable) and is linked to the VDI before it. A crash in between
/// leaves a superset; running it again changes nothing.
pub async fn unlink(d: &Domain, r: Ref) -> ApiResult<()> {
    let Some(next) = successor(d, r) else {
        return Ok(());
    };
    let i = info(d, r)?;
    let _g = d.cbt.lock.lock().await;
    let bits = bits_of(d, r, &i.uuid, i.size).await?;
    let ni = info(d, next)?;
    if ni.enabled {
        match d.cbt.open.get(&next).map(|t| t.clone()) {
            Some(t) => blocking(move || t.merge(&bits)).await?.map_err(log_error)?,
            None => {
                let dir = d.cbt.dir.clone();
                blocking(move || match ChangeLog::open(&dir, &ni.uuid)? {
                    Some(mut l) => l.merge(&bits),
                    // No log: every block counts as changed already.
                    None => Ok(()),
                })
                .await?
                .map_err(log_error)?
            }
        }
    }
    crash::point("cbt.merged");
    set_fields(d, next, |f| f.set(vdi::CBT_PREV, i.prev)).await
}

/// After `uuid`'s row went: its log goes too.
pub async fn forgotten(d: &Domain, r: Ref, uuid: String) {
    d.cbt.open.remove(&r);
    let dir = d.cbt.dir.clone();
    match blocking(move || change_log::remove(&dir, &uuid)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(vdi = %r, error = %e, "could not remove a change log"),
        Err(e) => tracing::warn!(vdi = %r, error = %e, "could not remove a change log"),
    }
}

/// The first step of `VDI.data_destroy` (xapi's checks, then the type):
/// the snapshot keeps its change log and becomes `cbt_metadata`. Says
/// whether it changed anything (a `cbt_metadata` VDI is left as it is);
/// the caller then lets its file go (`coalesce::data_destroy`).
pub async fn mark_metadata(d: &Arc<Domain>, r: Ref, owner: Ref) -> ApiResult<bool> {
    let i = info(d, r)?;
    if i.kind == VdiType::CbtMetadata {
        return Ok(false);
    }
    if !i.snapshot {
        return Err(ApiError::operation_not_allowed(format_args!(
            "VDI is not a snapshot: {r}"
        )));
    }
    if !i.enabled {
        return Err(ApiError::vdi_no_cbt_metadata(r));
    }
    let _claim = claims::claim_patiently(d, r, "data_destroy", owner).await?;
    // The type first: from here on nothing reads the data.
    let ((), c) = d.registry.update(vdi::CLASS, r, Write::Durable, |f| {
        f.set(vdi::TYPE, VdiType::CbtMetadata);
        claims::refresh_allowed(d, r, f);
        Ok(())
    })?;
    durable(c).await?;
    crash::point("cbt.data_destroy");
    Ok(true)
}

/// Before a job writes into the tracked VDI `r` as a whole (the target of
/// a backup or a mirror): every block of it is recorded as changed (a
/// superset, on disk before the first write).
pub async fn mark_all(d: &Domain, r: Ref) -> ApiResult<()> {
    let Some(t) = tracker(d, r).await? else {
        return Ok(());
    };
    let size = info(d, r)?.size;
    blocking(move || t.mark(0, size)).await?.map_err(log_error)
}

/// Before a commit writes the layers of `from` (the VDIs whose files are
/// merged) into the tracked VDI `base`: `base`'s data changes by what
/// those layers changed, so their sets join its own first.
pub async fn absorb(d: &Domain, base: Ref, from: &[Ref]) -> ApiResult<()> {
    let Some(t) = tracker(d, base).await? else {
        return Ok(());
    };
    let size = info(d, base)?.size;
    let mut bits = Vec::new();
    for r in from {
        let i = info(d, *r)?;
        let b = if i.enabled {
            bits_of(d, *r, &i.uuid, size).await?
        } else {
            // Untracked: anything may have changed.
            ones(size)
        };
        change_log::or_into(&mut bits, &b);
    }
    blocking(move || t.merge(&bits)).await?.map_err(log_error)
}

/// `SR_BACKEND_FAILURE_460`, as SM's CBTChangedBlocksError.
fn changed_blocks_error(why: &str) -> ApiError {
    ApiError::sr_backend_failure_460(
        "",
        format_args!("Failed to calculate changed blocks for given VDIs. [opterr={why}]"),
        "",
    )
}

/// The blocks written after `from` was taken up to and including `to`
/// (one bit per 64 KiB of `to`, most significant bit first, not padded),
/// and `to`'s size.
pub async fn changed(d: &Arc<Domain>, from: Ref, to: Ref) -> ApiResult<(Vec<u8>, u64)> {
    let (fi, ti) = (info(d, from)?, info(d, to)?);
    if from == to {
        return Err(changed_blocks_error("Source and target VDI are the same"));
    }
    for (r, i) in [(from, &fi), (to, &ti)] {
        if !i.enabled {
            return Err(ApiError::vdi_no_cbt_metadata(r));
        }
    }
    // As xapi refuses an attached vdi_to: its set must not move meanwhile.
    let reading = claims::claim_patiently(d, to, "list_changed_blocks", Ref::NULL).await;
    let _reading = reading.map_err(|e| {
        if e.code == crate::model::schema::codes::OTHER_OPERATION_IN_PROGRESS {
            ApiError::vdi_in_use(to, "list_changed_blocks")
        } else {
            e
        }
    })?;
    let _g = d.cbt.lock.lock().await;
    let mut chain = vec![(to, ti.uuid.clone())];
    let mut cur = ti.prev;
    while cur != from {
        if cur.is_null() || chain.len() > 1_000_000 {
            return Err(changed_blocks_error("Source and target VDI are unrelated"));
        }
        let i = info(d, cur)?;
        chain.push((cur, i.uuid));
        cur = i.prev;
    }
    let mut acc = Vec::new();
    for (r, uuid) in &chain {
        let bits = bits_of(d, *r, uuid, ti.size).await?;
        change_log::or_into(&mut acc, &bits);
    }
    trim(&mut acc, ti.size);
    Ok((acc, ti.size))
}

/// [`changed`] for the bytes `[offset, offset + length)` only (cut at the
/// end of the disk): the first bit is the block at `offset`, which must be
/// a multiple of [`GRANULARITY`] (else `INVALID_VALUE`).
pub async fn changed_range(
    d: &Arc<Domain>,
    from: Ref,
    to: Ref,
    offset: i64,
    length: i64,
) -> ApiResult<Vec<u8>> {
    if offset < 0 || !(offset as u64).is_multiple_of(GRANULARITY) {
        return Err(super::invalid("offset", offset));
    }
    if length < 0 {
        return Err(super::invalid("length", length));
    }
    let (bits, size) = changed(d, from, to).await?;
    let first = offset as u64 / GRANULARITY;
    let end = (offset as u64)
        .saturating_add(length as u64)
        .min(size)
        .div_ceil(GRANULARITY);
    Ok(window(&bits, first, end.saturating_sub(first)))
}

/// [`changed`] as byte extents `(offset, length)`.
pub async fn changed_extents(d: &Arc<Domain>, from: Ref, to: Ref) -> ApiResult<Vec<(u64, u64)>> {
    let (bits, size) = changed(d, from, to).await?;
    Ok(extents(&bits, size))
}

/// The bits of `bits` (one per 64 KiB, MSB first) from block `first`
/// on, `count` of them, realigned to start at bit 0.
pub fn window(bits: &[u8], first: u64, count: u64) -> Vec<u8> {
    let mut out = vec![0u8; count.div_ceil(8) as usize];
    for k in 0..count {
        let b = first + k;
        let set = bits
            .get((b / 8) as usize)
            .is_some_and(|x| x & (0x80 >> (b % 8)) != 0);
        if set {
            out[(k / 8) as usize] |= 0x80 >> (k % 8);
        }
    }
    out
}

/// The set blocks of `bits` as byte extents `(offset, length)`, adjacent
/// blocks merged, the last cut at `size`.
pub fn extents(bits: &[u8], size: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (i, byte) in bits.iter().enumerate() {
        if *byte == 0 {
            continue;
        }
        for k in 0..8 {
            if byte & (0x80 >> k) == 0 {
                continue;
            }
            let start = (i as u64 * 8 + k) * GRANULARITY;
            if start >= size {
                break;
            }
            let end = (start + GRANULARITY).min(size);
            match out.last_mut() {
                Some((o, l)) if *o + *l == start => *l = end - *o,
                _ => out.push((start, end - start)),
            }
        }
    }
    out
}

/// Pads an API bitmap with zero bytes to a multiple of 4 (Xen Orchestra
/// reads it 32 bits at a time and throws otherwise).
pub fn pad(mut bits: Vec<u8>) -> Vec<u8> {
    bits.resize(bits.len().div_ceil(4) * 4, 0);
    bits
}

/// After a restart: logs of VDIs gone or no longer tracked are removed
/// (what a crash between a row and its log left).
pub async fn recover_after_restart(d: &Arc<Domain>) -> anyhow::Result<()> {
    let mut tracked = std::collections::HashSet::new();
    d.registry.for_each(vdi::CLASS, |_, row| {
        if row.get(vdi::CBT_ENABLED) {
            tracked.insert(row.get(vdi::UUID));
        }
    });
    let dir = d.cbt.dir.clone();
    let swept = tokio::task::spawn_blocking(move || -> io::Result<usize> {
        let mut n = 0;
        for uuid in change_log::list(&dir)? {
            if !tracked.contains(&uuid) {
                change_log::remove(&dir, &uuid)?;
                n += 1;
            }
        }
        Ok(n)
    })
    .await??;
    if swept > 0 {
        tracing::info!(
            logs = swept,
            "removed change logs of VDIs no longer tracked"
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "cbt/tests.rs"]
mod tests;
