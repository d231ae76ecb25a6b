//! A minimal cluster allocator over a qcow2 image's refcount structures,
//! for metadata xapid writes itself (persistent bitmaps) while no one else
//! has the image open for writing.
//!
//! The refcount table (at `refcount_table_offset`, `refcount_table_clusters`
//! clusters of big-endian u64 block offsets) points at refcount blocks, each
//! a cluster of `2^refcount_order`-bit entries: entries of 8 bits or more are
//! big-endian, narrower ones are packed from the least significant bit of
//! each byte (`docs/interop/qcow2.txt`). A cluster with refcount 0 is free.
//!
//! Changes are made in memory and written by [`Refcounts::write`]: new
//! refcount blocks first (each describes its own cluster), then changed
//! existing blocks, then the table entries that point at the new blocks, each
//! group synced before the next. A process killed in between leaves clusters
//! with a refcount but no user (leaks, which `qemu-img check` reports as such
//! and `-r leaks` repairs) or unreferenced bytes past the end of the file,
//! never a cluster in use whose refcount is 0.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::header::{be32, be64, HDR_REFCOUNT_ORDER, HDR_RT_CLUSTERS, HDR_RT_OFFSET};
use crate::storage::read_up_to;

fn invalid(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("qcow2 refcounts: {msg}"),
    )
}

/// The refcounts of an image, loaded block by block as they are needed.
pub(crate) struct Refcounts<'a> {
    file: &'a File,
    cluster_bits: u32,
    /// log2 of the refcount width in bits (0..=6).
    order: u32,
    table_offset: u64,
    /// The refcount table: the offset of each block (0: none).
    table: Vec<u64>,
    /// Blocks read or created, by index in the table.
    blocks: BTreeMap<usize, Vec<u8>>,
    /// Blocks changed in memory.
    dirty: BTreeSet<usize>,
    /// Blocks created in memory (their table entries are not written yet).
    new: BTreeSet<usize>,
    /// No cluster below this one is free (where [`Refcounts::alloc`] starts).
    hint: u64,
}

impl<'a> Refcounts<'a> {
    /// Loads the refcount table named by the header in `first` (the image's
    /// first cluster).
    pub(crate) fn load(file: &'a File, first: &[u8], cluster_bits: u32) -> io::Result<Self> {
        let version = be32(first, 4)?;
        let order = if version >= 3 {
            be32(first, HDR_REFCOUNT_ORDER)?
        } else {
            4
        };
        if order > 6 {
            return Err(invalid("bad refcount order"));
        }
        let table_offset = be64(first, HDR_RT_OFFSET)?;
        let clusters = be32(first, HDR_RT_CLUSTERS)? as usize;
        let cluster = 1usize << cluster_bits;
        if table_offset == 0 || !table_offset.is_multiple_of(cluster as u64) || clusters == 0 {
            return Err(invalid("bad refcount table"));
        }
        if clusters > (1 << 20) {
            return Err(invalid("refcount table too large"));
        }
        let mut raw = vec![0u8; clusters * cluster];
        let n = read_up_to(file, &mut raw, table_offset)?;
        if n < raw.len() {
            return Err(invalid("refcount table truncated"));
        }
        let table = raw
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
            .collect();
        Ok(Refcounts {
            file,
            cluster_bits,
            order,
            table_offset,
            table,
            blocks: BTreeMap::new(),
            dirty: BTreeSet::new(),
            new: BTreeSet::new(),
            hint: 1,
        })
    }

    fn cluster(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Entries per refcount block.
    fn per_block(&self) -> u64 {
        (self.cluster() * 8) >> self.order
    }

    /// The block holding cluster `c`'s refcount, read if needed; `None` when
    /// the table has no block there.
    fn block(&mut self, idx: usize) -> io::Result<Option<&mut Vec<u8>>> {
        if !self.blocks.contains_key(&idx) {
            let off = self.table.get(idx).copied().unwrap_or(0) & !0x1ff;
            if off == 0 {
                return Ok(None);
            }
            if !off.is_multiple_of(self.cluster()) {
                return Err(invalid("misaligned refcount block"));
            }
            let mut b = vec![0u8; self.cluster() as usize];
            read_up_to(self.file, &mut b, off)?;
            self.blocks.insert(idx, b);
        }
        Ok(self.blocks.get_mut(&idx))
    }

    fn get_in(order: u32, b: &[u8], i: usize) -> u64 {
        let width = 1usize << order;
        if width >= 8 {
            let n = width / 8;
            b[i * n..i * n + n]
                .iter()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
        } else {
            let per = 8 / width;
            let shift = (i % per) * width;
            u64::from(b[i / per] >> shift) & ((1u64 << width) - 1)
        }
    }

    fn set_in(order: u32, b: &mut [u8], i: usize, v: u64) {
        let width = 1usize << order;
        if width >= 8 {
            let n = width / 8;
            let bytes = v.to_be_bytes();
            b[i * n..i * n + n].copy_from_slice(&bytes[8 - n..]);
        } else {
            let per = 8 / width;
            let shift = (i % per) * width;
            let mask = (((1u16 << width) - 1) as u8) << shift;
            b[i / per] = (b[i / per] & !mask) | (((v as u8) << shift) & mask);
        }
    }

    /// The refcount of cluster number `c`.
    pub(crate) fn get(&mut self, c: u64) -> io::Result<u64> {
        let per = self.per_block();
        let order = self.order;
        Ok(match self.block((c / per) as usize)? {
            Some(b) => Self::get_in(order, b, (c % per) as usize),
            None => 0,
        })
    }

    /// Sets the refcount of cluster `c` (in memory), creating its refcount
    /// block if there is none: the block goes to a free cluster it
    /// describes itself, outside `avoid`.
    fn set(&mut self, c: u64, v: u64, avoid: std::ops::Range<u64>) -> io::Result<()> {
        let per = self.per_block();
        let idx = (c / per) as usize;
        let max = if self.order == 6 {
            u64::MAX
        } else {
            (1u64 << (1 << self.order)) - 1
        };
        if v > max {
            return Err(invalid("refcount overflow"));
        }
        if self.block(idx)?.is_none() {
            if idx >= self.table.len() {
                return Err(invalid("refcount table full (growing it is not supported)"));
            }
            // A fresh block: every cluster it covers is free, so it may sit
            // on the first of them that is not being allocated.
            let first = idx as u64 * per;
            let at = (first..first + per)
                .find(|x| !avoid.contains(x) && *x != 0)
                .ok_or_else(|| invalid("no room for a refcount block"))?;
            let mut b = vec![0u8; self.cluster() as usize];
            Self::set_in(self.order, &mut b, (at - first) as usize, 1);
            self.blocks.insert(idx, b);
            self.table[idx] = at << self.cluster_bits;
            self.new.insert(idx);
            self.dirty.insert(idx);
        }
        let order = self.order;
        let b = self.block(idx)?.expect("block present");
        Self::set_in(order, b, (c % per) as usize, v);
        self.dirty.insert(idx);
        Ok(())
    }

    /// Allocates `n` contiguous free clusters (refcount 1, in memory) and
    /// returns the byte offset of the first. Free clusters inside the file
    /// are reused; otherwise the run lies past its end.
    pub(crate) fn alloc(&mut self, n: u64) -> io::Result<u64> {
        if n == 0 {
            return Err(invalid("empty allocation"));
        }
        let mut start = self.hint;
        let mut len = 0u64;
        let mut c = self.hint;
        let mut first_free = None;
        while len < n {
            if self.get(c)? == 0 {
                first_free.get_or_insert(c);
                if len == 0 {
                    start = c;
                }
                len += 1;
            } else {
                len = 0;
            }
            c += 1;
            if c > (1u64 << (56 - self.cluster_bits)) {
                return Err(invalid("image full"));
            }
        }
        for x in start..start + n {
            self.set(x, 1, start..start + n)?;
        }
        self.hint = first_free.unwrap_or(start);
        Ok(start << self.cluster_bits)
    }

    /// Drops one reference to each of the `n` clusters from byte `offset`.
    pub(crate) fn free(&mut self, offset: u64, n: u64) -> io::Result<()> {
        let first = offset >> self.cluster_bits;
        for c in first..first + n {
            let v = self.get(c)?;
            if v == 0 {
                return Err(invalid("freeing a free cluster"));
            }
            self.set(c, v - 1, 0..0)?;
            if v == 1 {
                self.hint = self.hint.min(c.max(1));
            }
        }
        Ok(())
    }

    /// Lowers the refcount of cluster number `c` to `v` at once (however
    /// many references that drops: a corrupt count may be 2^64 - 1).
    pub(crate) fn lower_to(&mut self, c: u64, v: u64) -> io::Result<()> {
        if self.get(c)? < v {
            return Err(invalid("raising a refcount by lowering it"));
        }
        self.set(c, v, 0..0)?;
        if v == 0 {
            self.hint = self.hint.min(c.max(1));
        }
        Ok(())
    }

    /// The clusters the existing refcount blocks describe (every cluster
    /// whose refcount can be above 0), and the clusters holding the
    /// refcount structures themselves (the table and each block).
    pub(crate) fn layout(&self) -> (Vec<std::ops::Range<u64>>, Vec<u64>) {
        let per = self.per_block();
        let mut described = Vec::new();
        let mut own = Vec::new();
        let table_clusters = (self.table.len() as u64 * 8).div_ceil(self.cluster());
        let first = self.table_offset >> self.cluster_bits;
        own.extend(first..first + table_clusters);
        for (idx, &e) in self.table.iter().enumerate() {
            let off = e & !0x1ff;
            if off != 0 {
                described.push(idx as u64 * per..(idx as u64 + 1) * per);
                own.push(off >> self.cluster_bits);
            }
        }
        (described, own)
    }

    /// Writes what changed, in the order the module documents, syncing
    /// after each step.
    pub(crate) fn write(&mut self) -> io::Result<()> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        for pass_new in [true, false] {
            let mut any = false;
            for &idx in &self.dirty {
                if self.new.contains(&idx) == pass_new {
                    let off = self.table[idx] & !0x1ff;
                    self.file.write_all_at(&self.blocks[&idx], off)?;
                    any = true;
                }
            }
            if any {
                self.file.sync_all()?;
            }
        }
        if !self.new.is_empty() {
            for &idx in &self.new {
                let at = self.table_offset + idx as u64 * 8;
                self.file.write_all_at(&self.table[idx].to_be_bytes(), at)?;
            }
            self.file.sync_all()?;
        }
        self.new.clear();
        self.dirty.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_and_wide_entries_round_trip() {
        for order in 0..=6u32 {
            let mut b = vec![0u8; 64];
            let max = if order == 6 {
                u64::MAX
            } else {
                (1u64 << (1 << order)) - 1
            };
            let n = (64 * 8) >> order;
            for i in 0..n {
                Refcounts::set_in(order, &mut b, i, (i as u64) & max);
            }
            for i in 0..n {
                assert_eq!(Refcounts::get_in(order, &b, i), (i as u64) & max, "{order}");
            }
        }
        // 16-bit entries are big-endian; 1-bit entries start at the LSB.
        let mut b = vec![0u8; 4];
        Refcounts::set_in(4, &mut b, 1, 0x0102);
        assert_eq!(b, [0, 0, 1, 2]);
        let mut b = vec![0u8; 1];
        Refcounts::set_in(0, &mut b, 1, 1);
        assert_eq!(b, [2]);
    }
}
