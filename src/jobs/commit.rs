//! `commit` of an inactive layer: merge the layers from `top` down to just
//! above `base` into `base`, then point the image above `top` at `base`,
//! dropping the merged layers from the chain. (Committing the active layer
//! runs as a mirror into the base: see [`super::mirror`].)

use std::io;
use std::sync::Arc;

use super::copy::{chunk_for, copy_data, copy_zero, flush, with_policy, End};
use super::error::JobError;
use super::job::Job;
use super::options::Side;
use super::work::{Effect, Ended, Work};
use crate::storage::image::{self, Alloc, Image};
use crate::storage::path::SrDir;
use crate::wire::Ref;

/// A commit's work.
pub struct Commit {
    img: Arc<Image>,
    top: usize,
    base: usize,
    dir: SrDir,
    device: Ref,
    /// The VDI of the layer above `top` (its backing pointer changes).
    overlay: Ref,
    /// The base's VDI (its data and maybe size change).
    base_vdi: Ref,
}

impl Commit {
    /// Commits layers `top..base` of the device's chain `img` (opened with
    /// the base writable) into layer `base`.
    pub fn new(
        device: Ref,
        overlay: Ref,
        base_vdi: Ref,
        img: Arc<Image>,
        top: usize,
        base: usize,
        dir: SrDir,
    ) -> Commit {
        Commit {
            img,
            top,
            base,
            dir,
            device,
            overlay,
            base_vdi,
        }
    }
}

impl Work for Commit {
    fn run(&mut self, job: &Job) -> Result<Ended, JobError> {
        let img = self.img.clone();
        let size = img.size();
        job.set_total(size);
        let dst = End {
            img: img.clone(),
            layer: Some(self.base),
        };
        let mut buf = Vec::new();
        let mut off = 0u64;
        while off < size {
            job.pause_point()?;
            let piece = chunk_for(job.speed()).min(size - off);
            let mut copied = 0;
            let mut pos = off;
            while pos < off + piece {
                let (n, a) = with_policy(job, Side::Source, || {
                    img.chain_status(self.top, self.base, pos, off + piece - pos)
                })?;
                match a {
                    Alloc::Data => {
                        copied += copy_data(job, &img, self.top, &dst, false, pos, n, &mut buf)?;
                    }
                    Alloc::Zero => copy_zero(job, &dst, false, pos, n)?,
                    Alloc::Unallocated => {}
                }
                pos += n;
            }
            job.progress(piece);
            job.throttle(copied)?;
            off += piece;
        }
        flush(job, &img)?;
        Ok(Ended::Done)
    }

    fn commit(&mut self, _ended: Ended) -> io::Result<Vec<Effect>> {
        self.img.flush()?;
        let layers = self.img.layers();
        image::set_backing(&self.dir, &layers[self.top - 1], Some(&layers[self.base]))?;
        Ok(vec![
            Effect::Refresh(self.overlay),
            Effect::Refresh(self.base_vdi),
            Effect::Refresh(self.device),
        ])
    }

    fn abort(&mut self) {
        // Best effort: the job has failed already and its result is not
        // used (targets are marked incomplete; chains keep their backing).
        let _ = self.img.flush();
    }
}
