//! The order of imago's qcow2 metadata writes, made safe against a crash
//! at any moment (see below); [`GuardedFile`](super::guarded_file) applies
//! it under imago.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::header::{
    be32, be64, is_qcow2, HDR_CLUSTER_BITS, HDR_L1_OFFSET, HDR_L1_SIZE, HDR_LENGTH,
    HDR_REFCOUNT_ORDER, HDR_ROOTS_END, HDR_RT_CLUSTERS, HDR_RT_OFFSET, HDR_V2_LENGTH, HDR_VERSION,
};
use crate::storage::read_up_to;

fn invalid_data(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

// qcow2 metadata ordering.
//
// imago 0.2.6 writes a few metadata pointers straight to the file while
// the refcounts of the clusters they point to are still only in its
// refblock cache (written back at flush or on eviction):
//
// - `Qcow2::ensure_l2` (qcow2/mappings.rs) allocates a cluster for a new L2
//   table (refcount incremented in the cache), writes the table, then the
//   L1 entry (`L1Table::write_entry`);
// - `Allocator::ensure_rb` (qcow2/allocation.rs) allocates a cluster for a
//   new refblock the same way, writes the refblock, then the refcount
//   table entry (`RefTable::write_entry`);
// - `Qcow2::grow_l1_table` (qcow2/mappings.rs) writes a new L1 table into
//   freshly allocated clusters, then the header's L1 pointer
//   (`Header::write_l1_table_pointer`). (`Allocator::grow_reftable` flushes
//   the refblock cache before writing the reftable pointer.)
//
// Until the refblock is written back, the file has a reference to a
// cluster whose refcount is 0: a process killed then leaves an image that
// `qemu-img check` calls corrupt, and that imago itself later reuses the
// cluster from. QEMU flushes its refcount cache before such writes.
//
// `GuardedFile` restores that order below imago: for a writable qcow2
// layer it keeps a copy of the on-disk roots (the header's L1 and
// refcount-table pointers, the refcount table, and the set of clusters
// the header, L1 table and refcount table reference). A write that lands
// on the header's pointers, the L1 table, the refcount table or a
// refblock goes through `GuardedFile::guarded_write` (`Guard::prepare`),
// which first makes every cluster that the file will then reference have
// a non-zero refcount on disk (by writing that refcount entry, the value
// imago's cache holds anyway), and keeps refblock write-backs from
// zeroing such a refcount (one copied by a concurrent write-back before
// the increment). Every other write
// (data, L2 tables, new refblocks and tables not yet referenced) passes
// straight through after one uncontended lock and range check. Nothing is
// deferred, so what `flush` makes durable is exactly what imago wrote.

/// Host offset bits of an L1 entry.
const L1_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Host offset bits of a refcount table entry.
const RT_OFFSET_MASK: u64 = !0x1ff;
/// Most entries an L1 or refcount table may have (imago's limit).
const MAX_TABLE_ENTRIES: u64 = 4 << 20;

/// Where the header says the L1 and refcount tables are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Roots {
    pub(crate) l1_offset: u64,
    pub(crate) l1_entries: u64,
    pub(crate) rt_offset: u64,
    pub(crate) rt_clusters: u64,
}

impl Roots {
    /// From the first [`HDR_ROOTS_END`] bytes of a header.
    fn parse(h: &[u8]) -> io::Result<Roots> {
        Ok(Roots {
            l1_offset: be64(h, HDR_L1_OFFSET)?,
            l1_entries: be32(h, HDR_L1_SIZE)?.into(),
            rt_offset: be64(h, HDR_RT_OFFSET)?,
            rt_clusters: be32(h, HDR_RT_CLUSTERS)?.into(),
        })
    }

    fn check(&self, cluster_bits: u32) -> io::Result<()> {
        let rt_entries = self.rt_clusters << (cluster_bits - 3);
        if self.l1_entries > MAX_TABLE_ENTRIES || rt_entries > MAX_TABLE_ENTRIES {
            return Err(invalid_data("qcow2: L1 or refcount table too large"));
        }
        let mask = (1u64 << cluster_bits) - 1;
        if self.l1_offset & mask != 0 || self.rt_offset & mask != 0 {
            return Err(invalid_data("qcow2: unaligned L1 or refcount table"));
        }
        Ok(())
    }

    fn l1(&self) -> (u64, u64) {
        (self.l1_offset, self.l1_entries)
    }

    fn rt(&self, cluster_bits: u32) -> (u64, u64) {
        (self.rt_offset, self.rt_clusters << (cluster_bits - 3))
    }
}

/// Byte range of a table of `entries` 8-byte entries at `offset`.
fn table_range((offset, entries): (u64, u64)) -> (u64, u64) {
    (offset, offset.saturating_add(entries * 8))
}

fn overlaps((a, b): (u64, u64), (c, d): (u64, u64)) -> bool {
    a < d && c < b
}

/// The clusters a table at `(offset, entries)` occupies.
fn table_clusters(t: (u64, u64), cluster_bits: u32) -> std::ops::Range<u64> {
    let (start, end) = table_range(t);
    if start == end {
        return 0..0;
    }
    start >> cluster_bits..((end - 1) >> cluster_bits) + 1
}

/// What the guard knows of a qcow2 file's on-disk roots. See above.
pub(crate) struct Guard {
    /// The image file (for the guard's own reads and refcount writes).
    pub(super) file: File,
    cluster_bits: u32,
    /// Bits per refcount (1 to 64).
    refcount_bits: u32,
    pub(crate) roots: Roots,
    /// The on-disk refcount table: refblock clusters (0: none).
    reftable: Vec<u64>,
    /// Refblock cluster -> its refcount table index.
    refblocks: BTreeMap<u64, usize>,
    /// Clusters the on-disk header, L1 table and refcount table reference
    /// (tables, L2 tables, refblocks), with how many times.
    needed: BTreeMap<u64, u32>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("roots", &self.roots)
            .field("refblocks", &self.refblocks.len())
            .field("needed", &self.needed.len())
            .finish()
    }
}

/// Reads `len` bytes at `offset` as they will be once `data` is written at
/// `data_at` (zeroes past the end of the file).
fn read_view(
    file: &File,
    data: &[u8],
    data_at: u64,
    offset: u64,
    len: usize,
) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    read_up_to(file, &mut buf, offset)?;
    let end = offset + len as u64;
    let data_end = data_at + data.len() as u64;
    if offset < data_end && data_at < end {
        let from = offset.max(data_at);
        let to = end.min(data_end);
        buf[(from - offset) as usize..(to - offset) as usize]
            .copy_from_slice(&data[(from - data_at) as usize..(to - data_at) as usize]);
    }
    Ok(buf)
}

/// Entries `[first, end)` of the table at `offset`, as [`read_view`] sees them.
fn read_entries(
    file: &File,
    data: &[u8],
    data_at: u64,
    offset: u64,
    first: u64,
    end: u64,
) -> io::Result<Vec<u64>> {
    let b = read_view(
        file,
        data,
        data_at,
        offset + first * 8,
        ((end - first) * 8) as usize,
    )?;
    b.chunks_exact(8).map(|c| be64(c, 0)).collect()
}

fn l1_target(entry: u64, cluster_bits: u32) -> Option<u64> {
    let off = entry & L1_OFFSET_MASK;
    (off != 0).then_some(off >> cluster_bits)
}

fn rt_target(entry: u64, cluster_bits: u32) -> Option<u64> {
    let off = entry & RT_OFFSET_MASK;
    (off != 0).then_some(off >> cluster_bits)
}

impl Guard {
    /// Reads the roots of the qcow2 image in `file`.
    pub(crate) fn load(file: File) -> io::Result<Guard> {
        let mut h = [0u8; 104];
        let n = read_up_to(&file, &mut h, 0)?;
        if n < HDR_V2_LENGTH || !is_qcow2(&h) {
            return Err(invalid_data("qcow2: truncated header"));
        }
        let version = be32(&h, HDR_VERSION)?;
        let cluster_bits = be32(&h, HDR_CLUSTER_BITS)?;
        let refcount_order = match version {
            2 => 4,
            3 if n >= HDR_LENGTH => be32(&h, HDR_REFCOUNT_ORDER)?,
            _ => return Err(invalid_data("qcow2: unsupported header")),
        };
        if !(9..=21).contains(&cluster_bits) || refcount_order > 6 {
            return Err(invalid_data(
                "qcow2: unsupported cluster size or refcount width",
            ));
        }
        let roots = Roots::parse(&h)?;
        roots.check(cluster_bits)?;
        let mut g = Guard {
            file,
            cluster_bits,
            refcount_bits: 1 << refcount_order,
            roots,
            reftable: Vec::new(),
            refblocks: BTreeMap::new(),
            needed: BTreeMap::new(),
        };
        let (l1_off, l1_n) = roots.l1();
        let l1 = read_entries(&g.file, &[], 0, l1_off, 0, l1_n)?;
        let (rt_off, rt_n) = roots.rt(cluster_bits);
        let rt = read_entries(&g.file, &[], 0, rt_off, 0, rt_n)?;
        g.add(0);
        for c in table_clusters(roots.l1(), cluster_bits)
            .chain(table_clusters(roots.rt(cluster_bits), cluster_bits))
        {
            g.add(c);
        }
        for e in l1 {
            if let Some(c) = l1_target(e, cluster_bits) {
                g.add(c);
            }
        }
        g.set_reftable(
            rt.iter()
                .map(|&e| rt_target(e, cluster_bits).unwrap_or(0))
                .collect(),
        );
        for i in 0..g.reftable.len() {
            if g.reftable[i] != 0 {
                g.add(g.reftable[i]);
            }
        }
        Ok(g)
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    fn set_reftable(&mut self, reftable: Vec<u64>) {
        self.refblocks = reftable
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c != 0)
            .map(|(i, &c)| (c, i))
            .collect();
        self.reftable = reftable;
    }

    fn add(&mut self, cluster: u64) {
        *self.needed.entry(cluster).or_insert(0) += 1;
    }

    fn remove(&mut self, cluster: u64) {
        if let Some(n) = self.needed.get_mut(&cluster) {
            *n -= 1;
            if *n == 0 {
                self.needed.remove(&cluster);
            }
        }
    }

    /// Refcount entries one refblock holds.
    fn rb_entries(&self) -> u64 {
        (self.cluster_size() * 8) / u64::from(self.refcount_bits)
    }

    /// Whether a write of `len` bytes at `offset` lands on the header's
    /// pointers, the L1 table, the refcount table or a refblock.
    pub(super) fn protects(&self, offset: u64, len: u64) -> bool {
        let w = (offset, offset.saturating_add(len));
        if len == 0 {
            return false;
        }
        if offset < HDR_ROOTS_END as u64
            || overlaps(w, table_range(self.roots.l1()))
            || overlaps(w, table_range(self.roots.rt(self.cluster_bits)))
        {
            return true;
        }
        let cb = self.cluster_bits;
        self.refblocks
            .range(..=(w.1 - 1) >> cb)
            .next_back()
            .is_some_and(|(&c, _)| c >= offset >> cb)
    }

    /// Takes the write of `data` at `offset` into account (it is about to
    /// be made): updates the roots, and makes sure that once it is
    /// written, every cluster the roots reference has a non-zero refcount
    /// on disk (patching `data` where the refcount lies inside it, writing
    /// the others to the file now). On error the caller reloads the guard.
    pub(super) fn prepare(&mut self, data: &mut [u8], offset: u64) -> io::Result<()> {
        let cb = self.cluster_bits;
        let end = offset + data.len() as u64;
        let new_roots = if offset < HDR_ROOTS_END as u64 {
            let h = read_view(&self.file, data, offset, 0, HDR_ROOTS_END)?;
            let r = Roots::parse(&h)?;
            r.check(cb)?;
            r
        } else {
            self.roots
        };
        let mut added: Vec<u64> = Vec::new();
        let mut removed: Vec<u64> = Vec::new();

        // The L1 table: moved, or entries changed.
        let (old_l1, new_l1) = (self.roots.l1(), new_roots.l1());
        if old_l1 != new_l1 {
            let old = read_entries(&self.file, &[], 0, old_l1.0, 0, old_l1.1)?;
            removed.extend(old.iter().filter_map(|&e| l1_target(e, cb)));
            removed.extend(table_clusters(old_l1, cb));
            let new = read_entries(&self.file, data, offset, new_l1.0, 0, new_l1.1)?;
            added.extend(new.iter().filter_map(|&e| l1_target(e, cb)));
            added.extend(table_clusters(new_l1, cb));
        } else if overlaps((offset, end), table_range(old_l1)) {
            let first = offset.saturating_sub(old_l1.0) / 8;
            let last = ((end - old_l1.0).div_ceil(8)).min(old_l1.1);
            let old = read_entries(&self.file, &[], 0, old_l1.0, first, last)?;
            let new = read_entries(&self.file, data, offset, old_l1.0, first, last)?;
            for (o, n) in old.into_iter().zip(new) {
                let (o, n) = (l1_target(o, cb), l1_target(n, cb));
                if o != n {
                    removed.extend(o);
                    added.extend(n);
                }
            }
        }

        // The refcount table: moved, or entries changed. `changed`: the
        // refcount table indices whose refblock is new.
        let (old_rt, new_rt) = (self.roots.rt(cb), new_roots.rt(cb));
        let mut changed: Vec<usize> = Vec::new();
        if old_rt != new_rt {
            let new: Vec<u64> = read_entries(&self.file, data, offset, new_rt.0, 0, new_rt.1)?
                .into_iter()
                .map(|e| rt_target(e, cb).unwrap_or(0))
                .collect();
            removed.extend(self.reftable.iter().copied().filter(|&c| c != 0));
            removed.extend(table_clusters(old_rt, cb));
            added.extend(new.iter().copied().filter(|&c| c != 0));
            added.extend(table_clusters(new_rt, cb));
            changed.extend(0..new.len());
            self.set_reftable(new);
        } else if overlaps((offset, end), table_range(old_rt)) {
            let first = offset.saturating_sub(old_rt.0) / 8;
            let last = ((end - old_rt.0).div_ceil(8)).min(old_rt.1);
            let new = read_entries(&self.file, data, offset, old_rt.0, first, last)?;
            for (i, n) in (first as usize..).zip(new) {
                let n = rt_target(n, cb).unwrap_or(0);
                let o = self.reftable[i];
                if o != n {
                    if o != 0 {
                        removed.push(o);
                        self.refblocks.remove(&o);
                    }
                    if n != 0 {
                        added.push(n);
                        self.refblocks.insert(n, i);
                    }
                    self.reftable[i] = n;
                    changed.push(i);
                }
            }
        }
        self.roots = new_roots;
        for &c in &added {
            self.add(c);
        }
        for &c in &removed {
            self.remove(c);
        }

        // The clusters whose refcount to make sure of: those now
        // referenced, those covered by a new refblock, and those covered
        // by a refblock this write rewrites.
        let per_rb = self.rb_entries();
        let mut check: BTreeSet<u64> = added.into_iter().collect();
        let covered = |i: usize, check: &mut BTreeSet<u64>| {
            let first = i as u64 * per_rb;
            check.extend(self.needed.range(first..first + per_rb).map(|(&c, _)| c));
        };
        for &i in &changed {
            if self.reftable[i] != 0 {
                covered(i, &mut check);
            }
        }
        let last_cluster = (end - 1) >> cb;
        for (_, &i) in self.refblocks.range(offset >> cb..=last_cluster) {
            covered(i, &mut check);
        }
        check.retain(|c| self.needed.contains_key(c));

        let bits = u64::from(self.refcount_bits);
        for c in check {
            let rb = self
                .reftable
                .get((c / per_rb) as usize)
                .copied()
                .filter(|&rb| rb != 0)
                .ok_or_else(|| {
                    io::Error::other(format!(
                        "qcow2: cluster {c} would be referenced without a refcount block"
                    ))
                })?;
            let bit = (c % per_rb) * bits;
            let at = (rb << cb) + bit / 8;
            let width = bits.div_ceil(8) as usize;
            let mut v = read_view(&self.file, data, offset, at, width)?;
            let (shift, mask) = if bits < 8 {
                let shift = (bit % 8) as u8;
                (shift, (((1u16 << bits) - 1) as u8) << shift)
            } else {
                (0, 0xff)
            };
            if v.iter().any(|&b| b & mask != 0) {
                continue;
            }
            // Refcount 1, big-endian (sub-byte widths: low bits first).
            *v.last_mut().unwrap() |= 1 << shift;
            if at >= offset && at + width as u64 <= end {
                let i = (at - offset) as usize;
                data[i..i + width].copy_from_slice(&v);
            } else {
                self.file.write_all_at(&v, at)?;
            }
        }
        Ok(())
    }
}
