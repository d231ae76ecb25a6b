//! Starting a job: check the VDIs and options, create the task, claim the
//! VDIs, open the images (off the RPC threads), and hand the work to the
//! engine.

use std::sync::Arc;

use super::backup::Backup;
use super::commit::Commit;
use super::copy::End;
use super::engine::{self, Held, Job, JobKind, Spec, Sync, Work};
use super::mirror::Mirror;
use super::stream::Stream;
use crate::api::busy::{self, Mode};
use crate::api::vdi::{blocking, file_of, io_error, map_get};
use crate::api::{task, ApiError, ApiResult, Server};
use crate::storage::image::{self, Format, Image, OpenOptions};
use crate::storage::path::SrDir;
use crate::wire::{Ref, Value};

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

fn disk(server: &Server, r: Ref) -> ApiResult<Disk> {
    let v = &server.ids.vdi;
    let (sr, dir, loc) = file_of(server, r)?;
    let (format, size, read_only) = server.registry.read_or(v.class, r, |row| {
        (
            map_get(&row.fields[v.sm_config], "image-format")
                .and_then(Format::from_name)
                .unwrap_or(Format::Raw),
            match row.fields[v.virtual_size] {
                Value::Int(n) => n.max(0) as u64,
                _ => 0,
            },
            row.fields[v.read_only] == Value::Bool(true),
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

fn invalid(field: &str, value: impl std::fmt::Display) -> ApiError {
    ApiError::new("INVALID_VALUE", [field.to_string(), value.to_string()])
}

/// The VDI of SR `sr` whose file is `name`.
fn vdi_at(server: &Server, sr: Ref, name: &str) -> Option<Ref> {
    let v = &server.ids.vdi;
    let mut out = None;
    server.registry.for_each(v.class, |r, row| {
        if row.fields[v.sr] == Value::Ref(sr) && row.fields[v.location].as_str() == Some(name) {
            out = Some(r);
        }
    });
    out
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
    pub async fn abandon(self, server: &Arc<Server>, e: ApiError) {
        let Prepared { spec, held, own } = self;
        let _ = tokio::task::spawn_blocking(move || drop(held)).await;
        if let (true, Some(t)) = (own, spec.task) {
            task::finish(server, t, Err(e)).await;
        }
    }
}

/// Starts a job as `spec` says; returns once it runs.
pub async fn start(server: &Arc<Server>, spec: Spec) -> ApiResult<Arc<Job>> {
    let p = prepare_job(server, spec).await?;
    launch(server, p, None).await
}

/// Starts a prepared job (in transaction `txn`, if any).
pub async fn launch(
    server: &Arc<Server>,
    p: Prepared,
    txn: Option<Arc<engine::Txn>>,
) -> ApiResult<Arc<Job>> {
    let Prepared { spec, held, own } = p;
    let t = spec.task;
    match engine::start_prepared(server, spec, held, own, txn).await {
        Ok(j) => Ok(j),
        Err(e) => {
            if let (true, Some(t)) = (own, t) {
                task::finish(server, t, Err(e.clone())).await;
            }
            Err(e)
        }
    }
}

/// Checks a job, makes its task, claims its VDIs and opens its images.
pub async fn prepare_job(server: &Arc<Server>, mut spec: Spec) -> ApiResult<Prepared> {
    let dev = disk(server, spec.device)?;
    // Checks that need no file come first: nothing is created for a
    // request that cannot run.
    match spec.kind {
        JobKind::Backup { .. } | JobKind::Mirror { .. } => {
            let tgt = disk(server, spec.target)?;
            if tgt.r == dev.r {
                return Err(invalid("target", "the device itself"));
            }
            if tgt.read_only {
                return Err(ApiError::new("VDI_READ_ONLY", [tgt.r.to_string()]));
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
                return Err(ApiError::new(
                    "VDI_TOO_SMALL",
                    [tgt.r.to_string(), dev.size.to_string()],
                ));
            }
        }
        JobKind::Stream { .. } | JobKind::Commit { .. } => {
            if dev.read_only && matches!(spec.kind, JobKind::Stream { .. }) {
                return Err(ApiError::new("VDI_READ_ONLY", [dev.r.to_string()]));
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
    let t = match spec.task {
        Some(t) => t,
        None => {
            task::create_managed(
                server,
                &format!("block_job.{}", spec.kind.type_name()),
                None,
            )
            .await?
        }
    };
    spec.task = Some(t);
    if own && spec.cancel.is_none() {
        spec.cancel = Some(task::make_cancellable(server, t));
    }
    let out = prepare(server, &mut spec, dev, t).await;
    match out {
        Ok(held) => Ok(Prepared { spec, held, own }),
        Err(e) => {
            if own {
                task::finish(server, t, Err(e.clone())).await;
            }
            Err(e)
        }
    }
}

/// The VDI named by a string: its ref or its uuid.
pub fn find_vdi(server: &Server, s: &str) -> Option<Ref> {
    let v = &server.ids.vdi;
    Ref::parse(s)
        .filter(|r| server.registry.exists(v.class, *r))
        .or_else(|| {
            uuid::Uuid::parse_str(s)
                .ok()
                .and_then(|u| server.registry.by_uuid(v.class, &u))
        })
}

/// Resolves a VDI given in an option: a ref or a uuid.
pub fn vdi_option(server: &Server, field: &str, s: &str) -> ApiResult<Ref> {
    find_vdi(server, s).ok_or_else(|| invalid(field, s))
}

/// The index of VDI `r`'s file in the chain `layers` (same SR only).
fn layer_of(
    server: &Server,
    dev: &Disk,
    layers: &[String],
    r: Ref,
    field: &str,
) -> ApiResult<usize> {
    let d = disk(server, r)?;
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

async fn prepare(server: &Arc<Server>, spec: &mut Spec, dev: Disk, t: Ref) -> ApiResult<Held> {
    let mut claims = Vec::new();
    let work: Box<dyn Work> = match spec.kind {
        JobKind::Backup { sync } => {
            let tgt = disk(server, spec.target)?;
            let hooked = !spec.read_only_device;
            let mode = if hooked { Mode::Hooked } else { Mode::Read };
            claims.push(busy::claim_as(server, dev.r, "backup", t, mode)?);
            claims.push(busy::claim_as(server, tgt.r, "backup", t, Mode::Write)?);
            let src = open_async(&dev, hooked && !dev.read_only, Vec::new()).await?;
            let dst = open_async(&tgt, true, Vec::new()).await?;
            Box::new(Backup::new(
                dev.r,
                tgt.r,
                src,
                dst,
                sync,
                spec.fresh_target,
                hooked,
            ))
        }
        JobKind::Mirror { sync, granularity } => {
            let tgt = disk(server, spec.target)?;
            claims.push(busy::claim_as(server, dev.r, "mirror", t, Mode::Hooked)?);
            claims.push(busy::claim_as(server, tgt.r, "mirror", t, Mode::Write)?);
            let src = open_async(&dev, !dev.read_only, Vec::new()).await?;
            let dst = open_async(&tgt, true, Vec::new()).await?;
            let until = if sync == Sync::Top {
                1
            } else {
                src.layers().len()
            };
            let dst = End {
                img: dst,
                layer: None,
            };
            Box::new(Mirror::new(
                dev.r,
                tgt.r,
                src,
                dst,
                sync,
                until,
                granularity,
                false,
            ))
        }
        JobKind::Stream { base } => {
            claims.push(busy::claim_as(server, dev.r, "stream", t, Mode::Write)?);
            let layers = chain(&dev).await?;
            let b = if base.is_null() {
                layers.len()
            } else {
                let b = layer_of(server, &dev, &layers, base, "base")?;
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
                layer_of(server, &dev, &layers, top, "top")?
            };
            let base_i = if base.is_null() {
                if top_i + 1 >= layers.len() {
                    return Err(invalid("base", "top has no backing image to commit into"));
                }
                top_i + 1
            } else {
                layer_of(server, &dev, &layers, base, "base")?
            };
            if base_i == top_i {
                return Err(invalid("base", "cannot commit an image into itself"));
            }
            if base_i < top_i {
                return Err(invalid("base", "base is above top in the chain"));
            }
            let base_vdi = vdi_at(server, dev.sr, &layers[base_i])
                .ok_or_else(|| invalid("base", "the base image is not a VDI"))?;
            let base_disk = disk(server, base_vdi)?;
            spec.target = base_vdi;
            let active = top_i == 0;
            claims.push(busy::claim_as(
                server,
                dev.r,
                "commit",
                t,
                if active { Mode::Hooked } else { Mode::Write },
            )?);
            claims.push(busy::claim_as(server, base_vdi, "commit", t, Mode::Write)?);
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
                Box::new(Mirror::new(
                    dev.r,
                    base_vdi,
                    img,
                    dst,
                    Sync::Full,
                    base_i,
                    64 << 10,
                    false,
                ))
            } else {
                let overlay = vdi_at(server, dev.sr, &layers[top_i - 1])
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
