//! SRs: the directories of image files. Configured SRs are found or
//! created at start-up and scanned; a scan introduces files placed by hand
//! and forgets VDIs whose file is gone; sizes are read from the files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use dashmap::DashMap;
use uuid::Uuid;

use super::{durable, to_int, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{sr, vdi, StorageOperations};
use crate::model::{Map, RowExt};
use crate::registry::Write;
use crate::storage::files;
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

/// The SRs this server serves, by ref.
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

    /// The refs of every served SR.
    pub fn refs(&self) -> Vec<Ref> {
        self.dirs.iter().map(|e| *e.key()).collect()
    }

    /// Every served SR.
    pub fn all(&self) -> Vec<Arc<SrState>> {
        self.dirs.iter().map(|e| e.value().clone()).collect()
    }
}

/// Finds or creates the configured SRs (a default one under the state
/// directory when none is configured) and serves every SR whose directory
/// is there. (Scanning comes after VDI recovery: `scan::scan_all`.)
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
