//! After a restart: the qcow2 files a killed writer may have left leaked
//! clusters in (a data cluster allocated, its mapping not yet written) are
//! repaired as `qemu-img check -r leaks` would
//! ([`storage::qcow2::leaks`](crate::storage::qcow2::leaks)), so that
//! `qemu-img check` is clean on every image again.
//!
//! Every qcow2 VDI is held at start-up (operation `blocked`, a reader: exports
//! and NBD reads go on, writers wait for it as for the coalesce), then
//! checked and repaired in the background, one file at a time, and let go.
//! Start-up does not wait for it.

use std::sync::Arc;

use super::claims::{self, Mode};
use super::{blocking, Domain};
use crate::model::schema::{vdi, VdiType};
use crate::storage::image;
use crate::storage::qcow2::leaks::Repair;
use crate::wire::Ref;

/// Holds every qcow2 VDI and repairs their files in the background.
pub fn recover_after_restart(d: &Arc<Domain>) {
    let mut files = Vec::new();
    d.registry.for_each(vdi::CLASS, |r, row| {
        if row.get(vdi::TYPE) != VdiType::CbtMetadata
            && row.fields[vdi::SM_CONFIG].map_get("image-format") == Some("qcow2")
            && !row.get(vdi::LOCATION).is_empty()
        {
            files.push((r, row.get(vdi::SR), row.get(vdi::LOCATION)));
        }
    });
    let mut held = Vec::new();
    for (r, sr, loc) in files {
        let Ok(st) = d.srs.get(sr) else { continue };
        match claims::claim_as(d, r, claims::BLOCKED, Ref::NULL, Mode::Read) {
            Ok(c) => held.push((c, st.dir.clone(), loc)),
            Err(e) => tracing::warn!(vdi = %r, error = %e, "leak check skipped"),
        }
    }
    if held.is_empty() {
        return;
    }
    let d2 = d.clone();
    d.tracker.spawn(async move {
        let mut freed = 0u64;
        for (claim, dir, loc) in held {
            if d2.shutdown.is_cancelled() {
                return;
            }
            let name = loc.clone();
            match blocking(move || image::repair_leaks(&dir, &loc)).await {
                Ok(Ok(Some(Repair::Freed(n)))) if n > 0 => {
                    tracing::info!(file = %name, clusters = n, "leaked clusters freed");
                    freed += n;
                }
                Ok(Ok(Some(Repair::Skipped(why)))) => {
                    tracing::info!(file = %name, why, "leak check skipped");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(file = %name, error = %e, "leak check failed"),
                Err(e) => tracing::warn!(file = %name, error = %e, "leak check failed"),
            }
            drop(claim);
        }
        if freed > 0 {
            tracing::info!(clusters = freed, "leak check after the restart done");
        }
    });
}
