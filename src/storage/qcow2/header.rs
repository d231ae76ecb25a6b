//! The parts of a qcow2 header xapid reads and writes itself: the virtual
//! size and the backing-file pointer (name and format).
//!
//! Headers come from files clients may have placed in an SR, so parsing
//! trusts nothing: every offset and length is bounds-checked, and nothing
//! here opens the backing file a header names (the storage layer decides
//! whether a name is acceptable). Rewriting the backing pointer is what
//! `qemu-img rebase -u` does, and what stream and commit need at their end
//! (imago cannot do it): the header cluster is rebuilt with every header
//! extension kept but the backing-format one, the new backing-format
//! extension and name are placed after them, and the cluster is written
//! back in one write and synced.
//!
//! Layout (big-endian; `docs/interop/qcow2.txt` in QEMU):
//!
//! ```text
//! 0 magic "QFI\xfb" | 4 version | 8 backing_file_offset u64 | 16 backing_file_size u32
//! 20 cluster_bits | 24 size u64 | ... | v3: 100 header_length u32
//! then extensions: (type u32, length u32, data padded to 8) ... type 0 ends
//! then, usually, the backing file name (at most 1023 bytes, in cluster 0)
//! ```

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::storage::read_up_to;

/// The qcow2 magic, `QFI\xfb`.
pub const MAGIC: u32 = 0x5146_49fb;
/// Header extension: backing file format name.
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
/// Header extension: end of the list.
const EXT_END: u32 = 0;
/// Longest backing file name QEMU accepts.
pub const MAX_BACKING_NAME: usize = 1023;

/// What xapid needs from a qcow2 header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// Virtual size in bytes.
    pub size: u64,
    /// The backing file name as written in the header (not opened).
    pub backing_file: Option<String>,
    /// The backing format from the header extension, if any.
    pub backing_format: Option<String>,
    /// Where the fixed header ends and extensions begin.
    header_length: u32,
    /// The header extensions other than the backing format, as raw
    /// `(type, data)`, in order.
    other_extensions: Vec<(u32, Vec<u8>)>,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("qcow2 header: {msg}"))
}

// Offsets of the header fields xapid reads (all big-endian), the one table
// of them: the parser below and the metadata-ordering guard use these.

/// `magic` (u32).
pub(crate) const HDR_MAGIC: usize = 0;
/// `version` (u32).
pub(crate) const HDR_VERSION: usize = 4;
/// `backing_file_offset` (u64).
pub(crate) const HDR_BACKING_OFFSET: usize = 8;
/// `backing_file_size` (u32).
pub(crate) const HDR_BACKING_SIZE: usize = 16;
/// `cluster_bits` (u32).
pub(crate) const HDR_CLUSTER_BITS: usize = 20;
/// `size` (u64, the virtual size).
pub(crate) const HDR_SIZE: usize = 24;
/// `l1_size` (u32); then `l1_table_offset` (u64),
/// `refcount_table_offset` (u64), `refcount_table_clusters` (u32).
pub(crate) const HDR_L1_SIZE: usize = 36;
pub(crate) const HDR_L1_OFFSET: usize = 40;
pub(crate) const HDR_RT_OFFSET: usize = 48;
pub(crate) const HDR_RT_CLUSTERS: usize = 56;
/// End of the fields that locate the L1 and refcount tables.
pub(crate) const HDR_ROOTS_END: usize = 60;
/// Length of a version 2 header.
pub(crate) const HDR_V2_LENGTH: usize = 72;
/// `incompatible_features` (u64, version 3 only).
pub(crate) const HDR_INCOMPATIBLE: usize = 72;
/// `autoclear_features` (u64, version 3 only).
pub(crate) const HDR_AUTOCLEAR: usize = 88;
/// `refcount_order` (u32, version 3 only).
pub(crate) const HDR_REFCOUNT_ORDER: usize = 96;
/// `header_length` (u32, version 3 only).
pub(crate) const HDR_LENGTH: usize = 100;
/// Incompatible feature bit: guest data lives in an external data file.
pub(crate) const INCOMPAT_EXTERNAL_DATA: u64 = 1 << 2;

/// The big-endian u32 at `at` (an error if `b` is too short: headers and
/// tables come from untrusted files).
pub(crate) fn be32(b: &[u8], at: usize) -> io::Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| invalid("truncated"))
}

/// The big-endian u64 at `at`, as [`be32`].
pub(crate) fn be64(b: &[u8], at: usize) -> io::Result<u64> {
    b.get(at..at + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        })
        .ok_or_else(|| invalid("truncated"))
}

/// Whether the bytes start like a qcow2 image.
pub fn is_qcow2(first_bytes: &[u8]) -> bool {
    be32(first_bytes, HDR_MAGIC).is_ok_and(|m| m == MAGIC)
}

impl Header {
    /// Parses a header from the first cluster of an image (or at least its
    /// first few KiB: the extensions and name must lie within `cluster`).
    pub fn parse(cluster: &[u8]) -> io::Result<Header> {
        if be32(cluster, HDR_MAGIC)? != MAGIC {
            return Err(invalid("not a qcow2 image"));
        }
        let version = be32(cluster, HDR_VERSION)?;
        if version != 2 && version != 3 {
            return Err(invalid("unsupported version"));
        }
        let backing_offset = be64(cluster, HDR_BACKING_OFFSET)?;
        let backing_size = be32(cluster, HDR_BACKING_SIZE)? as usize;
        let cluster_bits = be32(cluster, HDR_CLUSTER_BITS)?;
        if !(9..=21).contains(&cluster_bits) {
            return Err(invalid("bad cluster size"));
        }
        let size = be64(cluster, HDR_SIZE)?;
        let header_length = if version == 2 {
            HDR_V2_LENGTH as u32
        } else {
            let l = be32(cluster, HDR_LENGTH)?;
            if l < 104 || l % 8 != 0 || l as usize > cluster.len() {
                return Err(invalid("bad header length"));
            }
            l
        };
        // Extensions.
        let mut at = header_length as usize;
        let mut backing_format = None;
        let mut other_extensions = Vec::new();
        loop {
            let ty = be32(cluster, at)?;
            let len = be32(cluster, at + 4)? as usize;
            if ty == EXT_END {
                break;
            }
            let data = cluster
                .get(at + 8..at + 8 + len)
                .ok_or_else(|| invalid("extension out of bounds"))?;
            if ty == EXT_BACKING_FORMAT {
                let name = std::str::from_utf8(data).map_err(|_| invalid("bad backing format"))?;
                backing_format = Some(name.to_owned());
            } else {
                other_extensions.push((ty, data.to_vec()));
            }
            at += 8 + len.div_ceil(8) * 8;
            if other_extensions.len() > 64 {
                return Err(invalid("too many extensions"));
            }
        }
        let backing_file = if backing_offset == 0 {
            None
        } else {
            if backing_size == 0 || backing_size > MAX_BACKING_NAME {
                return Err(invalid("bad backing file name length"));
            }
            let start = usize::try_from(backing_offset).map_err(|_| invalid("bad offset"))?;
            let end = start
                .checked_add(backing_size)
                .ok_or_else(|| invalid("backing file name out of bounds"))?;
            let name = cluster
                .get(start..end)
                .ok_or_else(|| invalid("backing file name out of bounds"))?;
            let name =
                std::str::from_utf8(name).map_err(|_| invalid("backing file name is not UTF-8"))?;
            Some(name.to_owned())
        };
        Ok(Header {
            version,
            cluster_bits,
            size,
            backing_file,
            backing_format,
            header_length,
            other_extensions,
        })
    }

    /// Reads and parses the header of an open image.
    pub fn read(file: &File) -> io::Result<Header> {
        let mut first = vec![0u8; 4096];
        let n = read_up_to(file, &mut first, 0)?;
        first.truncate(n);
        let cluster_bits = be32(&first, HDR_CLUSTER_BITS).unwrap_or(16);
        let cluster = 1usize << cluster_bits.clamp(9, 21);
        if cluster > first.len() && n == 4096 {
            let mut whole = vec![0u8; cluster];
            let n = read_up_to(file, &mut whole, 0)?;
            whole.truncate(n);
            return Header::parse(&whole);
        }
        Header::parse(&first)
    }

    /// The cluster size in bytes.
    pub fn cluster_size(&self) -> usize {
        1 << self.cluster_bits
    }

    /// Points the image at another backing file (or at none), as
    /// `qemu-img rebase -u` does: only the header changes, never data.
    pub fn set_backing(file: &File, backing: Option<(&str, &str)>) -> io::Result<Header> {
        let mut h = Header::read(file)?;
        let cluster = h.cluster_size();
        let mut buf = vec![0u8; cluster];
        let n = read_up_to(file, &mut buf, 0)?;
        if n < h.header_length as usize {
            return Err(invalid("truncated"));
        }
        if let Some((name, fmt)) = backing {
            if name.is_empty() || name.len() > MAX_BACKING_NAME || name.contains('\0') {
                return Err(invalid("bad backing file name"));
            }
            if fmt.is_empty() || fmt.len() > 16 || !fmt.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(invalid("bad backing format"));
            }
        }
        // Rebuild everything after the fixed header.
        let at = h.header_length as usize;
        let mut tail = Vec::new();
        let mut push_ext = |ty: u32, data: &[u8]| {
            tail.extend_from_slice(&ty.to_be_bytes());
            tail.extend_from_slice(&(data.len() as u32).to_be_bytes());
            tail.extend_from_slice(data);
            tail.resize(tail.len().div_ceil(8) * 8, 0);
        };
        if let Some((_, fmt)) = backing {
            push_ext(EXT_BACKING_FORMAT, fmt.as_bytes());
        }
        for (ty, data) in &h.other_extensions {
            push_ext(*ty, data);
        }
        tail.extend_from_slice(&EXT_END.to_be_bytes());
        tail.extend_from_slice(&0u32.to_be_bytes());
        let (offset, size) = match backing {
            Some((name, _)) => {
                let off = at + tail.len();
                tail.extend_from_slice(name.as_bytes());
                (off as u64, name.len() as u32)
            }
            None => (0, 0),
        };
        if at + tail.len() > cluster {
            return Err(invalid("header extensions do not fit in the first cluster"));
        }
        // Zero what the old extensions and name occupied, then lay out anew.
        buf[at..].iter_mut().for_each(|b| *b = 0);
        buf[at..at + tail.len()].copy_from_slice(&tail);
        buf[HDR_BACKING_OFFSET..HDR_BACKING_OFFSET + 8].copy_from_slice(&offset.to_be_bytes());
        buf[HDR_BACKING_SIZE..HDR_BACKING_SIZE + 4].copy_from_slice(&size.to_be_bytes());
        // Only the bytes up to the end of the old or new content change.
        file.write_all_at(
            &buf[..n.max(h.header_length as usize + tail.len()).min(cluster)],
            0,
        )?;
        file.sync_all()?;
        h.backing_file = backing.map(|(n, _)| n.to_owned());
        h.backing_format = backing.map(|(_, f)| f.to_owned());
        Ok(h)
    }

    /// Replaces the header extension of type `ty` (removes it with `None`,
    /// appends it when absent) and sets and clears autoclear feature bits,
    /// in one write of the first cluster, then syncs: the commit point of a
    /// change made elsewhere in the file. Every other extension and the
    /// backing file name are kept (the name is laid out again after the
    /// extensions). Version 3 images only (version 2 has no autoclear bits).
    pub(crate) fn set_extension(
        file: &File,
        ty: u32,
        data: Option<&[u8]>,
        autoclear_set: u64,
        autoclear_clear: u64,
    ) -> io::Result<Header> {
        let mut h = Header::read(file)?;
        if h.version < 3 {
            return Err(invalid("version 2 images have no autoclear features"));
        }
        if ty == EXT_END || ty == EXT_BACKING_FORMAT {
            return Err(invalid("not an extension set_extension may change"));
        }
        let cluster = h.cluster_size();
        let mut buf = vec![0u8; cluster];
        let n = read_up_to(file, &mut buf, 0)?;
        if n < h.header_length as usize {
            return Err(invalid("truncated"));
        }
        let mut exts = h.other_extensions.clone();
        match (exts.iter().position(|(t, _)| *t == ty), data) {
            (Some(i), Some(d)) => exts[i].1 = d.to_vec(),
            (Some(i), None) => {
                exts.remove(i);
            }
            (None, Some(d)) => exts.push((ty, d.to_vec())),
            (None, None) => {}
        }
        let at = h.header_length as usize;
        let mut tail = Vec::new();
        let mut push_ext = |ty: u32, data: &[u8]| {
            tail.extend_from_slice(&ty.to_be_bytes());
            tail.extend_from_slice(&(data.len() as u32).to_be_bytes());
            tail.extend_from_slice(data);
            tail.resize(tail.len().div_ceil(8) * 8, 0);
        };
        if let Some(fmt) = &h.backing_format {
            push_ext(EXT_BACKING_FORMAT, fmt.as_bytes());
        }
        for (t, d) in &exts {
            push_ext(*t, d);
        }
        tail.extend_from_slice(&EXT_END.to_be_bytes());
        tail.extend_from_slice(&0u32.to_be_bytes());
        let (offset, size) = match &h.backing_file {
            Some(name) => {
                let off = at + tail.len();
                tail.extend_from_slice(name.as_bytes());
                (off as u64, name.len() as u32)
            }
            None => (0, 0),
        };
        if at + tail.len() > cluster {
            return Err(invalid("header extensions do not fit in the first cluster"));
        }
        let old_end = n.min(cluster);
        buf[at..].iter_mut().for_each(|b| *b = 0);
        buf[at..at + tail.len()].copy_from_slice(&tail);
        buf[HDR_BACKING_OFFSET..HDR_BACKING_OFFSET + 8].copy_from_slice(&offset.to_be_bytes());
        buf[HDR_BACKING_SIZE..HDR_BACKING_SIZE + 4].copy_from_slice(&size.to_be_bytes());
        let autoclear = (be64(&buf, HDR_AUTOCLEAR)? | autoclear_set) & !autoclear_clear;
        buf[HDR_AUTOCLEAR..HDR_AUTOCLEAR + 8].copy_from_slice(&autoclear.to_be_bytes());
        // The old extensions and name lie within the bytes read (they were
        // parsed from them), so zeroing up to their end is enough.
        file.write_all_at(&buf[..old_end.max(at + tail.len())], 0)?;
        file.sync_all()?;
        h.other_extensions = exts;
        Ok(h)
    }

    /// The raw data of header extension `ty`, if present.
    pub(crate) fn extension(&self, ty: u32) -> Option<&[u8]> {
        self.other_extensions
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, d)| d.as_slice())
    }
}

#[cfg(test)]
mod tests;
