//! Change logs: the durable "changed blocks" set of one VDI for changed
//! block tracking (xapi's CBT), one file per VDI under the state
//! directory's `cbt/`, named after the VDI's uuid.
//!
//! The file is a 32-byte header (magic `XAPIDCBT`, version 1, the
//! granularity's log2: 16, i.e. 64 KiB as xapi's blocks) then the bitmap,
//! in the order of xapi's `VDI.list_changed_blocks` answer: block `n` is bit
//! `7 - n % 8` of byte `n / 8` (most significant bit first). Bytes past the
//! end of the file are zero, so a log never needs growing when its disk
//! does: a block's bit is written where it lives.
//!
//! Marking is "record before write": [`ChangeLog::mark`] returns once the
//! newly set bits are on disk (fdatasync), and the caller writes its data
//! after that. Bits only ever go from 0 to 1 in place (a torn write of a
//! byte holding more 1s than the disk has leaves a superset), so after a
//! crash at any moment the log still covers every write that reached the
//! disk. Whole-log changes (a new log, a merge) are written to a temporary
//! file and renamed over.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::read_up_to;
use super::secret_file;

/// The magic at the start of every change log.
const MAGIC: &[u8; 8] = b"XAPIDCBT";
/// The format's version.
const VERSION: u32 = 1;
/// The header's length; the bitmap follows it.
pub const HEADER: u64 = 32;
/// log2 of the granularity: one bit per 64 KiB, as xapi's CBT.
pub const GRANULARITY_BITS: u32 = 16;
/// The granularity in bytes.
pub const GRANULARITY: u64 = 1 << GRANULARITY_BITS;
/// A log larger than this is refused: the bitmap of the largest image
/// (`image::MAX_SIZE`, 1 PiB).
const MAX_BITMAP: u64 = 1 << 31;

/// How many bitmap bytes a disk of `size` bytes needs.
pub fn bytes_for(size: u64) -> usize {
    (size.div_ceil(GRANULARITY).div_ceil(8)) as usize
}

/// The bitmap bytes that cover `[offset, offset + len)` at granularity
/// `g`: the first byte index and the bits of each byte, as `(index, mask)`.
fn masks(offset: u64, len: u64, g: u64) -> impl Iterator<Item = (usize, u8)> {
    let (first, end) = if len == 0 {
        (0, 0)
    } else {
        (offset / g, (offset + len).div_ceil(g))
    };
    let mut b = first;
    std::iter::from_fn(move || {
        if b >= end {
            return None;
        }
        let byte = b / 8;
        let mut mask = 0u8;
        while b < end && b / 8 == byte {
            mask |= 0x80 >> (b % 8);
            b += 1;
        }
        Some((byte as usize, mask))
    })
}

/// The directory of the change logs, made when missing.
pub fn open_dir(state_dir: &Path) -> io::Result<PathBuf> {
    let dir = state_dir.join("cbt");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn path_of(dir: &Path, uuid: &str) -> io::Result<PathBuf> {
    let ok = !uuid.is_empty()
        && uuid.len() <= 64
        && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a change log is named by a uuid",
        ));
    }
    Ok(dir.join(format!("{uuid}.cbtlog")))
}

fn header(granularity_bits: u32) -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_be_bytes());
    h[12..16].copy_from_slice(&granularity_bits.to_be_bytes());
    h
}

/// The granularities a log may have: 512 B to 2 GiB (QEMU's range).
pub const GRANULARITY_BITS_RANGE: std::ops::RangeInclusive<u32> = 9..=31;

/// Whether the log of `uuid` exists.
pub fn exists(dir: &Path, uuid: &str) -> io::Result<bool> {
    Ok(fs::symlink_metadata(path_of(dir, uuid)?).is_ok())
}

/// Writes the whole log of `uuid` (crash-safely: a temporary, fsync,
/// rename, fsync of the directory).
pub fn write(dir: &Path, uuid: &str, bits: &[u8]) -> io::Result<()> {
    write_with(dir, uuid, bits, GRANULARITY_BITS)
}

/// [`write`] with one bit per `2^granularity_bits` bytes.
pub fn write_with(dir: &Path, uuid: &str, bits: &[u8], granularity_bits: u32) -> io::Result<()> {
    if !GRANULARITY_BITS_RANGE.contains(&granularity_bits) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "granularity"));
    }
    let mut data = Vec::with_capacity(HEADER as usize + bits.len());
    data.extend_from_slice(&header(granularity_bits));
    data.extend_from_slice(bits);
    secret_file::write_atomic(&path_of(dir, uuid)?, &data, 0o600)
}

/// Reads the bitmap of the log of `uuid` (one bit per 64 KiB): `None` if
/// there is none.
pub fn read(dir: &Path, uuid: &str) -> io::Result<Option<Vec<u8>>> {
    match read_with(dir, uuid)? {
        None => Ok(None),
        Some((GRANULARITY_BITS, bits)) => Ok(Some(bits)),
        Some(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "change log: not one bit per 64 KiB",
        )),
    }
}

/// Reads the log of `uuid`: its granularity's log2 and its bitmap.
pub fn read_with(dir: &Path, uuid: &str) -> io::Result<Option<(u32, Vec<u8>)>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path_of(dir, uuid)?)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    read_bits(&file).map(Some)
}

fn read_bits(file: &File) -> io::Result<(u32, Vec<u8>)> {
    let len = file.metadata()?.len();
    let bad =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("change log: {what}"));
    if len < HEADER {
        return Err(bad("shorter than its header"));
    }
    let mut h = [0u8; HEADER as usize];
    if read_up_to(file, &mut h, 0)? != h.len() || h[..8] != *MAGIC {
        return Err(bad("bad magic"));
    }
    let gbits = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
    if h[8..12] != VERSION.to_be_bytes() || !GRANULARITY_BITS_RANGE.contains(&gbits) {
        return Err(bad("unknown version or granularity"));
    }
    if len - HEADER > MAX_BITMAP {
        return Err(bad("too large"));
    }
    let mut bits = vec![0u8; (len - HEADER) as usize];
    let n = read_up_to(file, &mut bits, HEADER)?;
    bits.truncate(n);
    Ok((gbits, bits))
}

/// Renames the log of `from` to be the log of `to` (replacing it), and
/// fsyncs the directory.
pub fn rename(dir: &Path, from: &str, to: &str) -> io::Result<()> {
    fs::rename(path_of(dir, from)?, path_of(dir, to)?)?;
    File::open(dir)?.sync_all()
}

/// Removes the log of `uuid`; `false` if there was none.
pub fn remove(dir: &Path, uuid: &str) -> io::Result<bool> {
    secret_file::remove(&path_of(dir, uuid)?)
}

/// The uuids of every log in `dir` (and temporaries a crash left, which
/// are removed).
pub fn list(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(uuid) = name.strip_suffix(".cbtlog") {
            out.push(uuid.to_string());
        } else if name.contains(".cbtlog") {
            // A temporary of an interrupted whole-log write.
            let _ = fs::remove_file(e.path());
        }
    }
    Ok(out)
}

/// ORs `src` into `dst` (zero-extending the shorter); says whether `dst`
/// changed.
pub fn or_into(dst: &mut Vec<u8>, src: &[u8]) -> bool {
    if dst.len() < src.len() {
        dst.resize(src.len(), 0);
    }
    let mut changed = false;
    for (d, s) in dst.iter_mut().zip(src) {
        if *d | *s != *d {
            *d |= *s;
            changed = true;
        }
    }
    changed
}

/// An open change log that marks writes.
#[derive(Debug)]
pub struct ChangeLog {
    file: File,
    granularity: u64,
    bits: Vec<u8>,
}

impl ChangeLog {
    /// Opens the log of `uuid`; `None` if there is none.
    pub fn open(dir: &Path, uuid: &str) -> io::Result<Option<ChangeLog>> {
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path_of(dir, uuid)?)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let (gbits, bits) = read_bits(&file)?;
        Ok(Some(ChangeLog {
            file,
            granularity: 1 << gbits,
            bits,
        }))
    }

    /// Bytes per bit.
    pub fn granularity(&self) -> u64 {
        self.granularity
    }

    /// Forgets every bit, in place and durably (the file keeps only its
    /// header).
    pub fn clear(&mut self) -> io::Result<()> {
        self.file.set_len(HEADER)?;
        self.file.sync_all()?;
        self.bits.clear();
        Ok(())
    }

    /// The bitmap as it is on disk.
    pub fn bits(&self) -> &[u8] {
        &self.bits
    }

    /// ORs `src` into the log, in place and durably (bits only go from 0
    /// to 1, so a crash leaves the old set or a superset of it).
    pub fn merge(&mut self, src: &[u8]) -> io::Result<()> {
        let set = src.iter().enumerate().map(|(i, m)| (i, *m));
        self.set(set)
    }

    /// Records that `[offset, offset + len)` is about to change: the bits
    /// not yet set are set and on disk when this returns. Costs nothing
    /// when every bit is already set.
    pub fn mark(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let g = self.granularity;
        if masks(offset, len, g).any(|(i, _)| i as u64 >= MAX_BITMAP) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "change log: offset beyond 1 PiB",
            ));
        }
        self.set(masks(offset, len, g))
    }

    /// Sets the bits `mask` of each byte `index`, then writes the bytes
    /// that changed (one run) and syncs them.
    fn set(&mut self, bytes: impl Iterator<Item = (usize, u8)>) -> io::Result<()> {
        let (mut lo, mut hi) = (usize::MAX, 0);
        for (i, m) in bytes {
            if m == 0 {
                continue;
            }
            if self.bits.len() <= i {
                self.bits.resize(i + 1, 0);
            }
            if self.bits[i] & m != m {
                self.bits[i] |= m;
                lo = lo.min(i);
                hi = i + 1;
            }
        }
        if lo >= hi {
            return Ok(());
        }
        self.file
            .write_all_at(&self.bits[lo..hi], HEADER + lo as u64)?;
        self.file.sync_data()
    }
}

/// A change log shared by its writers (a VDI's writes mark it first) and
/// its readers.
#[derive(Clone, Debug)]
pub struct Tracker(Arc<Mutex<ChangeLog>>);

impl From<ChangeLog> for Tracker {
    fn from(l: ChangeLog) -> Tracker {
        Tracker(Arc::new(Mutex::new(l)))
    }
}

impl Tracker {
    /// Records on disk that `[offset, offset + len)` is about to be
    /// written (blocking; cheap when the blocks are already marked).
    pub fn mark(&self, offset: u64, len: u64) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .mark(offset, len)
    }

    /// The bitmap as it is on disk, and its granularity.
    pub fn snapshot(&self) -> (u64, Vec<u8>) {
        let l = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (l.granularity(), l.bits().to_vec())
    }

    /// ORs `bits` in, durably.
    pub fn merge(&self, bits: &[u8]) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).merge(bits)
    }

    /// Clears every bit, durably.
    pub fn clear(&self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear()
    }
}

#[cfg(test)]
#[path = "change_log/tests.rs"]
mod tests;
