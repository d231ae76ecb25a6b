//! `mirror`, and active `commit` (QEMU runs both with the mirror driver):
//! copy what the device holds into the target, go `ready` once the target
//! has caught up, keep copying what is written to the device (through the
//! server) while ready, and on `complete` drain the writes, catch up one
//! last time and pivot. A soft cancel in ready catches up and ends without
//! pivoting; a forced one just stops.

use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::copy::{chunk_for, copy_data, copy_zero, flush, with_policy, Bitmap, End};
use super::error::JobError;
use super::job::Job;
use super::options::{Side, SyncMode};
use super::work::{Effect, Ended, Work};
use crate::domain::claims::{Hook, WriteHook};
use crate::storage::image::{Alloc, Image};
use crate::wire::Ref;

#[derive(Default)]
struct Gate {
    frozen: bool,
    inflight: u32,
}

/// What the work and the write hook share.
pub struct Shared {
    src: Arc<Image>,
    dirty: Mutex<Bitmap>,
    gate: Mutex<Gate>,
    drained: Condvar,
}

impl Shared {
    fn freeze(&self) {
        let mut g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        g.frozen = true;
        while g.inflight > 0 {
            g = self.drained.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn thaw(&self) {
        self.gate.lock().unwrap_or_else(|p| p.into_inner()).frozen = false;
    }

    fn dirty(&self) -> std::sync::MutexGuard<'_, Bitmap> {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl WriteHook for Shared {
    fn image(&self) -> &Arc<Image> {
        &self.src
    }

    fn before_write(&self, _offset: u64, _len: u64) -> io::Result<()> {
        let mut g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        if g.frozen {
            return Err(io::Error::other(
                "the mirror is completing: writes to its device are held off",
            ));
        }
        g.inflight += 1;
        Ok(())
    }

    fn after_write(&self, offset: u64, len: u64) {
        self.dirty().set(offset, len);
        let mut g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        g.inflight = g.inflight.saturating_sub(1);
        self.drained.notify_all();
    }
}

/// What a mirror (or an active commit) is asked to do.
pub struct MirrorOptions {
    /// The VDI mirrored (its claim carries the write hook).
    pub device: Ref,
    /// The VDI it pivots onto (an active commit's base).
    pub target: Ref,
    /// The device's open image.
    pub src: Arc<Image>,
    /// Where the copy goes (a layer of `src` itself for an active commit).
    pub dst: End,
    /// What is copied before the job is in sync.
    pub sync: SyncMode,
    /// Layers of the source that count: the chain down to just above the
    /// base for an active commit, 1 for sync=top, the whole chain else.
    pub until: usize,
    /// Bytes per bit of the dirty map.
    pub granularity: u64,
}

/// A mirror's (or an active commit's) work.
pub struct Mirror {
    shared: Arc<Shared>,
    dst: End,
    sync: SyncMode,
    /// See [`MirrorOptions::until`].
    until: usize,
    device: Ref,
    target: Ref,
}

impl Mirror {
    /// A mirror as `o` says.
    pub fn new(o: MirrorOptions) -> Mirror {
        let size = o.src.size();
        Mirror {
            shared: Arc::new(Shared {
                src: o.src,
                dirty: Mutex::new(Bitmap::new(size, o.granularity)),
                gate: Mutex::new(Gate::default()),
                drained: Condvar::new(),
            }),
            dst: o.dst,
            sync: o.sync,
            until: o.until,
            device: o.device,
            target: o.target,
        }
    }

    /// Marks what the sync mode copies as dirty.
    fn initial(&self, job: &Job) -> Result<(), JobError> {
        if self.sync == SyncMode::None {
            return Ok(());
        }
        let src = &self.shared.src;
        let size = src.size();
        let mut off = 0;
        while off < size {
            job.pause_point()?;
            let (n, a) = with_policy(job, Side::Source, || {
                src.chain_status(0, self.until, off, size - off)
            })?;
            let copy = match a {
                Alloc::Data => true,
                // Zeroes above the base must reach the target (or the base
                // of a commit): a mirror's target is never assumed fresh.
                Alloc::Zero => true,
                Alloc::Unallocated => false,
            };
            if copy {
                self.shared.dirty().set(off, n);
            }
            off += n;
        }
        Ok(())
    }
}

impl Work for Mirror {
    fn run(&mut self, job: &Job) -> Result<Ended, JobError> {
        let s = self.shared.clone();
        let size = s.src.size();
        job.set_total(0);
        self.initial(job)?;
        job.set_remaining(s.dirty().count_bytes());
        let mut buf = Vec::new();
        let mut cursor = 0u64;
        let mut frozen = false;
        let result = loop {
            job.pause_point()?;
            let piece = chunk_for(job.speed());
            let next = {
                let mut d = s.dirty();
                let n = d.next_set(cursor, piece).or_else(|| d.next_set(0, piece));
                if let Some((off, len)) = n {
                    d.clear(off, len);
                }
                n
            };
            if let Some((off, len)) = next {
                let len = len.min(size - off);
                let mut copied = 0;
                let mut pos = off;
                while pos < off + len {
                    let (n, a) = with_policy(job, Side::Source, || {
                        s.src.chain_status(0, self.until, pos, off + len - pos)
                    })?;
                    match a {
                        Alloc::Data => {
                            copied +=
                                copy_data(job, &s.src, 0, &self.dst, false, pos, n, &mut buf)?;
                        }
                        Alloc::Zero | Alloc::Unallocated => {
                            if a == Alloc::Zero || self.until == s.src.layers().len() {
                                copy_zero(job, &self.dst, false, pos, n)?;
                            } else {
                                // Falls through to the base: read it from
                                // there (the base of an active commit
                                // already has it; a mirror needs it).
                                copied +=
                                    copy_data(job, &s.src, 0, &self.dst, false, pos, n, &mut buf)?;
                            }
                        }
                    }
                    pos += n;
                }
                job.progress(len);
                job.set_remaining(s.dirty().count_bytes());
                job.throttle(copied)?;
                cursor = off + len;
                continue;
            }
            // In sync.
            if !job.is_ready() {
                flush(job, &self.dst.img)?;
                job.set_ready();
            }
            let completing = job.complete_requested();
            if completing || job.soft_cancelled() {
                if !frozen {
                    // Drain the writes in flight, then catch up once more.
                    s.freeze();
                    frozen = true;
                    continue;
                }
                flush(job, &self.dst.img)?;
                break if completing {
                    Ended::Done
                } else {
                    Ended::NoPivot
                };
            }
            job.sleep(Duration::from_millis(50))?;
        };
        if result == Ended::NoPivot {
            s.thaw();
        }
        Ok(result)
    }

    fn commit(&mut self, ended: Ended) -> io::Result<Vec<Effect>> {
        self.dst.img.flush()?;
        Ok(match ended {
            Ended::Done => vec![Effect::Pivot {
                vdi: self.device,
                onto: self.target,
            }],
            Ended::NoPivot => vec![Effect::Refresh(self.target)],
        })
    }

    fn abort(&mut self) {
        self.shared.thaw();
        // Best effort: the job has failed already and its result is not
        // used (targets are marked incomplete; chains keep their backing).
        let _ = self.dst.img.flush();
    }

    fn hook(&self) -> Option<(Ref, Hook)> {
        Some((self.device, self.shared.clone() as Hook))
    }
}
