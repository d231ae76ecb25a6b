//! `backup`: a point-in-time copy of the device into the target. Writes
//! to the device made through the server while the job runs first copy the
//! old data of blocks not yet copied into the target (copy-before-write),
//! so the target is the device as it was when the job started.
//! `sync=full` copies everything the device reads as, `top` only what its
//! own layer holds, `none` only what is overwritten, until cancelled,
//! `bitmap` (and `incremental`) only what a dirty bitmap marked when the
//! job started; the bitmap is then given back as its `bitmap_mode` says
//! (QEMU's table: `domain::bitmaps::InUse`).

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::copy::{chunk_for, copy_data, copy_plain, copy_zero, flush, with_policy, Bitmap, End};
use super::error::JobError;
use super::job::Job;
use super::options::{Side, SyncMode};
use super::work::{Effect, Ended, Work};
use crate::domain::bitmaps::InUse;
use crate::domain::claims::{Hook, WriteHook};
use crate::storage::image::{Alloc, Image};
use crate::wire::Ref;

/// Block size of the copy-before-write map (QEMU's default cluster).
const CLUSTER: u64 = 64 << 10;

/// The state the work and the write hook share.
pub struct Shared {
    src: Arc<Image>,
    dst: End,
    fresh: bool,
    top_only: bool,
    /// Blocks already copied (by the work or before a write).
    done: Mutex<Bitmap>,
}

/// A backup's work.
pub struct Backup {
    shared: Arc<Shared>,
    sync: SyncMode,
    device: Ref,
    target: Ref,
    hooked: bool,
    bitmap: Option<InUse>,
}

/// What a backup is asked to do.
pub struct BackupOptions {
    /// The VDI copied.
    pub device: Ref,
    /// The VDI written.
    pub target: Ref,
    /// The device's open image.
    pub src: Arc<Image>,
    /// The target's open image.
    pub dst: Arc<Image>,
    /// What is copied.
    pub sync: SyncMode,
    /// The target was just created (reads as zeroes): zero ranges need not
    /// be written.
    pub fresh_target: bool,
    /// Writes made to the device through the server first copy the old
    /// data (copy-before-write); false when the device is only read.
    pub hooked: bool,
    /// The dirty bitmap used (`sync=bitmap` copies only what it marks),
    /// given back as its mode says when the job ends.
    pub bitmap: Option<InUse>,
}

impl Backup {
    /// A backup as `o` says.
    pub fn new(o: BackupOptions) -> Backup {
        let size = o.src.size();
        let mut done = Bitmap::new(size, CLUSTER);
        if let (SyncMode::Bitmap, Some(b)) = (o.sync, &o.bitmap) {
            // Only what the bitmap marks is copied: the rest counts as done
            // (neither the work nor a write copies it).
            let mut pos = 0;
            while pos < size {
                let n = CLUSTER.min(size - pos);
                if !b.dirty(pos, n) {
                    done.set(pos, n);
                }
                pos += n;
            }
        }
        Backup {
            shared: Arc::new(Shared {
                src: o.src,
                dst: End {
                    img: o.dst,
                    layer: None,
                },
                fresh: o.fresh_target,
                top_only: o.sync == SyncMode::Top,
                done: Mutex::new(done),
            }),
            sync: o.sync,
            device: o.device,
            target: o.target,
            hooked: o.hooked,
            bitmap: o.bitmap,
        }
    }

    /// The bitmap goes back as its mode says (`success` or not).
    fn end_bitmap(&mut self, success: bool) {
        if let Some(b) = self.bitmap.take() {
            let done = self.shared.done.lock().unwrap_or_else(|p| p.into_inner());
            let g = done.granularity;
            let copied = |off: u64, len: u64| -> bool {
                (off / g..(off + len).div_ceil(g)).all(|c| done.get(c))
            };
            b.finish(success, &copied);
        }
    }
}

impl WriteHook for Shared {
    fn image(&self) -> &Arc<Image> {
        &self.src
    }

    fn before_write(&self, offset: u64, len: u64) -> io::Result<()> {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let g = done.granularity;
        let size = self.src.size();
        let start = offset / g * g;
        let end = offset.saturating_add(len).min(size).div_ceil(g) * g;
        let mut pos = start;
        while pos < end.min(size) {
            let b = pos / g;
            let n = g.min(size - pos);
            if !done.get(b) {
                copy_plain(&self.src, &self.dst, self.fresh, pos, n, self.top_only)?;
                done.set(pos, n);
            }
            pos += g;
        }
        Ok(())
    }

    fn after_write(&self, _offset: u64, _len: u64) {}
}

impl Work for Backup {
    fn run(&mut self, job: &Job) -> Result<Ended, JobError> {
        let s = self.shared.clone();
        let size = s.src.size();
        let depth = s.src.layers().len();
        job.set_total(size);
        if self.sync == SyncMode::None {
            // Only what is overwritten is copied (by the hook), until the
            // job is cancelled.
            loop {
                job.sleep(Duration::from_millis(200))?;
            }
        }
        let mut buf = Vec::new();
        let mut off = 0u64;
        while off < size {
            job.pause_point()?;
            let speed = job.speed();
            let piece = chunk_for(speed).min(size - off);
            // The next pieces are read in the background meanwhile.
            if off.is_multiple_of(4 * super::copy::CHUNK) {
                s.src.prefetch(off + piece, 4 * super::copy::CHUNK);
            }
            let mut copied = 0u64;
            {
                let mut done = s.done.lock().unwrap_or_else(|p| p.into_inner());
                let g = done.granularity;
                let end = off + piece;
                let mut pos = off;
                while pos < end {
                    // A run of blocks not yet copied (a write may have
                    // copied some already: those keep their old data).
                    if done.get(pos / g) {
                        let n = (pos / g + 1) * g - pos;
                        job.progress(n.min(end - pos));
                        pos += n.min(end - pos);
                        continue;
                    }
                    let mut run_end = pos;
                    while run_end < end && !done.get(run_end / g) {
                        run_end = ((run_end / g + 1) * g).min(end);
                    }
                    while pos < run_end {
                        let (n, a) = with_policy(job, Side::Source, || {
                            if s.top_only {
                                s.src.status(0, pos, run_end - pos)
                            } else {
                                s.src.chain_status(0, depth, pos, run_end - pos)
                            }
                        })?;
                        match a {
                            Alloc::Unallocated if s.top_only => {
                                // Not part of a top backup: out of the total.
                                job.set_total(job.total().saturating_sub(n));
                                pos += n;
                                continue;
                            }
                            Alloc::Zero | Alloc::Unallocated => {
                                copy_zero(job, &s.dst, s.fresh, pos, n)?;
                            }
                            Alloc::Data => {
                                copied +=
                                    copy_data(job, &s.src, 0, &s.dst, s.fresh, pos, n, &mut buf)?;
                            }
                        }
                        job.progress(n);
                        pos += n;
                    }
                }
                done.set(off, piece);
            }
            // Write-back as we go (on this thread), a few pieces behind.
            s.dst.img.write_behind(off, piece, u64::MAX);
            job.throttle(copied)?;
            off += piece;
        }
        flush(job, &s.dst.img)?;
        Ok(Ended::Done)
    }

    fn commit(&mut self, _ended: Ended) -> io::Result<Vec<Effect>> {
        self.shared.dst.img.flush()?;
        self.end_bitmap(true);
        Ok(vec![Effect::Refresh(self.target)])
    }

    fn abort(&mut self) {
        // Best effort: the job has failed already and its result is not
        // used (targets are marked incomplete; chains keep their backing).
        let _ = self.shared.dst.img.flush();
        self.end_bitmap(false);
    }

    fn hook(&self) -> Option<(Ref, Hook)> {
        if !self.hooked {
            return None;
        }
        Some((self.device, self.shared.clone() as Hook))
    }
}
