//! Scanning SRs: a scan re-reads an SR's directory, introduces the image
//! files placed by hand as VDIs (probed by content: only files no VDI
//! claims, never the SR's hidden bases), forgets the VDIs whose file is gone (unless an operation holds
//! them or they are still being made), and refreshes sizes and totals.

use std::collections::HashMap;
use std::sync::Arc;

use super::srs::refresh_totals;
use super::{backend_failure, bitmaps, claims, vdis, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{vdi, VdiType};
use crate::storage::files::{fs_size, PARTIAL};
use crate::storage::image::{self, Format, Probe};
use crate::wire::Ref;

/// Scans every served SR (start-up, after VDI recovery); a failing scan is
/// logged and the SR still served.
pub async fn scan_all(d: &Arc<Domain>) {
    for r in d.srs.refs() {
        if let Err(e) = scan_sr(d, r).await {
            tracing::warn!(sr = %r, error = %e, "SR scan failed at start-up");
        }
    }
}

/// What a scan read from the directory.
struct Listing {
    files: Vec<(String, std::io::Result<Probe>)>,
    fs_size: u64,
}

/// Re-reads the SR's directory: new files become VDIs, VDIs without a file
/// are forgotten, sizes are refreshed.
pub async fn scan_sr(d: &Arc<Domain>, r: Ref) -> ApiResult<()> {
    let st = d.srs.get(r)?;
    let _guard = st.lock.lock().await;
    let dir = st.dir.clone();
    // What the registry knows of this SR: file name -> (VDI, format).
    let mut known: HashMap<String, (Ref, Format)> = HashMap::new();
    let mut building = std::collections::HashSet::new();
    d.registry.for_each(vdi::CLASS, |v, row| {
        if row.get(vdi::SR) == r {
            // A VDI being made has its row before its file; a cbt_metadata
            // VDI keeps its row without its data.
            if !row.get(vdi::BUILDING).is_null() || row.get(vdi::TYPE) == VdiType::CbtMetadata {
                building.insert(v);
            }
            let f = vdis::format_of(&row.fields[vdi::SM_CONFIG]);
            known.insert(row.get(vdi::LOCATION), (v, f));
        }
    });
    // Hidden bases (files of destroyed snapshots others are built on) are
    // never introduced.
    let hidden: std::collections::HashSet<String> =
        super::coalesce::hidden(d, r).into_iter().collect();
    let formats: HashMap<String, Format> =
        known.iter().map(|(k, (_, f))| (k.clone(), *f)).collect();
    let listing = tokio::task::spawn_blocking(move || -> std::io::Result<Listing> {
        let names = dir.list()?;
        let files = names
            .into_iter()
            .filter(|n| !n.ends_with(PARTIAL))
            .map(|n| {
                // A known VDI keeps its format: a raw disk is never read as
                // a qcow2, whatever a guest wrote into it.
                let p = match formats.get(&n) {
                    Some(f) => image::probe_known(&dir, &n, *f),
                    None => image::probe(&dir, &n),
                };
                (n, p)
            })
            .collect();
        Ok(Listing {
            files,
            fs_size: fs_size(dir.root()),
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| backend_failure("cannot list the SR directory", e))?;

    let listed: std::collections::HashSet<&str> =
        listing.files.iter().map(|(n, _)| n.as_str()).collect();
    // Forget VDIs whose file is gone (unless an operation holds them); a
    // file that is there but unreadable keeps its VDI.
    for (loc, (v, _)) in &known {
        // (A VDI being made has its row before its file.)
        if !listed.contains(loc.as_str()) && !claims::is_busy(d, *v) && !building.contains(v) {
            tracing::info!(vdi = %v, file = %loc, "VDI file is gone: forgetting the VDI");
            vdis::forget(d, *v).await?;
        }
    }
    for (name, probe) in &listing.files {
        match (probe, known.get(name)) {
            (Ok(p), Some((v, _))) => vdis::apply_probe(d, *v, p).await?,
            (Ok(_), None) if hidden.contains(name) => {}
            (Ok(p), None) => {
                tracing::info!(sr = %r, file = %name, "introducing an image file as a VDI");
                let v = vdis::introduce(d, r, name, p).await?;
                if let Err(e) = bitmaps::adopt(d, v, r, name).await {
                    tracing::warn!(vdi = %v, error = %e, "could not read the image's dirty bitmaps");
                }
            }
            (Err(e), _) => {
                tracing::warn!(sr = %r, file = %name, error = %e, "image skipped by scan");
            }
        }
    }
    refresh_totals(d, r, Some(listing.fs_size)).await
}
