//! Starting a job: check the VDIs and options, create the task, claim the
//! VDIs, open the images (off the RPC threads), then make the job's object
//! and hand the work to its coordinator.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::backup::{Backup, BackupOptions};
use super::clock::Alarm;
use super::commit::Commit;
use super::coordinator::coordinate;
use super::copy::End;
use super::faults::refresh_faults;
use super::group::{Member, Txn};
use super::job::{lock, Ctl, Job};
use super::mirror::{Mirror, MirrorOptions};
use super::options::{JobKind, Spec, SyncMode};
use super::state::Status;
use super::stream::Stream;
use super::table::Jobs;
use super::work::{Held, Work};
use crate::domain::claims::{self, Mode};
use crate::domain::{bitmaps, blocking, cbt, invalid, io_error, task_objects, tasks, vdis, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{block_job, vdi};
use crate::model::RowExt;
use crate::storage::image::{self, Format, Image, OpenOptions};
use crate::storage::path::SrDir;
use crate::wire::Ref;

/// What setup needs to know of a VDI.
struct Disk {
    r: Ref,
    sr: Ref,
    dir: SrDir,
    loc: String,
    format: Format,
    size: u64,
    read_only: bool,
}

fn disk(d: &Domain, r: Ref) -> ApiResult<Disk> {
    let (sr, dir, loc) = vdis::file_of(d, r)?;
    let (format, size, read_only) = d.registry.read_or(vdi::CLASS, r, |row| {
        (
            vdis::format_of(&row.fields[vdi::SM_CONFIG]),
            u64::try_from(row.get(vdi::VIRTUAL_SIZE)).unwrap_or(0),
            row.get(vdi::READ_ONLY),
        )
    })?;
    Ok(Disk {
        r,
        sr,
        dir,
        loc,
        format,
        size,
        read_only,
    })
}

async fn open_async(d: &Disk, write: bool, write_layers: Vec<String>) -> ApiResult<Arc<Image>> {
    let (dir, loc, format) = (d.dir.clone(), d.loc.clone(), d.format);
    let img = blocking(move || {
        Image::open_format(
            &dir,
            &loc,
            format,
            &OpenOptions {
                write,
                write_layers,
            },
        )
    })
    .await?
    .map_err(|e| io_error("cannot open the image", e))?;
    Ok(Arc::new(img))
}

/// A job ready to start: checked, its task made, its VDIs claimed and its
/// images open (a transaction prepares all its jobs before starting any).
pub struct Prepared {
    spec: Spec,
    held: Held,
    own: bool,
}

impl Prepared {
    /// Gives the job up before it started: its claims and images go (on a
    /// blocking thread) and its own task fails with `e`.
    pub async fn abandon(self, jobs: &Jobs, e: ApiError) {
        let Prepared { spec, held, own } = self;
        let _ = tokio::task::spawn_blocking(move || drop(held)).await;
        if let (true, Some(t)) = (own, spec.task) {
            tasks::finish(&jobs.domain, t, Err(e)).await;
        }
    }
}

/// Starts a job as `spec` says; returns once it runs.
pub async fn start(jobs: &Arc<Jobs>, spec: Spec) -> ApiResult<Arc<Job>> {
    let p = prepare_job(jobs, spec).await?;
    launch(jobs, p, None).await
}

/// Starts a prepared job (in transaction `txn`, if any).
pub async fn launch(jobs: &Arc<Jobs>, p: Prepared, txn: Option<Arc<Txn>>) -> ApiResult<Arc<Job>> {
    let Prepared { spec, held, own } = p;
    let t = spec.task;
    match start_prepared(jobs, spec, held, own, txn).await {
        Ok(j) => Ok(j),
        Err(e) => {
            if let (true, Some(t)) = (own, t) {
                tasks::finish(&jobs.domain, t, Err(e.clone())).await;
            }
            Err(e)
        }
    }
}

/// Checks a job, makes its task, claims its VDIs and opens its images.
pub async fn prepare_job(jobs: &Arc<Jobs>, mut spec: Spec) -> ApiResult<Prepared> {
    let dom = &jobs.domain;
    let dev = disk(dom, spec.device)?;
    // Checks that need no file come first: nothing is created for a
    // request that cannot run.
    match spec.kind {
        JobKind::Backup { .. } | JobKind::Mirror { .. } => {
            let tgt = disk(dom, spec.target)?;
            if tgt.r == dev.r {
                return Err(invalid("target", "the device itself"));
            }
            if tgt.read_only {
                return Err(ApiError::vdi_read_only(tgt.r));
            }
            if matches!(spec.kind, JobKind::Mirror { .. }) && tgt.size != dev.size {
                return Err(invalid(
                    "target",
                    format!(
                        "Source and target image have different sizes ({} and {})",
                        dev.size, tgt.size
                    ),
                ));
            }
            if tgt.size < dev.size {
                return Err(ApiError::vdi_too_small(tgt.r, dev.size));
            }
        }
        JobKind::Stream { .. } | JobKind::Commit { .. } => {
            if dev.read_only && matches!(spec.kind, JobKind::Stream { .. }) {
                return Err(ApiError::vdi_read_only(dev.r));
            }
        }
    }
    if let JobKind::Mirror { granularity, .. } = spec.kind {
        if !(512..=64 << 20).contains(&granularity) || !granularity.is_power_of_two() {
            return Err(invalid("granularity", granularity));
        }
    }
    // The task, then the claims in its name.
    let own = spec.task.is_none();
    let objects = [spec.device, spec.target];
    let t = match spec.task {
        Some(t) => {
            task_objects::add(dom, t, &objects);
            t
        }
        None => {
            tasks::create_managed(
                dom,
                &format!("block_job.{}", spec.kind.job_type()),
                None,
                &spec.owner,
                &objects,
            )
            .await?
        }
    };
    spec.task = Some(t);
    if own && spec.cancel.is_none() {
        spec.cancel = Some(tasks::make_cancellable(dom, t));
    }
    let out = prepare(dom, &mut spec, dev, t).await;
    match out {
        Ok(held) => Ok(Prepared { spec, held, own }),
        Err(e) => {
            if own {
                tasks::finish(dom, t, Err(e.clone())).await;
            }
            Err(e)
        }
    }
}

/// Resolves a VDI given in an option: a ref or a uuid.
pub fn vdi_option(d: &Domain, field: &str, s: &str) -> ApiResult<Ref> {
    vdis::find(d, s).ok_or_else(|| invalid(field, s))
}

/// The index of VDI `r`'s file in the chain `layers` (same SR only).
fn layer_of(dom: &Domain, dev: &Disk, layers: &[String], r: Ref, field: &str) -> ApiResult<usize> {
    let d = disk(dom, r)?;
    if d.sr != dev.sr {
        return Err(invalid(
            field,
            format!("{r} is not in the device's backing chain"),
        ));
    }
    layers
        .iter()
        .position(|l| *l == d.loc)
        .ok_or_else(|| invalid(field, format!("{r} is not in the device's backing chain")))
}

async fn chain(dev: &Disk) -> ApiResult<Vec<String>> {
    let (dir, loc, format) = (dev.dir.clone(), dev.loc.clone(), dev.format);
    blocking(move || {
        Image::open_format(&dir, &loc, format, &OpenOptions::default()).map(|i| i.layers())
    })
    .await?
    .map_err(|e| io_error("cannot open the image", e))
}

async fn prepare(dom: &Arc<Domain>, spec: &mut Spec, dev: Disk, t: Ref) -> ApiResult<Held> {
    let mut claims = Vec::new();
    let work: Box<dyn Work> = match spec.kind {
        JobKind::Backup { sync } => {
            let tgt = disk(dom, spec.target)?;
            let hooked = !spec.read_only_device;
            let mode = if hooked { Mode::Hooked } else { Mode::Read };
            claims.push(claims::claim_as_patiently(dom, dev.r, "backup", t, mode).await?);
            claims.push(claims::claim_as_patiently(dom, tgt.r, "backup", t, Mode::Write).await?);
            cbt::mark_all(dom, tgt.r).await?;
            bitmaps::mark_all(dom, tgt.r).await?;
            let src = open_async(&dev, hooked && !dev.read_only, Vec::new()).await?;
            let dst = open_async(&tgt, true, Vec::new()).await?;
            // The bitmap last: from here on its bits are the job's.
            let bitmap = match spec.bitmap {
                Some((b, mode)) => Some(bitmaps::begin_backup(dom, b, mode).await?),
                None => None,
            };
            Box::new(Backup::new(BackupOptions {
                device: dev.r,
                target: tgt.r,
                src,
                dst,
                sync,
                fresh_target: spec.fresh_target,
                hooked,
                bitmap,
            }))
        }
        JobKind::Mirror { sync, granularity } => {
            let tgt = disk(dom, spec.target)?;
            claims.push(claims::claim_as_patiently(dom, dev.r, "mirror", t, Mode::Hooked).await?);
            claims.push(claims::claim_as_patiently(dom, tgt.r, "mirror", t, Mode::Write).await?);
            cbt::mark_all(dom, tgt.r).await?;
            bitmaps::mark_all(dom, tgt.r).await?;
            let src = open_async(&dev, !dev.read_only, Vec::new()).await?;
            let dst = open_async(&tgt, true, Vec::new()).await?;
            let until = if sync == SyncMode::Top {
                1
            } else {
                src.layers().len()
            };
            let dst = End {
                img: dst,
                layer: None,
            };
            Box::new(Mirror::new(MirrorOptions {
                device: dev.r,
                target: tgt.r,
                src,
                dst,
                sync,
                until,
                granularity,
            }))
        }
        JobKind::Stream { base } => {
            claims.push(claims::claim_as_patiently(dom, dev.r, "stream", t, Mode::Write).await?);
            let layers = chain(&dev).await?;
            let b = if base.is_null() {
                layers.len()
            } else {
                let b = layer_of(dom, &dev, &layers, base, "base")?;
                if b == 0 {
                    return Err(invalid("base", "the device itself"));
                }
                b
            };
            let img = open_async(&dev, true, Vec::new()).await?;
            Box::new(Stream::new(dev.r, img, b, dev.dir.clone()))
        }
        JobKind::Commit { top, base } => {
            let layers = chain(&dev).await?;
            let top_i = if top.is_null() {
                0
            } else {
                layer_of(dom, &dev, &layers, top, "top")?
            };
            let base_i = if base.is_null() {
                if top_i + 1 >= layers.len() {
                    return Err(invalid("base", "top has no backing image to commit into"));
                }
                top_i + 1
            } else {
                layer_of(dom, &dev, &layers, base, "base")?
            };
            if base_i == top_i {
                return Err(invalid("base", "cannot commit an image into itself"));
            }
            if base_i < top_i {
                return Err(invalid("base", "base is above top in the chain"));
            }
            let base_vdi = vdis::at(dom, dev.sr, &layers[base_i])
                .ok_or_else(|| invalid("base", "the base image is not a VDI"))?;
            let base_disk = disk(dom, base_vdi)?;
            spec.target = base_vdi;
            let active = top_i == 0;
            let mode = if active { Mode::Hooked } else { Mode::Write };
            claims.push(claims::claim_as_patiently(dom, dev.r, "commit", t, mode).await?);
            claims.push(claims::claim_as_patiently(dom, base_vdi, "commit", t, Mode::Write).await?);
            // The base's data becomes the committed layers': their changed
            // blocks become its own (CBT), before anything is written.
            let merged: Vec<Ref> = layers[top_i..base_i]
                .iter()
                .filter_map(|l| vdis::at(dom, dev.sr, l))
                .collect();
            cbt::absorb(dom, base_vdi, &merged).await?;
            bitmaps::mark_all(dom, base_vdi).await?;
            // The base grows to the device's size; it never shrinks.
            if base_disk.size < dev.size {
                let (dir, loc, size) = (dev.dir.clone(), base_disk.loc.clone(), dev.size);
                blocking(move || image::resize(&dir, &loc, size))
                    .await?
                    .map_err(|e| io_error("cannot grow the base image", e))?;
            }
            let img =
                open_async(&dev, active && !dev.read_only, vec![layers[base_i].clone()]).await?;
            if active {
                let dst = End {
                    img: img.clone(),
                    layer: Some(base_i),
                };
                Box::new(Mirror::new(MirrorOptions {
                    device: dev.r,
                    target: base_vdi,
                    src: img,
                    dst,
                    sync: SyncMode::Full,
                    until: base_i,
                    granularity: 64 << 10,
                }))
            } else {
                let overlay = vdis::at(dom, dev.sr, &layers[top_i - 1])
                    .ok_or_else(|| invalid("top", "the image above top is not a VDI"))?;
                Box::new(Commit::new(
                    dev.r,
                    overlay,
                    base_vdi,
                    img,
                    top_i,
                    base_i,
                    dev.dir.clone(),
                ))
            }
        }
    };
    Ok(Held { claims, work })
}

/// The id a job gets: the one asked for (checked), else its device's uuid.
fn job_id(d: &Domain, spec: &Spec) -> ApiResult<String> {
    match &spec.job_id {
        Some(id) => {
            if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_control()) {
                return Err(invalid("job_id", id));
            }
            Ok(id.clone())
        }
        None => d.registry.get_field(vdi::UUID, spec.device),
    }
}

/// Creates and starts a job whose work and claims the job type prepared.
/// Returns once it is running.
pub async fn start_prepared(
    jobs: &Arc<Jobs>,
    spec: Spec,
    held: Held,
    own: bool,
    txn: Option<Arc<Txn>>,
) -> ApiResult<Arc<Job>> {
    let job = create(jobs, &spec, own, txn).await?;
    run(jobs, &job, held, spec.cancel).await;
    Ok(job)
}

/// QEMU's `job_create`: takes the job's id, names it in its task, and
/// makes its object, `created` (the job is in the table, not yet started).
pub(super) async fn create(
    jobs: &Arc<Jobs>,
    spec: &Spec,
    own: bool,
    txn: Option<Arc<Txn>>,
) -> ApiResult<Arc<Job>> {
    let d = &jobs.domain;
    let id = job_id(d, spec)?;
    let r = Ref::new();
    match jobs.ids.entry(id.clone()) {
        dashmap::Entry::Occupied(_) => {
            return Err(ApiError::not_allowed(format!(
                "Job ID '{id}' already in use"
            )));
        }
        dashmap::Entry::Vacant(e) => {
            e.insert(r);
        }
    }
    let unregister = || {
        jobs.ids.remove(&id);
    };
    let Some(task) = spec.task else {
        unregister();
        return Err(ApiError::internal("a job without a task"));
    };
    // The task names its job.
    if let Err(e) = tasks::name_job(d, task, r).await {
        unregister();
        return Err(e);
    }
    let mut f = d.model.default_row(block_job::CLASS);
    f.set(block_job::UUID, Uuid::new_v4().to_string());
    f.set(block_job::JOB_ID, id.as_str());
    f.set(block_job::TYPE, spec.kind.job_type());
    f.set(block_job::STATUS, Status::Created);
    f.set(block_job::DEVICE, spec.device);
    f.set(block_job::TARGET, spec.target);
    f.set(
        block_job::SPEED,
        i64::try_from(spec.speed).unwrap_or(i64::MAX),
    );
    f.set(block_job::AUTO_FINALIZE, spec.auto_finalize);
    f.set(block_job::AUTO_DISMISS, spec.auto_dismiss);
    f.set(block_job::ON_SOURCE_ERROR, spec.on_source_error);
    f.set(block_job::ON_TARGET_ERROR, spec.on_target_error);
    f.set(block_job::TASK, task);
    f.set(
        block_job::SYNC,
        match spec.kind {
            JobKind::Backup { sync } | JobKind::Mirror { sync, .. } => sync.name(),
            _ => "",
        },
    );
    if let Err(e) = d.registry.insert(block_job::CLASS, r, f).wait().await {
        unregister();
        return Err(e.api_error());
    }
    let (done, _) = watch::channel(None);
    let job = Arc::new(Job {
        r,
        task,
        id: id.clone(),
        kind: spec.kind,
        domain: jobs.domain.clone(),
        own_task: own,
        txn: txn.clone(),
        auto_finalize: spec.auto_finalize,
        auto_dismiss: spec.auto_dismiss,
        on_source_error: spec.on_source_error,
        on_target_error: spec.on_target_error,
        ctl: Mutex::new(Ctl::new(spec.speed)),
        cv: Condvar::new(),
        alarm: Alarm::default(),
        current: AtomicU64::new(0),
        total: AtomicU64::new(0),
        copied: AtomicU64::new(0),
        started: std::time::Instant::now(),
        notify: Notify::new(),
        done,
        removed: watch::channel(false).0,
    });
    jobs.by_ref.insert(r, job.clone());
    if let Some(t) = &txn {
        let member: Arc<dyn Member> = job.clone();
        t.add(Arc::downgrade(&member));
    }
    refresh_faults(d, &[spec.device, spec.target]);
    Ok(job)
}

/// QEMU's `job_start`: hooks the device's writes if the work wants them,
/// moves the job to running and hands the work to its coordinator
/// (`cancel` is its task's cancellation).
pub(super) async fn run(
    jobs: &Arc<Jobs>,
    job: &Arc<Job>,
    held: Held,
    cancel: Option<CancellationToken>,
) {
    if let Some((vdi, hook)) = held.work.hook() {
        // Imports into the device write through the job from now on.
        match held.claims.iter().find(|c| c.vdi() == vdi) {
            Some(c) => c.set_hook(hook),
            None => tracing::error!(job = %job.id, "a job's hooked device is not claimed"),
        }
    }
    let running = {
        let mut c = lock(&job.ctl);
        if let Err(e) = c.m.start() {
            tracing::error!(error = %e, "job start");
        }
        job.publish_status(&c)
    };
    // (Running is volatile: nothing to wait for.)
    job.settle(running).await;
    job.domain()
        .tracker
        .spawn(coordinate(jobs.clone(), job.clone(), held, cancel));
}
