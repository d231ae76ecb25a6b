//! Hidden bases and the background coalesce, as SM's garbage collector:
//! a snapshot destroyed (or data-destroyed) while another image is built
//! on its file loses its record at once, and its file becomes a *hidden
//! base* of its SR (`SR.hidden`, internal and durable). A hidden base is
//! never introduced by a scan. In the background, each is folded into the
//! one image built on it (`storage::image::fold_into`: its data copied
//! where the child has none, the child pointed past it) and deleted. The
//! data of every VDI stays the same at every step.
//!
//! | step | a crash after it leaves | what happens next |
//! |---|---|---|
//! | 1. file named in `SR.hidden` | a VDI row still naming it | the row wins: the name leaves `hidden` |
//! | 2. the row forgotten | a hidden base | folded later |
//! | 3. folded into the child (data, then the child's header) | a hidden base nothing names | deleted |
//! | 4. file deleted | a name in `hidden` without a file | the name goes |
//! | 5. name out of `hidden` | done | |
//!
//! While a fold runs, every VDI that reads through the child's file (the
//! child's own VDI and those built on it) is claimed exclusively
//! (`blocked`): another open view of a file being written could read a
//! table before its clusters. User calls wait for the claim (up to a
//! minute) rather than fail; a VDI busy when a fold would start is
//! retried at the next round.

use std::sync::Arc;
use std::time::Duration;

use super::claims::{self, Mode};
use super::srs::refresh_totals;
use super::{blocking, cbt, durable, vdis, Domain};
use crate::error::ApiResult;
use crate::model::schema::{sr, vdi, VdiType};
use crate::model::RowExt;
use crate::registry::Write;
use crate::storage::crash;
use crate::storage::files;
use crate::storage::image;
use crate::wire::{Ref, Value};

/// How often the coalesce looks for work when nobody asks.
const INTERVAL: Duration = Duration::from_secs(30);
/// How soon a hidden base left because its VDIs were busy is tried again.
const RETRY: Duration = Duration::from_millis(500);

/// What a round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Hidden bases gone.
    pub gone: usize,
    /// Hidden bases left because a VDI reading through them was busy.
    pub busy: usize,
}

/// What happened to one hidden base.
enum Outcome {
    Gone,
    Busy,
    Stuck,
}

/// The coalesce's wake-up and its lock: a round and the steps that hide a
/// file and change the row naming it never interleave.
#[derive(Debug, Default)]
pub struct Coalesce {
    notify: tokio::sync::Notify,
    pub(super) lock: tokio::sync::Mutex<()>,
}

fn hidden_of(f: &[Value]) -> Vec<String> {
    match &f[sr::HIDDEN] {
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The hidden bases of SR `r`.
pub fn hidden(d: &Domain, r: Ref) -> Vec<String> {
    d.registry
        .read_or(sr::CLASS, r, |row| hidden_of(&row.fields))
        .unwrap_or_default()
}

/// Adds `name` to (or removes it from) SR `r`'s hidden files (durable).
pub(super) async fn set_hidden(d: &Domain, r: Ref, name: &str, on: bool) -> ApiResult<()> {
    let ((), c) = d.registry.update(sr::CLASS, r, Write::Durable, |f| {
        let mut h = hidden_of(f);
        h.retain(|n| n != name);
        if on {
            h.push(name.to_string());
        }
        f[sr::HIDDEN] = Value::Array(h.into_iter().map(Value::from).collect());
        Ok(())
    })?;
    durable(c).await
}

/// Step 1: the file `name` of SR `r` becomes a hidden base (durable),
/// before the row that names it goes or stops naming it.
pub async fn hide(d: &Domain, r: Ref, name: &str) -> ApiResult<()> {
    set_hidden(d, r, name, true).await?;
    crash::point("coalesce.hidden");
    Ok(())
}

/// Asks the background coalesce to run soon.
pub fn kick(d: &Domain) {
    d.coalesce.notify.notify_one();
}

/// Runs the coalesce until the server stops: at start, when kicked, and
/// every 30 seconds.
pub fn spawn(d: &Arc<Domain>) {
    let d2 = d.clone();
    d.tracker.spawn(async move {
        loop {
            // A hidden base left for a busy VDI is tried again soon.
            let wait = match run(&d2).await {
                Ok(r) if r.busy > 0 => RETRY,
                Ok(_) => INTERVAL,
                Err(e) => {
                    tracing::warn!(error = %e, "coalesce round failed");
                    INTERVAL
                }
            };
            tokio::select! {
                _ = d2.shutdown.cancelled() => break,
                _ = d2.coalesce.notify.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// One round over every SR, repeated while it makes progress (a fold can
/// leave the next hidden base without children).
pub async fn run(d: &Arc<Domain>) -> ApiResult<Round> {
    let mut total = Round::default();
    loop {
        let mut round = Round::default();
        for r in d.srs.refs() {
            for name in hidden(d, r) {
                if d.shutdown.is_cancelled() {
                    return Ok(total);
                }
                let _g = d.coalesce.lock.lock().await;
                match one(d, r, &name).await? {
                    Outcome::Gone => round.gone += 1,
                    Outcome::Busy => round.busy += 1,
                    Outcome::Stuck => {}
                }
            }
        }
        total.gone += round.gone;
        total.busy = round.busy;
        if round.gone == 0 {
            return Ok(total);
        }
    }
}

/// Handles one hidden base.
async fn one(d: &Arc<Domain>, r: Ref, name: &str) -> ApiResult<Outcome> {
    let st = d.srs.get(r)?;
    // A row that names the file again wins (step 1 without step 2).
    if vdis::at(d, r, name).is_some() {
        tracing::info!(file = name, "a VDI names the hidden base: it is not hidden");
        set_hidden(d, r, name, false).await?;
        return Ok(Outcome::Gone);
    }
    let (dir, n) = (st.dir.clone(), name.to_string());
    let children = blocking(move || files::children(&dir, &n))
        .await?
        .map_err(|e| super::backend_failure("cannot read the SR", e))?;
    match children.as_slice() {
        [] => {}
        [child] => {
            // Every VDI that reads through the child's file (its own and
            // those built on it) is held exclusively while the file is
            // rewritten: another open view of a file being written can
            // read a table before its clusters. A busy VDI: next round.
            let (dir, c) = (st.dir.clone(), child.clone());
            let above = blocking(move || files::above(&dir, &c))
                .await?
                .map_err(|e| super::backend_failure("cannot read the SR", e))?;
            let owner = vdis::at(d, r, child);
            let mut held = Vec::new();
            for f in &above {
                if let Some(v) = vdis::at(d, r, f) {
                    match claims::claim_as(d, v, claims::BLOCKED, Ref::NULL, Mode::Write) {
                        Ok(c) => held.push(c),
                        Err(_) => return Ok(Outcome::Busy),
                    }
                }
            }
            let (dir, c, n) = (st.dir.clone(), child.clone(), name.to_string());
            let _g = st.lock.lock().await;
            blocking(move || image::fold_into(&dir, &c, &n))
                .await?
                .map_err(|e| super::io_error("cannot coalesce a hidden base", e))?;
            crash::point("coalesce.folded");
            drop(_g);
            drop(held);
            if let Some(v) = owner {
                vdis::refresh(d, v).await?;
            }
            tracing::info!(file = name, into = %child, "hidden base coalesced");
        }
        _ => {
            tracing::warn!(file = name, "hidden base with several children: left alone");
            return Ok(Outcome::Stuck);
        }
    }
    {
        let _g = st.lock.lock().await;
        let (dir, n) = (st.dir.clone(), name.to_string());
        blocking(move || files::remove_image(&dir, &n))
            .await?
            .map_err(|e| super::backend_failure("cannot delete the image file", e))?;
        crash::point("coalesce.deleted");
        tracing::info!(file = name, "hidden base deleted");
        set_hidden(d, r, name, false).await?;
    }
    refresh_totals(d, r, None).await?;
    Ok(Outcome::Gone)
}

/// Whether the file of VDI `v` (SR `r`, file `loc`) is the backing file
/// of another image, as the SR's files say.
pub async fn has_children(d: &Domain, r: Ref, loc: &str) -> ApiResult<bool> {
    let st = d.srs.get(r)?;
    let (dir, n) = (st.dir.clone(), loc.to_string());
    let c = blocking(move || files::children(&dir, &n))
        .await?
        .map_err(|e| super::backend_failure("cannot read the SR", e))?;
    Ok(!c.is_empty())
}

/// `VDI.destroy` of a VDI whose file others are built on: the file
/// becomes a hidden base (step 1), then the row goes (step 2, merging its
/// CBT set into the next VDI's), then the coalesce is kicked.
pub async fn destroy_keeping_file(d: &Domain, v: Ref, r: Ref, loc: &str) -> ApiResult<()> {
    {
        let _g = d.coalesce.lock.lock().await;
        hide(d, r, loc).await?;
        vdis::forget(d, v).await?;
    }
    refresh_totals(d, r, None).await?;
    kick(d);
    Ok(())
}

/// A VDI's file that is no longer its own: a hidden base if others are
/// built on it, deleted otherwise; the row stops naming it (location
/// empty). For `data_destroy`; idempotent.
pub async fn release_file(d: &Domain, v: Ref) -> ApiResult<()> {
    let (r, loc) = d.registry.read_or(vdi::CLASS, v, |row| {
        (row.get(vdi::SR), row.get(vdi::LOCATION))
    })?;
    if loc.is_empty() {
        return Ok(());
    }
    let _g = d.coalesce.lock.lock().await;
    if has_children(d, r, &loc).await? {
        hide(d, r, &loc).await?;
    } else {
        let st = d.srs.get(r)?;
        let _g = st.lock.lock().await;
        let (dir, n) = (st.dir.clone(), loc.clone());
        blocking(move || files::remove_image(&dir, &n))
            .await?
            .map_err(|e| super::backend_failure("cannot delete the image file", e))?;
    }
    let ((), c) = d.registry.update(vdi::CLASS, v, Write::Durable, |f| {
        f.set(vdi::LOCATION, "");
        f.set(vdi::PHYSICAL_UTILISATION, 0i64);
        f[vdi::SM_CONFIG].map_set("backing-file", None);
        Ok(())
    })?;
    durable(c).await?;
    drop(_g);
    refresh_totals(d, r, None).await?;
    kick(d);
    Ok(())
}

/// `VDI.destroy`: the row goes; the file too, unless another image is
/// built on it (then it stays as a hidden base until the background
/// coalesce folds it away). A `cbt_metadata` VDI has no file of its own.
pub async fn destroy(d: &Arc<Domain>, r: Ref, owner: Ref) -> ApiResult<()> {
    let (sr, loc) = d.registry.read_or(vdi::CLASS, r, |row| {
        (row.get(vdi::SR), row.get(vdi::LOCATION))
    })?;
    let _claim = claims::claim_patiently(d, r, "destroy", owner).await?;
    if loc.is_empty() {
        vdis::forget(d, r).await?;
        return refresh_totals(d, sr, None).await;
    }
    if has_children(d, sr, &loc).await? {
        return destroy_keeping_file(d, r, sr, &loc).await;
    }
    vdis::delete(d, r).await
}

/// `VDI.data_destroy`: the snapshot becomes `cbt_metadata` keeping its
/// change set ([`cbt::mark_metadata`]), then its file goes, or becomes a
/// hidden base if another image is built on it ([`release_file`]). A
/// no-op on a `cbt_metadata` VDI.
pub async fn data_destroy(d: &Arc<Domain>, r: Ref, owner: Ref) -> ApiResult<()> {
    if cbt::mark_metadata(d, r, owner).await? {
        release_file(d, r).await?;
    }
    Ok(())
}

/// After a restart: `cbt_metadata` VDIs lose the file a crash left them
/// (`data_destroy` killed between its steps).
pub async fn recover_after_restart(d: &Arc<Domain>) -> anyhow::Result<()> {
    let mut metadata = Vec::new();
    d.registry.for_each(vdi::CLASS, |r, row| {
        if row.get(vdi::TYPE) == VdiType::CbtMetadata && !row.get(vdi::LOCATION).is_empty() {
            metadata.push(r);
        }
    });
    for r in metadata {
        if let Err(e) = release_file(d, r).await {
            tracing::warn!(vdi = %r, error = %e, "could not release a cbt_metadata VDI's file");
        }
    }
    Ok(())
}
