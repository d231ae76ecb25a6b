//! `stream`: pull the data that the device's backing chain holds above
//! `base` into the device, then make `base` (or nothing) its backing
//! image. Ranges the device itself holds are left alone; ranges that come
//! from `base` or below stay where they are. Cancelled, the device keeps
//! its backing chain (and can be streamed again later).

use std::io;
use std::sync::Arc;

use super::copy::{chunk_for, copy_data, with_policy, End};
use super::error::JobError;
use super::job::Job;
use super::options::{Policy, Side};
use super::work::{Effect, Ended, Work};
use crate::storage::image::{self, Alloc, Image};
use crate::storage::path::SrDir;
use crate::wire::Ref;

/// A stream's work.
pub struct Stream {
    img: Arc<Image>,
    /// Index of the base layer in the chain (the chain's length: none).
    base: usize,
    dir: SrDir,
    device: Ref,
    /// An error that `ignore` let pass: the job still fails at the end,
    /// keeping the backing file.
    ignored: Option<JobError>,
}

impl Stream {
    /// Streams into the device's image `img` (open with its top writable)
    /// from the layers above `base`.
    pub fn new(device: Ref, img: Arc<Image>, base: usize, dir: SrDir) -> Stream {
        Stream {
            img,
            base,
            dir,
            device,
            ignored: None,
        }
    }
}

impl Work for Stream {
    fn run(&mut self, job: &Job) -> Result<Ended, JobError> {
        let img = self.img.clone();
        let size = img.size();
        job.set_total(size);
        let dst = End {
            img: img.clone(),
            layer: None,
        };
        let mut buf = Vec::new();
        let mut off = 0u64;
        while off < size {
            job.pause_point()?;
            let piece = chunk_for(job.speed()).min(size - off);
            let mut copied = 0;
            let mut pos = off;
            while pos < off + piece {
                let (n, top) =
                    with_policy(job, Side::Source, || img.status(0, pos, off + piece - pos))?;
                if top == Alloc::Unallocated {
                    let (m, below) =
                        with_policy(job, Side::Source, || img.chain_status(1, self.base, pos, n))?;
                    match below {
                        Alloc::Data => {
                            let r = if job.policy(Side::Source) == Policy::Ignore {
                                // `ignore` in stream: skip the range, fail
                                // at the end (keeping the backing file).
                                buf.resize(m as usize, 0);
                                match img
                                    .read_at(1, &mut buf, pos)
                                    .and_then(|()| img.write_at(&buf, pos))
                                {
                                    Ok(()) => Ok(m),
                                    Err(e) => {
                                        self.ignored = Some(JobError::Step {
                                            what: "streaming",
                                            source: e,
                                        });
                                        Ok(0)
                                    }
                                }
                            } else {
                                copy_data(job, &img, 1, &dst, false, pos, m, &mut buf)
                            };
                            copied += r?;
                        }
                        Alloc::Zero => {
                            // Zero above the base: it must stay zero once the
                            // layers above the base are gone.
                            with_policy(job, Side::Target, || img.write_zeroes(pos, m))?;
                        }
                        Alloc::Unallocated => {}
                    }
                    pos += m;
                } else {
                    pos += n;
                }
            }
            job.progress(piece);
            job.throttle(copied)?;
            off += piece;
        }
        super::copy::flush(job, &img)?;
        if let Some(e) = self.ignored.take() {
            return Err(e);
        }
        Ok(Ended::Done)
    }

    fn commit(&mut self, _ended: Ended) -> io::Result<Vec<Effect>> {
        self.img.flush()?;
        let layers = self.img.layers();
        if layers.len() == 1 {
            // Nothing below the device: nothing to rewrite.
            return Ok(vec![Effect::Refresh(self.device)]);
        }
        let top = layers[0].clone();
        let base = layers.get(self.base).cloned();
        image::set_backing(&self.dir, &top, base.as_deref())?;
        Ok(vec![Effect::Refresh(self.device)])
    }

    fn abort(&mut self) {
        // Best effort: the job has failed already and its result is not
        // used (targets are marked incomplete; chains keep their backing).
        let _ = self.img.flush();
    }
}
