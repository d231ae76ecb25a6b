//! What every job type's work shares: reads and writes that follow the
//! job's error policy (retry after `stop` is resumed, retry under
//! `ignore`, fail under `report`), skipping zero data, the dirty/done
//! bitmaps, and the slots that keep a CPU free. (Where a range's data comes
//! from in a backing chain is `Image::chain_status`.)

use std::sync::Arc;
use std::time::Duration;

use super::error::JobError;
use super::error::OnError;
use super::job::Job;
use super::options::{Policy, Side};
use crate::storage::image::{Alloc, Image};
use crate::storage::sparse::is_zero;

/// How many job threads may move data at once: one CPU is always left to
/// the RPC threads (the kernel does not preempt a thread in the middle of
/// copying a large write into the page cache, whatever its priority).
fn slots() -> &'static (std::sync::Mutex<usize>, std::sync::Condvar) {
    static SLOTS: std::sync::OnceLock<(std::sync::Mutex<usize>, std::sync::Condvar)> =
        std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (
            std::sync::Mutex::new(cpus.saturating_sub(1).max(1)),
            std::sync::Condvar::new(),
        )
    })
}

/// A permit to move data; given back when dropped.
pub struct Slot(());

impl Slot {
    /// Waits for a free slot.
    pub fn take() -> Slot {
        let (m, cv) = slots();
        let mut free = m.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = cv.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Slot(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (m, cv) = slots();
        *m.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        cv.notify_one();
    }
}

/// Largest piece copied at once.
pub const CHUNK: u64 = 4 << 20;

/// Piece size under a speed limit: about one 100 ms slice's quota, so the
/// limit is smooth (64 KiB to [`CHUNK`], a multiple of 64 KiB).
pub fn chunk_for(speed: u64) -> u64 {
    if speed == 0 {
        return CHUNK;
    }
    ((speed / 10) & !0xffff).clamp(64 << 10, CHUNK)
}

/// One end of a copy: an image, and the layer written (`None`: the top).
#[derive(Clone)]
pub struct End {
    /// The image.
    pub img: Arc<Image>,
    /// The layer read from (source) or written (target, `None` = top).
    pub layer: Option<usize>,
}

impl End {
    fn write(&self, buf: &[u8], off: u64) -> std::io::Result<()> {
        match self.layer {
            None => self.img.write_at(buf, off),
            Some(l) => self.img.write_layer_at(l, buf, off),
        }
    }

    fn zero(&self, off: u64, len: u64) -> std::io::Result<()> {
        match self.layer {
            None => self.img.write_zeroes(off, len),
            Some(l) => self.img.write_zeroes_layer(l, off, len),
        }
    }
}

/// Runs `op` until it succeeds or the policy gives up.
pub fn with_policy<T>(
    job: &Job,
    side: Side,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> Result<T, JobError> {
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) => match job.io_error(side, e) {
                OnError::Fail(err) => return Err(err),
                OnError::Retry => {
                    if job.policy(side) == Policy::Ignore {
                        // Retried later (QEMU marks the range dirty again).
                        job.sleep(Duration::from_millis(100))?;
                    } else {
                        job.pause_point()?;
                    }
                }
            },
        }
    }
}

/// Copies `[off, off + len)` as layer `src_layer` of `src` reads it into
/// `dst`: all-zero data is written as zeroes (or, into a fresh target,
/// not at all). Returns the bytes of data written.
#[allow(clippy::too_many_arguments)]
pub fn copy_data(
    job: &Job,
    src: &Image,
    src_layer: usize,
    dst: &End,
    fresh: bool,
    off: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> Result<u64, JobError> {
    buf.resize(len as usize, 0);
    loop {
        let attempt = {
            let _slot = Slot::take();
            match src.read_at(src_layer, buf, off) {
                Err(e) => Err((Side::Source, e)),
                Ok(()) if is_zero(buf) => {
                    if fresh {
                        Ok(0)
                    } else {
                        dst.zero(off, len)
                            .map(|()| 0)
                            .map_err(|e| (Side::Target, e))
                    }
                }
                Ok(()) => dst
                    .write(buf, off)
                    .map(|()| len)
                    .map_err(|e| (Side::Target, e)),
            }
        };
        // The policy is applied without holding a slot (a `stop` waits
        // here until the job is resumed).
        match attempt {
            Ok(n) => return Ok(n),
            Err((side, e)) => match job.io_error(side, e) {
                OnError::Fail(err) => return Err(err),
                OnError::Retry => {
                    if job.policy(side) == Policy::Ignore {
                        job.sleep(Duration::from_millis(100))?;
                    } else {
                        job.pause_point()?;
                    }
                }
            },
        }
    }
}

/// Makes `[off, off + len)` of `dst` read as zeroes (nothing to do in a
/// fresh target).
pub fn copy_zero(job: &Job, dst: &End, fresh: bool, off: u64, len: u64) -> Result<(), JobError> {
    if fresh {
        return Ok(());
    }
    with_policy(job, Side::Target, || dst.zero(off, len))
}

/// The same copy without a job (copy-before-write on behalf of an import):
/// errors go to the writer.
pub fn copy_plain(
    src: &Image,
    dst: &End,
    fresh: bool,
    off: u64,
    len: u64,
    top_only: bool,
) -> std::io::Result<u64> {
    let end = off + len;
    let mut pos = off;
    let mut written = 0;
    let mut buf = Vec::new();
    while pos < end {
        let (n, a) = if top_only {
            src.status(0, pos, end - pos)?
        } else {
            src.chain_status(0, src.layers().len(), pos, end - pos)?
        };
        match a {
            Alloc::Unallocated if top_only => {}
            Alloc::Zero | Alloc::Unallocated => {
                if !fresh {
                    dst.zero(pos, n)?;
                }
            }
            Alloc::Data => {
                buf.resize(n as usize, 0);
                src.read_at(0, &mut buf, pos)?;
                if is_zero(&buf) {
                    if !fresh {
                        dst.zero(pos, n)?;
                    }
                } else {
                    dst.write(&buf, pos)?;
                    written += n;
                }
            }
        }
        pos += n;
    }
    Ok(written)
}

/// Flushes the target under the target error policy.
pub fn flush(job: &Job, dst: &Image) -> Result<(), JobError> {
    with_policy(job, Side::Target, || dst.flush())
}

/// A bitmap of fixed-size blocks of an image.
#[derive(Debug)]
pub struct Bitmap {
    words: Vec<u64>,
    /// Bytes per bit.
    pub granularity: u64,
    size: u64,
}

impl Bitmap {
    /// A clear bitmap for `size` bytes; the granularity grows for huge
    /// images so that the map stays under 16 MiB.
    pub fn new(size: u64, granularity: u64) -> Bitmap {
        let mut g = granularity.max(512).next_power_of_two();
        while size / g > (1 << 27) {
            g *= 2;
        }
        let bits = size.div_ceil(g);
        Bitmap {
            words: vec![0; bits.div_ceil(64) as usize],
            granularity: g,
            size,
        }
    }

    fn bits(&self, off: u64, len: u64) -> std::ops::Range<u64> {
        let end = (off.saturating_add(len)).min(self.size);
        if end <= off {
            return 0..0;
        }
        off / self.granularity..end.div_ceil(self.granularity)
    }

    /// Sets the blocks touching `[off, off + len)`.
    pub fn set(&mut self, off: u64, len: u64) {
        for b in self.bits(off, len) {
            self.words[(b / 64) as usize] |= 1 << (b % 64);
        }
    }

    /// Clears the blocks touching `[off, off + len)`.
    pub fn clear(&mut self, off: u64, len: u64) {
        for b in self.bits(off, len) {
            self.words[(b / 64) as usize] &= !(1 << (b % 64));
        }
    }

    /// Whether block `b` is set.
    pub fn get(&self, b: u64) -> bool {
        self.words[(b / 64) as usize] & (1 << (b % 64)) != 0
    }

    /// The first run of set blocks at or after byte `from`, as a byte
    /// range (at most `max` bytes long).
    pub fn next_set(&self, from: u64, max: u64) -> Option<(u64, u64)> {
        let nbits = self.size.div_ceil(self.granularity);
        let mut b = from / self.granularity;
        while b < nbits {
            let w = self.words[(b / 64) as usize] >> (b % 64);
            if w == 0 {
                b = (b / 64 + 1) * 64;
                continue;
            }
            b += u64::from(w.trailing_zeros());
            break;
        }
        if b >= nbits {
            return None;
        }
        let start = b * self.granularity;
        let mut e = b;
        while e < nbits
            && self.get(e)
            && (e - b + 1) * self.granularity <= max.max(self.granularity)
        {
            e += 1;
        }
        let end = (e * self.granularity).min(self.size);
        Some((start, end - start))
    }

    /// Bytes covered by set blocks.
    pub fn count_bytes(&self) -> u64 {
        let ones: u64 = self.words.iter().map(|w| u64::from(w.count_ones())).sum();
        (ones * self.granularity).min(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_runs() {
        let mut b = Bitmap::new(1 << 20, 64 << 10);
        assert_eq!(b.next_set(0, u64::MAX), None);
        b.set(100_000, 1);
        b.set(200_000, 100_000);
        assert_eq!(b.next_set(0, u64::MAX), Some((65536, 65536)));
        assert_eq!(b.next_set(131072, u64::MAX), Some((196608, 131072)));
        assert_eq!(b.next_set(196608, 65536), Some((196608, 65536)));
        assert_eq!(b.count_bytes(), 3 * 65536);
        b.clear(0, 1 << 20);
        assert_eq!(b.next_set(0, u64::MAX), None);
        let odd = Bitmap::new(1000, 512);
        assert_eq!(odd.granularity, 512);
        let mut t = Bitmap::new(1000, 512);
        t.set(900, 100);
        assert_eq!(t.next_set(0, u64::MAX), Some((512, 488)));
    }

    #[test]
    fn speed_sets_the_piece_size() {
        assert_eq!(chunk_for(0), CHUNK);
        assert_eq!(chunk_for(32 << 20), ((32 << 20) / 10) & !0xffff);
        assert_eq!(chunk_for(1), 64 << 10);
    }
}
