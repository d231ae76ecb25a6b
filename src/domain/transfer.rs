//! Import and export of a VDI's raw data (the core of the HTTP data paths;
//! the HTTP layer only parses the request, streams the body and picks the
//! status code). Both hold a claim on the VDI for as long as they run, are
//! followed by a task, and do their file I/O on blocking threads.
//!
//! Writes to the device of a running job go through the job's image and
//! its write hook, found on the job's claim ([`claims::hook`]): a backup
//! saves the old data first, a mirror copies the new data too. This module
//! is the only place that writes through a hook besides the jobs.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bitmaps;
use super::cbt;
use super::claims::{self, Claim, Hook};
use super::vdis::{self, file_of, known_format};
use super::{invalid, io_error, tasks, Domain};
use crate::error::{ApiError, ApiResult};
use crate::storage::change_log::Tracker;
use crate::storage::image::{Alloc, Image, OpenOptions};
use crate::storage::sparse::is_zero;
use crate::wire::{Ref, Value};

/// Bytes read or written at once.
pub const PIECE: usize = 4 << 20;

/// Why a transfer was refused before any data moved (the HTTP layer maps
/// each to a status code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The VDI (or task) is not there.
    NotFound,
    /// The VDI is read-only.
    ReadOnly,
    /// The request does not fit the VDI.
    BadRequest,
    /// Another operation holds the VDI.
    Busy,
    /// The server could not open the image.
    Failed,
}

/// A refusal and its XenAPI error.
pub type Refused = (Refusal, ApiError);

/// Opens a VDI's image for a transfer, or shares the image of the job that
/// holds it hooked (writes must then go through the job).
fn open_image(d: &Domain, vdi: Ref, write: bool) -> ApiResult<(Arc<Image>, Option<Hook>)> {
    if let Some(h) = claims::hook(d, vdi) {
        return Ok((h.image().clone(), Some(h)));
    }
    let (_, dir, loc) = file_of(d, vdi)?;
    let format = known_format(d, vdi)?;
    let opts = OpenOptions {
        write,
        write_layers: Vec::new(),
    };
    let img = Image::open_format(&dir, &loc, format, &opts)
        .map_err(|e| io_error("cannot open the image", e))?;
    Ok((Arc::new(img), None))
}

async fn open_blocking(
    d: &Arc<Domain>,
    vdi: Ref,
    write: bool,
) -> Result<(Arc<Image>, Option<Hook>), Refused> {
    let d2 = d.clone();
    match tokio::task::spawn_blocking(move || open_image(&d2, vdi, write)).await {
        Ok(Ok(x)) => Ok(x),
        Ok(Err(e)) => Err((Refusal::Failed, e)),
        Err(e) => Err((Refusal::Failed, ApiError::internal(e))),
    }
}

/// An import under way: the VDI claimed, its image open.
pub struct Import {
    /// The VDI written.
    pub vdi: Ref,
    /// Its virtual size.
    pub size: u64,
    /// Where the data starts.
    pub offset: u64,
    /// Fired by `task.cancel` (for a task the server made).
    pub cancel: Option<CancellationToken>,
    claim: Claim,
    img: Arc<Image>,
    hook: Option<Hook>,
    /// CBT's log and the recording dirty bitmaps: marked before each write.
    track: Vec<Tracker>,
}

/// Checks an import of `declared` bytes (if known) at `offset` (a decimal
/// string, if given) into `vdi` for `task`, claims the VDI and opens its
/// image. Nothing is written on a refusal.
pub async fn begin_import(
    d: &Arc<Domain>,
    vdi: Ref,
    task: Ref,
    offset: Option<&str>,
    declared: Option<u64>,
) -> Result<Import, Refused> {
    let (size, ro) = vdis::size_and_read_only(d, vdi).map_err(|e| (Refusal::NotFound, e))?;
    if ro {
        let e = ApiError::vdi_read_only(vdi);
        return Err((Refusal::ReadOnly, e));
    }
    let offset = match offset {
        None | Some("") => 0u64,
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n <= size => n,
            _ => {
                let shown: String = s.chars().take(40).collect();
                return Err((Refusal::BadRequest, invalid("offset", shown)));
            }
        },
    };
    if let Some(n) = declared {
        if n > size - offset {
            let e = invalid(
                "Content-Length",
                format!("{n} bytes do not fit at offset {offset} of a {size}-byte disk"),
            );
            return Err((Refusal::BadRequest, e));
        }
    }
    let claim = claims::claim_patiently(d, vdi, "import", task)
        .await
        .map_err(|e| (Refusal::Busy, e))?;
    let cancel = tasks::is_managed(d, task).then(|| tasks::make_cancellable(d, task));
    let mut track: Vec<Tracker> = cbt::tracker(d, vdi)
        .await
        .map_err(|e| (Refusal::Failed, e))?
        .into_iter()
        .collect();
    track.extend(
        bitmaps::recording(d, vdi)
            .await
            .map_err(|e| (Refusal::Failed, e))?,
    );
    let (img, hook) = open_blocking(d, vdi, true).await?;
    Ok(Import {
        vdi,
        size,
        offset,
        cancel,
        claim,
        img,
        hook,
        track,
    })
}

impl Import {
    /// Starts the writer on a blocking thread: pieces `(offset, bytes)`
    /// sent to the returned channel are written in order (through the
    /// job's hook, if any); the image is flushed at the end. The claim is
    /// held until the writer is done.
    pub fn spawn_writer(
        self,
    ) -> (
        mpsc::Sender<(u64, Bytes)>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let (tx, mut rx) = mpsc::channel::<(u64, Bytes)>(2);
        let Import {
            claim,
            img,
            hook,
            track,
            ..
        } = self;
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let _claim = claim;
            while let Some((off, data)) = rx.blocking_recv() {
                // Changed block tracking and dirty bitmaps: recorded on
                // disk before the write.
                for t in &track {
                    t.mark(off, data.len() as u64)?;
                }
                write(&img, hook.as_ref(), off, &data)?;
            }
            img.flush()
        });
        (tx, writer)
    }
}

/// One write into a VDI's image, through the hook of the job that holds
/// it, if any: the hook sees the range before (copy-before-write) and
/// after (dirty tracking), whatever the outcome.
fn write(img: &Image, hook: Option<&Hook>, off: u64, data: &[u8]) -> std::io::Result<()> {
    let len = data.len() as u64;
    if let Some(h) = hook {
        h.before_write(off, len)?;
    }
    let r = if is_zero(data) {
        img.write_zeroes(off, len)
    } else {
        img.write_at(data, off)
    };
    if let Some(h) = hook {
        h.after_write(off, len);
    }
    r
}

/// Ends a transfer: the VDI's sizes are read again (an import may have
/// allocated blocks) and the task finishes with `out`.
pub async fn finish(d: &Domain, vdi: Ref, task: Ref, out: ApiResult<Value>) {
    if let Err(e) = vdis::refresh(d, vdi).await {
        tracing::warn!(vdi = %vdi, error = %e, "could not refresh a VDI after a transfer");
    }
    bitmaps::refresh_counts(d, vdi).await;
    // Before the task ends, so that a client that saw it succeed finds the
    // file's copy of the bitmaps up to date (if the writer is gone yet).
    bitmaps::copy_changed(d, vdi).await;
    tasks::finish(d, task, out).await;
}

/// An export under way: the VDI claimed (as a reader), its image open.
pub struct Export {
    /// The VDI read.
    pub vdi: Ref,
    /// Its size: the length of the data.
    pub size: u64,
    claim: Claim,
    img: Arc<Image>,
}

/// Claims `vdi` for an export by `task` and opens its image.
pub async fn begin_export(d: &Arc<Domain>, vdi: Ref, task: Ref) -> Result<Export, Refused> {
    let claim = claims::claim_patiently(d, vdi, "export", task)
        .await
        .map_err(|e| (Refusal::Busy, e))?;
    let (img, _) = open_blocking(d, vdi, false).await?;
    Ok(Export {
        vdi,
        size: img.size(),
        claim,
        img,
    })
}

/// Claims `vdi` as a reader (`export`) for `owner` and opens its image
/// read-only: an NBD connection's hold on its VDI.
pub async fn open_reader(
    d: &Arc<Domain>,
    vdi: Ref,
    owner: Ref,
) -> Result<(Claim, Arc<Image>), Refused> {
    let claim = claims::claim_patiently(d, vdi, "export", owner)
        .await
        .map_err(|e| (Refusal::Busy, e))?;
    let (img, _) = open_blocking(d, vdi, false).await?;
    Ok((claim, img))
}

/// One part of an export: bytes sent as they are (framing), then the
/// VDI's bytes `[start, end)`.
pub type Part = (Bytes, u64, u64);

impl Export {
    /// Starts the reader on a blocking thread: the bytes `[start, end)` of
    /// the VDI (all of it: `0..size`) in pieces, holes as shared zeroes,
    /// into the returned channel; the task's progress moves as it goes, and
    /// it finishes when the reader does (or the client goes away).
    pub fn spawn_reader(
        self,
        d: &Arc<Domain>,
        task: Ref,
        start: u64,
        end: u64,
    ) -> mpsc::Receiver<Bytes> {
        self.spawn_parts(d, task, vec![(Bytes::new(), start, end)], Bytes::new())
    }

    /// As [`Export::spawn_reader`] for several ranges, each after its
    /// framing bytes, then `tail` (a multipart body, say).
    pub fn spawn_parts(
        self,
        d: &Arc<Domain>,
        task: Ref,
        parts: Vec<Part>,
        tail: Bytes,
    ) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel::<Bytes>(2);
        let Export {
            size, claim, img, ..
        } = self;
        let parts: Vec<Part> = parts
            .into_iter()
            .map(|(h, a, b)| (h, a.min(size), b.min(size)))
            .collect();
        let total = parts
            .iter()
            .map(|(_, a, b)| b.saturating_sub(*a))
            .sum::<u64>()
            .max(1) as f64;
        let d2 = d.clone();
        let reader = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            let _claim = claim;
            let zeroes = Bytes::from(vec![0u8; PIECE]);
            let mut done = 0u64;
            for (head, start, end) in parts {
                if !head.is_empty() && tx.blocking_send(head).is_err() {
                    return Ok(false);
                }
                let mut off = start;
                while off < end {
                    let want = (PIECE as u64).min(end - off);
                    let (n, a) = img.chain_status(0, img.layers().len(), off, want)?;
                    let chunk = match a {
                        Alloc::Data => {
                            let mut b = vec![0u8; n as usize];
                            img.read_at(0, &mut b, off)?;
                            Bytes::from(b)
                        }
                        Alloc::Zero | Alloc::Unallocated => zeroes.slice(0..n as usize),
                    };
                    if tx.blocking_send(chunk).is_err() {
                        return Ok(false); // the client went away
                    }
                    off += n;
                    done += n;
                    tasks::set_progress_volatile(&d2, task, done as f64 / total);
                }
            }
            if !tail.is_empty() && tx.blocking_send(tail).is_err() {
                return Ok(false);
            }
            Ok(true)
        });
        let d3 = d.clone();
        // Not on the tracker: a slow reader must not hold up a shutdown.
        tokio::spawn(async move {
            let out = match reader.await {
                Ok(Ok(true)) => Ok(Value::void()),
                Ok(Ok(false)) => Err(io_error("export", "the client went away")),
                Ok(Err(e)) => Err(io_error("export", e)),
                Err(e) => Err(ApiError::internal(e)),
            };
            tasks::finish(&d3, task, out).await;
        });
        rx
    }
}
