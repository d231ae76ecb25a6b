//! Which image files this process has open for writing, so that the
//! persistent dirty bitmaps stored in a qcow2 file (QEMU's bitmaps
//! extension, [`qcow2::bitmaps`](crate::storage::qcow2::bitmaps)) are only
//! ever written while no writer has it open.
//!
//! imago knows nothing of bitmaps: opening a qcow2 image for writing, it
//! clears the autoclear bits (as the qcow2 specification asks of such a
//! writer), which makes the extension stale and its clusters leaked. So
//! the first writer of a file takes the set out first ([`enter`]: the
//! extension goes, its clusters are freed, crash-safely), and the owner of
//! the bitmaps (the domain, whose change logs are the truth) stores them
//! again once the last writer has gone ([`store_bitmaps`]). A file with
//! a writer open never has a valid set that could be outdated: QEMU sees
//! either the set as it was when the last writer closed, or none.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Mutex;

use super::Format;
use crate::storage::path::SrDir;
use crate::storage::qcow2::bitmaps::{self, Bitmap, ToStore};
use crate::storage::qcow2::header;
use crate::storage::qcow2::leaks::{self, Repair};
use crate::storage::read_up_to;

/// Writers per file (device, inode). Also held while bitmaps are stored,
/// so that no writer opens the file meanwhile.
static WRITERS: Mutex<Option<HashMap<(u64, u64), usize>>> = Mutex::new(None);

fn with<T>(f: impl FnOnce(&mut HashMap<(u64, u64), usize>) -> T) -> T {
    let mut g = WRITERS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

fn key(file: &File) -> io::Result<(u64, u64)> {
    let m = file.metadata()?;
    Ok((m.dev(), m.ino()))
}

/// One writer of a file: counted until dropped.
#[derive(Debug)]
pub(super) struct Writer {
    key: (u64, u64),
}

impl Drop for Writer {
    fn drop(&mut self) {
        with(|w| {
            if let Some(n) = w.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    w.remove(&self.key);
                }
            }
        });
    }
}

/// Where a store of `name`'s bitmaps records what it allocates and frees
/// until it is done (a dot-file of the SR: never taken for an image).
pub fn intent_path(sr: &SrDir, name: &str) -> io::Result<PathBuf> {
    sr.path(name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(sr.root().join(format!(".{name}.bitmaps")))
}

/// A writer is about to open `file` (`name` in `sr`, of format `format`):
/// counted, and if it is the first one of a qcow2 file, the file's
/// bitmaps are taken out.
pub(super) fn enter(sr: &SrDir, name: &str, file: &File, format: Format) -> io::Result<Writer> {
    let key = key(file)?;
    let intent = intent_path(sr, name)?;
    with(|w| {
        let n = w.get(&key).copied().unwrap_or(0);
        if n == 0 && format == Format::Qcow2 {
            bitmaps::detach(file, Some(&intent))?;
        }
        w.insert(key, n + 1);
        Ok(Writer { key })
    })
}

/// Whether a writer has the file `name` of `sr` open (a cheap check
/// before gathering bitmaps that [`store_bitmaps`] would not store).
pub fn writer_open(sr: &SrDir, name: &str) -> io::Result<bool> {
    let path = sr
        .path(name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let m = std::fs::symlink_metadata(path)?;
    Ok(with(|w| {
        w.get(&(m.dev(), m.ino())).copied().unwrap_or(0) > 0
    }))
}

/// A persistent dirty bitmap to store into a qcow2 file.
#[derive(Clone, Debug)]
pub struct PersistentBitmap {
    /// Its name.
    pub name: String,
    /// Bytes per bit.
    pub granularity: u64,
    /// Recording (QEMU's `auto`).
    pub recording: bool,
    /// Inconsistent (stored with QEMU's `in_use` flag, without data).
    pub inconsistent: bool,
    /// The set blocks, most significant bit first (sized to the disk
    /// here: bits past its end are dropped, missing ones clear).
    pub bits: Vec<u8>,
}

/// What [`store_bitmaps`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// The file now holds exactly the set given.
    Done,
    /// Nothing to do: not a qcow2 file, or it holds the set already.
    Nothing,
    /// A writer has the file open: nothing was written (the set goes in
    /// when the last writer has gone).
    WriterOpen,
}

/// Stores `set` as the persistent bitmaps of the qcow2 file `name`,
/// replacing what it held (an empty set removes them), unless a writer
/// has it open.
pub fn store_bitmaps(sr: &SrDir, name: &str, set: &[PersistentBitmap]) -> io::Result<Stored> {
    let file = sr.open_file(name, true)?;
    let mut first = [0u8; 4];
    let n = read_up_to(&file, &mut first, 0)?;
    if !header::is_qcow2(&first[..n]) {
        return Ok(Stored::Nothing);
    }
    let key = key(&file)?;
    let intent = intent_path(sr, name)?;
    with(|w| {
        if w.get(&key).copied().unwrap_or(0) > 0 {
            return Ok(Stored::WriterOpen);
        }
        bitmaps::settle(&file, &intent)?;
        if set.is_empty() && !bitmaps::present(&file)? {
            return Ok(Stored::Nothing);
        }
        let size = header::Header::read(&file)?.size;
        let built = set
            .iter()
            .map(|b| Bitmap::from_msb(size, b.granularity, &b.bits))
            .collect::<io::Result<Vec<_>>>()?;
        if holds(&file, set, &built)? {
            return Ok(Stored::Nothing);
        }
        let all: Vec<ToStore<'_>> = set
            .iter()
            .zip(&built)
            .map(|(b, bm)| ToStore {
                name: &b.name,
                bitmap: bm,
                auto: b.recording,
                in_use: b.inconsistent,
            })
            .collect();
        bitmaps::store_all(&file, &all, Some(&intent))?;
        Ok(Stored::Done)
    })
}

/// Frees the clusters a killed writer leaked in the qcow2 file `name`
/// ([`qcow2::leaks`](crate::storage::qcow2::leaks)), after settling a
/// bitmap store's intent; `None` (nothing done) while a writer has the
/// file open, or for a file that is not qcow2.
pub fn repair_leaks(sr: &SrDir, name: &str) -> io::Result<Option<Repair>> {
    let file = sr.open_file(name, true)?;
    let mut first = [0u8; 4];
    let n = read_up_to(&file, &mut first, 0)?;
    if !header::is_qcow2(&first[..n]) {
        return Ok(None);
    }
    let key = key(&file)?;
    let intent = intent_path(sr, name)?;
    with(|w| {
        if w.get(&key).copied().unwrap_or(0) > 0 {
            return Ok(None);
        }
        bitmaps::settle(&file, &intent)?;
        leaks::repair(&file).map(Some)
    })
}

/// Whether `file` holds exactly `set` (built as `built`) already: same
/// names, granularities, flags and bits.
fn holds(file: &File, set: &[PersistentBitmap], built: &[Bitmap]) -> io::Result<bool> {
    let have = bitmaps::list(file)?;
    if have.len() != set.len() {
        return Ok(false);
    }
    for (b, bm) in set.iter().zip(built) {
        let Some(h) = have.iter().find(|h| h.name == b.name) else {
            return Ok(false);
        };
        if h.granularity != b.granularity || h.auto != b.recording || h.in_use != b.inconsistent {
            return Ok(false);
        }
        if !h.in_use && bitmaps::load(file, &b.name)? != *bm {
            return Ok(false);
        }
    }
    Ok(true)
}
