//! SRs: the directories of image files. Configured SRs are found or
//! created at start-up and scanned; a scan introduces files placed by hand
//! and forgets VDIs whose file is gone; sizes are read from the files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use dashmap::DashMap;
use uuid::Uuid;

use super::{backend_failure, claims, durable, to_int, vdis, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{sr, vdi, StorageOperations};
use crate::model::{Map, RowExt};
use crate::registry::Write;
use crate::storage::files::{self, fs_size, PARTIAL};
use crate::storage::image::{self, Format, Probe};
use crate::storage::path::SrDir;
use crate::wire::Ref;

/// One SR's directory and the lock that orders changes to its file list.
#[derive(Debug)]
pub struct SrState {
    /// The directory.
    pub dir: SrDir,
    /// Held while files are created, removed or scanned, so a scan never
    /// sees a file between its creation and its VDI.
    pub lock: tokio::sync::Mutex<()>,
}

/// The SRs this d serves, by ref.
#[derive(Debug, Default)]
pub struct Srs {
    dirs: DashMap<Ref, Arc<SrState>>,
}

impl Srs {
    /// The state of an SR, or `HANDLE_INVALID`.
    pub fn get(&self, sr: Ref) -> ApiResult<Arc<SrState>> {
        self.dirs
            .get(&sr)
            .map(|e| e.clone())
            .ok_or_else(|| ApiError::handle_invalid("SR", sr))
    }

    /// Every served SR.
    pub fn all(&self) -> Vec<Arc<SrState>> {
        self.dirs.iter().map(|e| e.value().clone()).collect()
    }
}

/// Finds or creates the configured SRs (a default one under the state
/// directory when none is configured) and serves every SR whose directory
/// is there. (Scanning comes after VDI recovery: [`scan_all`].)
pub async fn bootstrap(d: &Arc<Domain>) -> anyhow::Result<()> {
    let mut configured = d.config.srs.clone();
    if configured.is_empty() {
        configured.push(("Local storage".to_string(), d.config.state_dir.join("sr")));
    }
    let mut by_name: HashMap<String, Ref> = HashMap::new();
    d.registry.for_each(sr::CLASS, |r, row| {
        by_name.insert(row.get(sr::CONFIG_NAME), r);
    });
    for (name, dir) in configured {
        let sd = SrDir::open(&dir)
            .map_err(|e| anyhow::anyhow!("SR {name}: cannot use {}: {e}", dir.display()))?;
        let path = sd.root().to_string_lossy().into_owned();
        let sm = Map(vec![("path".to_string(), path.clone())]);
        match by_name.get(&name) {
            Some(&r) => {
                let ((), c) = d.registry.update(sr::CLASS, r, Write::Durable, |f| {
                    f.set(sr::PATH, path.as_str());
                    f.set(sr::SM_CONFIG, sm);
                    Ok(())
                })?;
                c.wait().await?;
            }
            None => {
                use StorageOperations::*;
                let mut f = d.model.default_row(sr::CLASS);
                f.set(sr::UUID, Uuid::new_v4().to_string());
                f.set(sr::NAME_LABEL, name.as_str());
                f.set(sr::CONFIG_NAME, name.as_str());
                f.set(sr::PATH, path.as_str());
                f.set(sr::SM_CONFIG, sm);
                f.set(
                    sr::ALLOWED_OPERATIONS,
                    vec![
                        Scan,
                        VdiCreate,
                        VdiDestroy,
                        VdiResize,
                        VdiClone,
                        VdiSnapshot,
                    ],
                );
                d.registry.insert(sr::CLASS, Ref::new(), f).wait().await?;
            }
        }
    }
    // Every SR whose directory is there, configured this time or before.
    let mut all = Vec::new();
    d.registry.for_each(sr::CLASS, |r, row| {
        all.push((r, PathBuf::from(row.get(sr::PATH))));
    });
    for (r, p) in all {
        if !p.is_dir() {
            tracing::warn!(sr = %r, dir = %p.display(), "SR directory is missing: not served");
            continue;
        }
        let dir = SrDir::open(&p)?;
        d.srs.dirs.insert(
            r,
            Arc::new(SrState {
                dir,
                lock: tokio::sync::Mutex::new(()),
            }),
        );
    }
    Ok(())
}

/// Scans every served SR (start-up, after VDI recovery); a failing scan is
/// logged and the SR still served.
pub async fn scan_all(d: &Arc<Domain>) {
    for r in d.srs.dirs.iter().map(|e| *e.key()).collect::<Vec<_>>() {
        if let Err(e) = scan_sr(d, r).await {
            tracing::warn!(sr = %r, error = %e, "SR scan failed at start-up");
        }
    }
}

/// Removes the partial files (overlays of unfinished snapshots) of every
/// served SR (start-up).
pub fn sweep_partials(d: &Domain) {
    for e in d.srs.all() {
        match files::sweep_partials(&e.dir) {
            Ok(0) => {}
            Ok(n) => tracing::info!(sr = %e.dir.root().display(), n, "removed partial files"),
            Err(e) => tracing::warn!(error = %e, "could not sweep partial files"),
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
            if !row.get(vdi::BUILDING).is_null() {
                building.insert(v);
            }
            let f = vdis::format_of(&row.fields[vdi::SM_CONFIG]);
            known.insert(row.get(vdi::LOCATION), (v, f));
        }
    });
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
            (Ok(p), None) => {
                tracing::info!(sr = %r, file = %name, "introducing an image file as a VDI");
                vdis::introduce(d, r, name, p).await?;
            }
            (Err(e), _) => {
                tracing::warn!(sr = %r, file = %name, error = %e, "image skipped by scan");
            }
        }
    }
    refresh_totals(d, r, Some(listing.fs_size)).await
}

/// Recomputes `VDIs`, `virtual_allocation` and `physical_utilisation` of an
/// SR from its VDIs (and `physical_size` when given).
pub async fn refresh_totals(d: &Domain, r: Ref, fs_size: Option<u64>) -> ApiResult<()> {
    let mut vdis = Vec::new();
    let (mut virt, mut phys) = (0i64, 0i64);
    d.registry.for_each(vdi::CLASS, |v, row| {
        if row.get(vdi::SR) == r {
            vdis.push((row.created, v));
            virt = virt.saturating_add(row.get(vdi::VIRTUAL_SIZE));
            phys = phys.saturating_add(row.get(vdi::PHYSICAL_UTILISATION));
        }
    });
    vdis.sort();
    let ((), c) = d.registry.update(sr::CLASS, r, Write::Durable, |f| {
        f.set(
            sr::VDIS,
            vdis.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        );
        f.set(sr::VIRTUAL_ALLOCATION, virt);
        f.set(sr::PHYSICAL_UTILISATION, phys);
        if let Some(n) = fs_size {
            f.set(sr::PHYSICAL_SIZE, to_int(n));
        }
        Ok(())
    })?;
    durable(c).await
}
