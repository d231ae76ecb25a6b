//! Persistent dirty bitmaps in qcow2 images, as QEMU stores them
//! (`docs/interop/qcow2.txt`, "Bitmaps extension"), so that bitmaps QEMU
//! recorded are read here and bitmaps xapid stores are QEMU's to use.
//!
//! ```text
//! header extension 0x23852875 (valid only while autoclear bit 0 is set):
//!   0 nb_bitmaps u32 | 4 reserved u32 = 0 | 8 directory_size u64 | 16 directory_offset u64
//! directory entry (8-aligned, contiguous clusters):
//!   0 table_offset u64 | 8 table_size u32 (entries) | 12 flags u32 (0 in_use, 1 auto,
//!   2 extra_data_compatible) | 16 type u8 = 1 | 17 granularity_bits u8 | 18 name_size u16
//!   | 20 extra_data_size u32 | 24 extra data, name, zero padding to 8
//! table entry u64: bits 9-55 a data cluster's offset; 0 = all zeros, 1 = all ones
//! data: bit n covers guest bytes [n*g, (n+1)*g), at bit n%8 of byte n/8 (LSB first)
//! ```
//!
//! The functions here work on an image no one else has open for writing
//! (they edit refcounts directly). [`store_all`] replaces the whole set:
//! it writes the new data clusters, tables and directory to free clusters,
//! syncs, records what it allocated and will free in an intent file
//! (`intent`), gives the new clusters refcount 1, rewrites the header
//! extension with autoclear bit 0 set (the commit point), frees the old
//! set's clusters and removes the intent. A process killed at any step
//! leaves the old set or the new one; [`settle`] then frees the clusters
//! of the other, so not even a leak remains (crash points
//! `qcow2.bitmaps.data`, `.intent`, `.refcounts`, `.header`, `.freed`).
//! [`detach`] stores the empty set: what a writer that knows nothing of
//! bitmaps (imago) needs before it opens the image.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::header::{be32, be64, Header, HDR_AUTOCLEAR};
use super::refcount::Refcounts;
use crate::storage::{crash, read_up_to};

/// Header extension type of the bitmap directory.
pub const EXT_BITMAPS: u32 = 0x2385_2875;
/// Autoclear feature bit that keeps the extension valid.
pub const AUTOCLEAR_BITMAPS: u64 = 1;
const FLAG_IN_USE: u32 = 1;
const FLAG_AUTO: u32 = 1 << 1;
const FLAG_EXTRA_DATA_COMPATIBLE: u32 = 1 << 2;
const RESERVED_FLAGS: u32 = !0b111;
const TYPE_DIRTY_TRACKING: u8 = 1;
const ENTRY_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const ENTRY_RESERVED_MASK: u64 = 0xff00_0000_0000_01fe;
const ENTRY_ALL_ONES: u64 = 1;
/// Longest bitmap name (bytes).
pub const MAX_NAME: usize = 1023;
/// Most bitmaps in one image.
pub const MAX_BITMAPS: usize = 65535;
/// Largest directory QEMU reads.
const MAX_DIRECTORY: u64 = 64 << 20;
/// Largest bitmap data QEMU loads (bytes).
const MAX_PHYS: u64 = 0x2000_0000;

fn invalid(msg: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("qcow2 bitmaps: {msg}"))
}

/// A dirty bitmap in memory: bit n covers the guest bytes
/// `[n * granularity, (n + 1) * granularity)`; bit n is bit `n % 64` of
/// `words[n / 64]`. Bits past [`Bitmap::len`] are always zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    granularity: u64,
    len: u64,
    words: Vec<u64>,
}

impl Bitmap {
    /// An empty bitmap for a disk of `size` bytes (`granularity` a power
    /// of two, 512 to 2^31).
    pub fn new(size: u64, granularity: u64) -> io::Result<Bitmap> {
        if !granularity.is_power_of_two() || !(1 << 9..=1 << 31).contains(&granularity) {
            return Err(invalid("granularity must be a power of 2 from 512 to 2^31"));
        }
        let len = size.div_ceil(granularity);
        Ok(Bitmap {
            granularity,
            len,
            words: vec![0; len.div_ceil(64) as usize],
        })
    }

    /// A bitmap for a disk of `size` bytes from bits stored most
    /// significant bit first (`msb[n / 8] & (0x80 >> n % 8)` is bit n), as
    /// xapid's change logs keep them; bits past the end are ignored, and
    /// missing ones are clear.
    pub fn from_msb(size: u64, granularity: u64, msb: &[u8]) -> io::Result<Bitmap> {
        let mut bm = Bitmap::new(size, granularity)?;
        for (i, &byte) in msb.iter().enumerate() {
            if byte == 0 {
                continue;
            }
            for k in 0..8 {
                if byte & (0x80 >> k) != 0 {
                    bm.set(i as u64 * 8 + k, true);
                }
            }
        }
        Ok(bm)
    }

    /// Bytes per bit.
    pub fn granularity(&self) -> u64 {
        self.granularity
    }

    /// Number of bits.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the bitmap has no bits (a disk of size 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The words (see the type's documentation for the bit order).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Bit `n`.
    pub fn get(&self, n: u64) -> bool {
        n < self.len && self.words[(n / 64) as usize] >> (n % 64) & 1 == 1
    }

    /// Sets or clears bit `n` (ignored past the end).
    pub fn set(&mut self, n: u64, v: bool) {
        if n < self.len {
            let w = &mut self.words[(n / 64) as usize];
            if v {
                *w |= 1 << (n % 64);
            } else {
                *w &= !(1 << (n % 64));
            }
        }
    }

    /// Marks dirty every bit that covers a byte of `[offset, offset + len)`.
    pub fn mark(&mut self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        let last = (offset + len - 1) / self.granularity;
        for n in offset / self.granularity..=last.min(self.len.saturating_sub(1)) {
            self.set(n, true);
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The on-disk bytes: `ceil(len / 8)` bytes, LSB first in each byte.
    fn to_bytes(&self) -> Vec<u8> {
        let mut b: Vec<u8> = self.words.iter().flat_map(|w| w.to_le_bytes()).collect();
        b.truncate(self.len.div_ceil(8) as usize);
        b
    }

    /// Fills the bitmap from on-disk bytes (see [`Bitmap::to_bytes`]).
    fn fill_from(&mut self, bytes: &[u8]) {
        for (i, w) in self.words.iter_mut().enumerate() {
            let mut a = [0u8; 8];
            for (k, x) in a.iter_mut().enumerate() {
                *x = bytes.get(i * 8 + k).copied().unwrap_or(0);
            }
            *w = u64::from_le_bytes(a);
        }
        let tail = self.len % 64;
        if tail != 0 {
            if let Some(w) = self.words.last_mut() {
                *w &= (1u64 << tail) - 1;
            }
        }
    }
}

/// What [`list`] tells about a bitmap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitmapInfo {
    /// The bitmap's name (1 to 1023 bytes).
    pub name: String,
    /// Bytes per bit.
    pub granularity: u64,
    /// Not saved correctly (its writer died): the data is not to be used.
    pub in_use: bool,
    /// Enabled: writes are recorded in it.
    pub auto: bool,
    /// Set bits; `None` when the bitmap is in use (inconsistent).
    pub count: Option<u64>,
}

/// One directory entry.
#[derive(Clone, Debug)]
struct Entry {
    table_offset: u64,
    table_size: u32,
    flags: u32,
    granularity_bits: u8,
    name: String,
}

/// The parts of an image the bitmap code needs.
struct Image<'a> {
    file: &'a File,
    header: Header,
    /// The first bytes of the image (the fixed header).
    first: Vec<u8>,
}

impl<'a> Image<'a> {
    fn open(file: &'a File) -> io::Result<Image<'a>> {
        let header = Header::read(file)?;
        let mut first = vec![0u8; 4096.min(header.cluster_size())];
        let n = read_up_to(file, &mut first, 0)?;
        first.truncate(n);
        Ok(Image {
            file,
            header,
            first,
        })
    }

    fn cluster(&self) -> u64 {
        self.header.cluster_size() as u64
    }

    fn clusters_for(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.cluster())
    }

    /// Bitmap table entries for a bitmap of this image with `granularity`.
    fn table_size(&self, granularity: u64) -> u64 {
        let bytes = self.header.size.div_ceil(granularity).div_ceil(8);
        self.clusters_for(bytes)
    }

    /// The valid directory (offset, size, entries), or `None`: no
    /// extension, or a stale one (autoclear bit 0 clear).
    fn directory(&self) -> io::Result<Option<(u64, u64, Vec<Entry>)>> {
        let Some(ext) = self.header.extension(EXT_BITMAPS) else {
            return Ok(None);
        };
        if self.header.version < 3 || be64(&self.first, HDR_AUTOCLEAR)? & AUTOCLEAR_BITMAPS == 0 {
            return Ok(None);
        }
        if ext.len() < 24 {
            return Err(invalid("short extension"));
        }
        let nb = be32(ext, 0)? as usize;
        let size = be64(ext, 8)?;
        let offset = be64(ext, 16)?;
        if nb == 0 || nb > MAX_BITMAPS || size == 0 || size > MAX_DIRECTORY {
            return Err(invalid("bad directory size"));
        }
        if offset == 0 || !offset.is_multiple_of(self.cluster()) {
            return Err(invalid("misaligned directory"));
        }
        let mut dir = vec![0u8; size as usize];
        if read_up_to(self.file, &mut dir, offset)? < dir.len() {
            return Err(invalid("directory past the end of the file"));
        }
        let mut entries = Vec::with_capacity(nb);
        let mut at = 0usize;
        while at < dir.len() {
            let e = self.parse_entry(&dir, at)?;
            at += entry_size(be16(&dir, at + 18)? as usize, be32(&dir, at + 20)? as usize);
            entries.push(e);
            if entries.len() > nb {
                break;
            }
        }
        if entries.len() != nb || at != dir.len() {
            return Err(invalid("directory does not match nb_bitmaps"));
        }
        Ok(Some((offset, size, entries)))
    }

    fn parse_entry(&self, dir: &[u8], at: usize) -> io::Result<Entry> {
        let table_offset = be64(dir, at)?;
        let table_size = be32(dir, at + 8)?;
        let flags = be32(dir, at + 12)?;
        let ty = *dir.get(at + 16).ok_or_else(|| invalid("truncated entry"))?;
        let granularity_bits = *dir.get(at + 17).ok_or_else(|| invalid("truncated entry"))?;
        let name_size = be16(dir, at + 18)? as usize;
        let extra = be32(dir, at + 20)? as usize;
        let name_at = at + 24 + extra;
        let name = dir
            .get(name_at..name_at + name_size)
            .ok_or_else(|| invalid("entry past the directory"))?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| invalid("name is not UTF-8"))?;
        let bad = table_size == 0
            || table_offset == 0
            || !table_offset.is_multiple_of(self.cluster())
            || !(9..=31).contains(&granularity_bits)
            || flags & RESERVED_FLAGS != 0
            || name_size == 0
            || name_size > MAX_NAME
            || ty != TYPE_DIRTY_TRACKING
            || u64::from(table_size) * self.cluster() > MAX_PHYS
            || (extra != 0 && flags & FLAG_EXTRA_DATA_COMPATIBLE == 0);
        if bad {
            return Err(invalid(format!("bad directory entry {name:?}")));
        }
        Ok(Entry {
            table_offset,
            table_size,
            flags,
            granularity_bits,
            name,
        })
    }

    /// A bitmap's table, checked.
    fn table(&self, e: &Entry) -> io::Result<Vec<u64>> {
        let mut raw = vec![0u8; e.table_size as usize * 8];
        if read_up_to(self.file, &mut raw, e.table_offset)? < raw.len() {
            return Err(invalid("bitmap table past the end of the file"));
        }
        let table: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
            .collect();
        for &t in &table {
            let off = t & ENTRY_OFFSET_MASK;
            if t & ENTRY_RESERVED_MASK != 0
                || (off != 0 && (t & ENTRY_ALL_ONES != 0 || !off.is_multiple_of(self.cluster())))
            {
                return Err(invalid(format!("bad table entry in {:?}", e.name)));
            }
        }
        Ok(table)
    }

    fn load(&self, e: &Entry) -> io::Result<Bitmap> {
        if e.flags & FLAG_IN_USE != 0 {
            return Err(invalid(format!(
                "bitmap {:?} is in use (inconsistent)",
                e.name
            )));
        }
        let g = 1u64 << e.granularity_bits;
        if u64::from(e.table_size) != self.table_size(g) {
            return Err(invalid(format!(
                "table size of {:?} does not match",
                e.name
            )));
        }
        let mut bm = Bitmap::new(self.header.size, g)?;
        let nbytes = bm.len.div_ceil(8) as usize;
        let c = self.cluster() as usize;
        let mut bytes = vec![0u8; nbytes];
        for (i, &t) in self.table(e)?.iter().enumerate() {
            let chunk = &mut bytes[(i * c).min(nbytes)..((i + 1) * c).min(nbytes)];
            let off = t & ENTRY_OFFSET_MASK;
            if off != 0 {
                if read_up_to(self.file, chunk, off)? < chunk.len() {
                    return Err(invalid("bitmap data past the end of the file"));
                }
            } else if t & ENTRY_ALL_ONES != 0 {
                chunk.fill(0xff);
            }
        }
        bm.fill_from(&bytes);
        Ok(bm)
    }

    /// The clusters an entry owns: (byte offset, clusters) runs.
    fn owned(&self, e: &Entry) -> io::Result<Vec<(u64, u64)>> {
        let mut runs: Vec<(u64, u64)> = self
            .table(e)?
            .iter()
            .map(|t| t & ENTRY_OFFSET_MASK)
            .filter(|&o| o != 0)
            .map(|o| (o, 1))
            .collect();
        runs.push((
            e.table_offset,
            self.clusters_for(u64::from(e.table_size) * 8),
        ));
        Ok(runs)
    }
}

/// The clusters the bitmaps extension uses: (byte offset, clusters) runs
/// of the directory, each bitmap's table and its data. `None` when the
/// extension is there but stale (autoclear bit clear): what it names is
/// then nobody's for QEMU, and a leak repair leaves such a file alone.
pub(crate) fn clusters_in_use(file: &File) -> io::Result<Option<Vec<(u64, u64)>>> {
    let img = Image::open(file)?;
    let Some((offset, size, entries)) = img.directory()? else {
        return Ok(if img.header.extension(EXT_BITMAPS).is_some() {
            None
        } else {
            Some(Vec::new())
        });
    };
    let mut runs = vec![(offset, img.clusters_for(size))];
    for e in &entries {
        runs.extend(img.owned(e)?);
    }
    Ok(Some(runs))
}

fn be16(b: &[u8], at: usize) -> io::Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or_else(|| invalid("truncated"))
}

fn entry_size(name: usize, extra: usize) -> usize {
    (24 + name + extra).div_ceil(8) * 8
}

/// The bitmaps of the image open as `file` (none if its bitmap extension
/// is absent or stale).
pub fn list(file: &File) -> io::Result<Vec<BitmapInfo>> {
    let img = Image::open(file)?;
    let Some((_, _, entries)) = img.directory()? else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|e| {
            let in_use = e.flags & FLAG_IN_USE != 0;
            Ok(BitmapInfo {
                name: e.name.clone(),
                granularity: 1 << e.granularity_bits,
                in_use,
                auto: e.flags & FLAG_AUTO != 0,
                count: if in_use {
                    None
                } else {
                    Some(img.load(e)?.count())
                },
            })
        })
        .collect()
}

/// The bitmap `name`; an error if there is none or it is in use.
pub fn load(file: &File, name: &str) -> io::Result<Bitmap> {
    let img = Image::open(file)?;
    let entries = img.directory()?.map(|d| d.2).unwrap_or_default();
    let e = entries
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no bitmap {name:?}")))?;
    img.load(e)
}

/// Replaces the image's whole set of bitmaps with `bitmaps`
/// (`(name, bitmap, auto)`, each sized for the image), crash-safely as the
/// module documents. An empty set removes the extension.
pub fn store(file: &File, bitmaps: &[(&str, &Bitmap, bool)]) -> io::Result<()> {
    let all: Vec<ToStore<'_>> = bitmaps
        .iter()
        .map(|&(name, bitmap, auto)| ToStore {
            name,
            bitmap,
            auto,
            in_use: false,
        })
        .collect();
    store_all(file, &all, None)
}

/// A bitmap for [`store_all`].
#[derive(Clone, Copy, Debug)]
pub struct ToStore<'a> {
    /// Its name (1 to [`MAX_NAME`] bytes, unique).
    pub name: &'a str,
    /// Its bits, sized for the image.
    pub bitmap: &'a Bitmap,
    /// Recording (QEMU's `auto` flag).
    pub auto: bool,
    /// Inconsistent (QEMU's `in_use` flag): its data is not to be used
    /// (and is stored as zeroes).
    pub in_use: bool,
}

/// Whether the image has a valid bitmap directory (extension present and
/// autoclear bit 0 set).
pub fn present(file: &File) -> io::Result<bool> {
    Ok(Image::open(file)?.directory()?.is_some())
}

/// Before a writer that knows nothing of bitmaps (imago, which clears the
/// autoclear bits of every image it opens for writing, leaving the
/// extension's clusters leaked) opens the image: the valid set goes, its
/// clusters freed, crash-safely as [`store`] (an empty set). Returns
/// whether there was one.
pub fn detach(file: &File, intent: Option<&Path>) -> io::Result<bool> {
    if let Some(p) = intent {
        settle(file, p)?;
    }
    if !present(file)? {
        return Ok(false);
    }
    store_all(file, &[], intent)?;
    Ok(true)
}

/// As [`store`], with each bitmap's flags. With `intent`, the clusters
/// allocated and freed are recorded at that path first (an intent left
/// there by a killed store is settled before), so that a kill at any step
/// leaks nothing once [`settle`] has run.
pub fn store_all(file: &File, bitmaps: &[ToStore<'_>], intent: Option<&Path>) -> io::Result<()> {
    if let Some(p) = intent {
        settle(file, p)?;
    }
    let img = Image::open(file)?;
    if img.header.version < 3 {
        return Err(invalid("persistent bitmaps need a version 3 image"));
    }
    if bitmaps.len() > MAX_BITMAPS {
        return Err(invalid("too many bitmaps"));
    }
    for (i, b) in bitmaps.iter().enumerate() {
        let (name, bm) = (b.name, b.bitmap);
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(invalid(format!("bad bitmap name {name:?}")));
        }
        if bitmaps[..i].iter().any(|o| o.name == name) {
            return Err(invalid(format!("bitmap {name:?} given twice")));
        }
        if bm.len != img.header.size.div_ceil(bm.granularity) {
            return Err(invalid(format!(
                "bitmap {name:?} does not fit the disk size"
            )));
        }
        if bm.len.div_ceil(8) > MAX_PHYS {
            return Err(invalid(format!("bitmap {name:?} is too large")));
        }
    }
    // What the current (valid) set owns, to free once the new one is in.
    let mut old = Vec::new();
    let mut old_dir = 0;
    if let Some((offset, size, entries)) = img.directory()? {
        for e in &entries {
            old.extend(img.owned(e)?);
        }
        old.push((offset, img.clusters_for(size)));
        old_dir = offset;
    }
    let mut new = Vec::new();
    let mut rc = Refcounts::load(file, &img.first, img.header.cluster_bits)?;
    let c = img.cluster() as usize;
    let mut dir = Vec::new();
    for b in bitmaps {
        let (name, bm) = (b.name, b.bitmap);
        let bytes = bm.to_bytes();
        let mut table = Vec::new();
        for chunk in bytes.chunks(c) {
            if b.in_use || chunk.iter().all(|&b| b == 0) {
                table.push(0u64);
                continue;
            }
            let off = rc.alloc(1)?;
            new.push((off, 1));
            let mut cluster = chunk.to_vec();
            cluster.resize(c, 0);
            file.write_all_at(&cluster, off)?;
            table.push(off);
        }
        let table_bytes: Vec<u8> = table.iter().flat_map(|t| t.to_be_bytes()).collect();
        let table_clusters = img.clusters_for(table_bytes.len() as u64);
        let table_offset = rc.alloc(table_clusters)?;
        new.push((table_offset, table_clusters));
        let mut padded = table_bytes;
        padded.resize((table_clusters as usize) * c, 0);
        file.write_all_at(&padded, table_offset)?;
        // The directory entry.
        dir.extend_from_slice(&table_offset.to_be_bytes());
        dir.extend_from_slice(&(table.len() as u32).to_be_bytes());
        let flags = if b.auto { FLAG_AUTO } else { 0 } | if b.in_use { FLAG_IN_USE } else { 0 };
        dir.extend_from_slice(&flags.to_be_bytes());
        dir.push(TYPE_DIRTY_TRACKING);
        dir.push(bm.granularity.trailing_zeros() as u8);
        dir.extend_from_slice(&(name.len() as u16).to_be_bytes());
        dir.extend_from_slice(&0u32.to_be_bytes());
        dir.extend_from_slice(name.as_bytes());
        dir.resize(dir.len().div_ceil(8) * 8, 0);
    }
    if dir.len() as u64 > MAX_DIRECTORY {
        return Err(invalid("directory too large"));
    }
    let mut new_dir = 0;
    let ext = if bitmaps.is_empty() {
        None
    } else {
        let clusters = img.clusters_for(dir.len() as u64);
        let offset = rc.alloc(clusters)?;
        new.push((offset, clusters));
        new_dir = offset;
        let mut padded = dir.clone();
        padded.resize(clusters as usize * c, 0);
        file.write_all_at(&padded, offset)?;
        let mut ext = Vec::with_capacity(24);
        ext.extend_from_slice(&(bitmaps.len() as u32).to_be_bytes());
        ext.extend_from_slice(&0u32.to_be_bytes());
        ext.extend_from_slice(&(dir.len() as u64).to_be_bytes());
        ext.extend_from_slice(&offset.to_be_bytes());
        Some(ext)
    };
    file.sync_all()?;
    crash::point("qcow2.bitmaps.data");
    let journaled = match intent {
        Some(p) if !new.is_empty() || !old.is_empty() => {
            let i = intent::Intent {
                file: intent::identity(file)?,
                new_dir,
                old_dir,
                new: new.clone(),
                old: old.clone(),
            };
            intent::write(p, &i)?;
            crash::point("qcow2.bitmaps.intent");
            Some(p)
        }
        _ => None,
    };
    rc.write()?;
    crash::point("qcow2.bitmaps.refcounts");
    // The commit point.
    match &ext {
        Some(ext) => Header::set_extension(file, EXT_BITMAPS, Some(ext), AUTOCLEAR_BITMAPS, 0)?,
        None => Header::set_extension(file, EXT_BITMAPS, None, 0, AUTOCLEAR_BITMAPS)?,
    };
    crash::point("qcow2.bitmaps.header");
    for (offset, n) in old {
        rc.free(offset, n)?;
    }
    rc.write()?;
    crash::point("qcow2.bitmaps.freed");
    if let Some(p) = journaled {
        intent::remove(p)?;
    }
    Ok(())
}

mod intent;
pub use intent::settle;

#[cfg(test)]
mod tests;
