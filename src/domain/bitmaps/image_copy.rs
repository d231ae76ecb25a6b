//! The copy of a VDI's persistent dirty bitmaps in its qcow2 file, in
//! QEMU's bitmaps extension: `qemu-img info` lists them, `qemu-img bitmap`
//! edits them, `qemu-nbd -B` exports them.
//!
//! xapid's change logs stay the truth (they are marked before every
//! write, so a crash never makes a bitmap inconsistent); the file holds a
//! copy, brought up to date whenever no writer has the file open:
//! - a writer opening the file takes the copy out first
//!   (`storage::image`'s `writers`), so that a copy is never outdated
//!   while a writer runs, nor made stale by imago;
//! - when a claim that may write goes, and after every bitmap change, the
//!   VDI is marked [`stale`]; a background loop ([`spawn`]) stores its
//!   set again once no writer has the file open (tried again every
//!   [`RETRY`] while one has);
//! - transfers and jobs store it themselves before their task ends
//!   ([`sync`]), so a client that saw the task succeed finds the copy;
//! - after a restart every qcow2 VDI is synced (a crash may have left a
//!   copy out, or one with a bitmap removed since).
//!
//! The set of a VDI is its persistent bitmaps, with the bits of a bitmap
//! a backup is using frozen in (what a failure would give back: a
//! superset). The copy follows the VDI: after a snapshot it is in the
//! VDI's new file, and the snapshot's file has none (the snapshot VDI has
//! no bitmaps). A file edited behind xapid's back is written over at the
//! next sync; a qcow2 file placed in an SR brings its bitmaps
//! ([`super::adopt`]).

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashSet;
use tokio::sync::{Mutex, Notify};

use super::{frozen_dir, info, of, tracker};
use crate::domain::{blocking, Domain};
use crate::error::ApiResult;
use crate::model::schema::{vdi, VdiType};
use crate::storage::change_log;
use crate::storage::image::{self, PersistentBitmap, Stored};
use crate::wire::Ref;

/// How soon a VDI whose file a writer still had open is tried again.
pub const RETRY: Duration = Duration::from_millis(200);

/// VDIs whose file's copy may be out of date.
#[derive(Debug, Default)]
pub struct Copies {
    stale: DashSet<Ref>,
    notify: Notify,
    /// One sync at a time: each reads the bits after the one before has
    /// stored, so the last one stores the newest.
    lock: Mutex<()>,
}

impl Copies {
    /// `vdi`'s copy may be out of date: the background loop syncs it.
    pub fn stale(&self, vdi: Ref) {
        self.stale.insert(vdi);
        self.notify.notify_one();
    }

    /// Whether `vdi`'s copy is waiting to be stored.
    pub fn is_stale(&self, vdi: Ref) -> bool {
        self.stale.contains(&vdi)
    }
}

/// Marks `vdi`'s copy out of date (see [`Copies::stale`]).
pub fn stale(d: &Domain, vdi: Ref) {
    d.bitmaps.copies.stale(vdi);
}

/// Stores `vdi`'s persistent bitmaps into its file now, unless a writer
/// has it open ([`Stored::WriterOpen`]: the VDI stays stale, the loop
/// tries again).
pub async fn sync(d: &Domain, vdi: Ref) -> ApiResult<Stored> {
    let stored = sync_once(d, vdi).await?;
    if stored == Stored::WriterOpen {
        d.bitmaps.copies.notify.notify_one();
    }
    Ok(stored)
}

/// As [`sync`], without waking the loop (which tries again after
/// [`RETRY`] by itself).
async fn sync_once(d: &Domain, vdi: Ref) -> ApiResult<Stored> {
    let _one = d.bitmaps.copies.lock.lock().await;
    // Unmarked before the bits are read: a writer that ends meanwhile
    // marks it again, and the loop stores its writes.
    d.bitmaps.copies.stale.remove(&vdi);
    let Ok((sr, loc, qcow2)) = d.registry.read_or(vdi::CLASS, vdi, |row| {
        (
            row.get(vdi::SR),
            row.get(vdi::LOCATION),
            row.get(vdi::TYPE) != VdiType::CbtMetadata
                && row.fields[vdi::SM_CONFIG].map_get("image-format") == Some("qcow2"),
        )
    }) else {
        return Ok(Stored::Nothing);
    };
    if loc.is_empty() || !qcow2 {
        return Ok(Stored::Nothing);
    }
    let Ok(sr) = d.srs.get(sr) else {
        return Ok(Stored::Nothing);
    };
    let (dir, l) = (sr.dir.clone(), loc.clone());
    if blocking(move || image::writer_open(&dir, &l))
        .await?
        .unwrap_or(false)
    {
        d.bitmaps.copies.stale.insert(vdi);
        return Ok(Stored::WriterOpen);
    }
    let mut set = Vec::new();
    for r in of(d, vdi) {
        let i = info(d, r)?;
        if !i.persistent {
            continue;
        }
        let (g, mut bits) = if i.inconsistent {
            (i.granularity, Vec::new())
        } else {
            tracker(d, r, &i.uuid).await?.snapshot()
        };
        if i.busy {
            // A backup froze some: they are the bitmap's until it succeeds.
            let (fdir, u) = (frozen_dir(d), i.uuid.clone());
            if let Ok(Ok(Some((_, frozen)))) =
                blocking(move || change_log::read_with(&fdir, &u)).await
            {
                change_log::or_into(&mut bits, &frozen);
            }
        }
        set.push(PersistentBitmap {
            name: i.name,
            granularity: g,
            recording: i.recording,
            inconsistent: i.inconsistent,
            bits,
        });
    }
    let dir = sr.dir.clone();
    let stored = blocking(move || image::store_bitmaps(&dir, &loc, &set))
        .await?
        .map_err(super::log_error)?;
    if stored == Stored::WriterOpen {
        d.bitmaps.copies.stale.insert(vdi);
    }
    Ok(stored)
}

/// Syncs the stale VDIs in the background until the server stops.
pub fn spawn(d: &Arc<Domain>) {
    let d2 = d.clone();
    d.tracker.spawn(async move {
        loop {
            let todo: Vec<Ref> = d2.bitmaps.copies.stale.iter().map(|r| *r).collect();
            let mut retry = false;
            for vdi in todo {
                if d2.shutdown.is_cancelled() {
                    return;
                }
                match sync_once(&d2, vdi).await {
                    Ok(Stored::WriterOpen) => retry = true,
                    Ok(_) => {}
                    Err(e) => {
                        // Not tried again until the next writer or restart
                        // (the change logs keep the bits meanwhile).
                        tracing::warn!(vdi = %vdi, error = %e,
                            "could not store a VDI's persistent dirty bitmaps in its file");
                    }
                }
            }
            let notified = d2.bitmaps.copies.notify.notified();
            tokio::select! {
                _ = d2.shutdown.cancelled() => break,
                _ = notified => {}
                _ = tokio::time::sleep(RETRY), if retry => {}
            }
        }
    });
}

/// After a restart: every qcow2 VDI is synced (in the background).
pub fn recover_after_restart(d: &Domain) {
    d.registry.for_each(vdi::CLASS, |r, row| {
        if row.fields[vdi::SM_CONFIG].map_get("image-format") == Some("qcow2")
            && !row.get(vdi::LOCATION).is_empty()
        {
            d.bitmaps.copies.stale.insert(r);
        }
    });
    d.bitmaps.copies.notify.notify_one();
}
