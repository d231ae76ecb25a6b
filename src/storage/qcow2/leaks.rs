//! Leaked clusters: a qcow2 file whose writer was killed may hold clusters
//! with a refcount and no user (a data cluster allocated, its L2 entry not
//! yet written; QEMU's own images leak the same way). `qemu-img check`
//! reports them ("no harm to data") and `-r leaks` frees them; [`repair`]
//! does what `-r leaks` does, on a file no one has open for writing.
//!
//! Every user of a cluster is counted: the header (cluster 0), the L1
//! table, each L2 table and the data clusters their entries name, the
//! refcount table and blocks, and the bitmaps extension's directory,
//! tables and data. A refcount above its count of users is lowered to it,
//! and only that: one below it (a corrupt image) stops the repair with
//! nothing written. Files whose layout this does not follow through
//! (internal snapshots, compressed clusters, encryption, extended L2
//! entries, an external data file, a dirty or corrupt flag, a stale
//! bitmaps extension) are left as they are.
//!
//! Lowering the refcount of a cluster nobody uses is safe whenever the
//! process dies: the write is of refcount blocks only.

use std::collections::HashMap;
use std::fs::File;
use std::io;

use super::bitmaps;
use super::header::{
    be32, be64, Header, HDR_INCOMPATIBLE, HDR_L1_OFFSET, HDR_L1_SIZE, HDR_RT_CLUSTERS,
    HDR_RT_OFFSET,
};
use super::refcount::Refcounts;
use crate::storage::read_up_to;

/// `crypt_method` (u32).
const HDR_CRYPT: usize = 32;
/// `nb_snapshots` (u32).
const HDR_NB_SNAPSHOTS: usize = 60;
/// Offset bits of an L1 or L2 entry.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// An L2 entry's compressed flag.
const COMPRESSED: u64 = 1 << 62;
/// Largest L1 table followed (entries): 32 MiB of table.
const MAX_L1: u64 = 4 << 20;

/// What [`repair`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// Leaked references dropped (0: the file was clean).
    Freed(u64),
    /// Left alone: a layout this does not follow, a refcount below its
    /// users or a cluster used twice (corruption, for `qemu-img check -r
    /// all`); the reason.
    Skipped(&'static str),
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("qcow2 leaks: {msg}"))
}

/// Drops the references no user holds, as `qemu-img check -r leaks`.
/// The caller makes sure no one has the file open for writing.
pub fn repair(file: &File) -> io::Result<Repair> {
    let h = Header::read(file)?;
    let cluster = h.cluster_size() as u64;
    let bits = h.cluster_bits;
    let mut first = vec![0u8; cluster as usize];
    read_up_to(file, &mut first, 0)?;
    if be32(&first, HDR_CRYPT)? != 0 {
        return Ok(Repair::Skipped("encrypted"));
    }
    if be32(&first, HDR_NB_SNAPSHOTS)? != 0 {
        return Ok(Repair::Skipped("internal snapshots"));
    }
    if h.version >= 3 && be64(&first, HDR_INCOMPATIBLE)? & !(1 << 3) != 0 {
        // Dirty, corrupt, external data file, extended L2: not followed.
        return Ok(Repair::Skipped("incompatible features"));
    }
    let Some(bitmap_runs) = bitmaps::clusters_in_use(file)? else {
        return Ok(Repair::Skipped("stale bitmaps extension"));
    };
    // Tables past the file's end are not followed (a corrupt or hostile
    // header must not make this read terabytes of zeroes).
    let file_len = file.metadata()?.len();
    let mut users: HashMap<u64, u64> = HashMap::new();
    let use_run = |off: u64, n: u64, users: &mut HashMap<u64, u64>| {
        let c = off >> bits;
        for k in c..c + n {
            *users.entry(k).or_default() += 1;
        }
    };
    use_run(0, 1, &mut users);
    let l1_size = u64::from(be32(&first, HDR_L1_SIZE)?);
    let l1_offset = be64(&first, HDR_L1_OFFSET)?;
    if l1_size > MAX_L1 || (l1_size > 0 && !l1_offset.is_multiple_of(cluster)) {
        return Err(invalid("bad L1 table"));
    }
    if l1_offset.saturating_add(l1_size * 8) > file_len {
        return Ok(Repair::Skipped("L1 table past the end of the file"));
    }
    if l1_size > 0 {
        use_run(l1_offset, (l1_size * 8).div_ceil(cluster), &mut users);
    }
    // The L1 table a cluster at a time (it may be 32 MiB).
    let mut l1 = vec![0u8; cluster as usize];
    let mut l2 = vec![0u8; cluster as usize];
    let mut l2_seen = std::collections::HashSet::new();
    let mut at = 0u64;
    while at < l1_size * 8 {
        let n = (l1_size * 8 - at).min(cluster) as usize;
        if read_up_to(file, &mut l1[..n], l1_offset + at)? < n {
            return Err(invalid("L1 table past the end of the file"));
        }
        at += n as u64;
        for e in l1[..n].chunks_exact(8) {
            let off = u64::from_be_bytes(e.try_into().unwrap()) & OFFSET_MASK;
            if off == 0 {
                continue;
            }
            if !off.is_multiple_of(cluster) {
                return Err(invalid("misaligned L2 table"));
            }
            if off >= file_len {
                return Ok(Repair::Skipped("L2 table past the end of the file"));
            }
            use_run(off, 1, &mut users);
            // (An L2 table named twice is read once.)
            if !l2_seen.insert(off) {
                continue;
            }
            l2.fill(0);
            read_up_to(file, &mut l2, off)?;
            for e in l2.chunks_exact(8) {
                let v = u64::from_be_bytes(e.try_into().unwrap());
                if v & COMPRESSED != 0 {
                    return Ok(Repair::Skipped("compressed clusters"));
                }
                let data = v & OFFSET_MASK;
                if data != 0 {
                    use_run(data, 1, &mut users);
                }
            }
        }
    }
    for (off, n) in bitmap_runs {
        use_run(off, n, &mut users);
    }
    // Work bounded by the file, whatever its header says: a refcount table
    // past its end is not followed, and only clusters inside it are
    // counted (as `qemu-img check` does).
    let rt_end = be64(&first, HDR_RT_OFFSET)?
        .checked_add(u64::from(be32(&first, HDR_RT_CLUSTERS)?) * cluster);
    if rt_end.is_none_or(|end| end > file_len.next_multiple_of(cluster)) {
        return Ok(Repair::Skipped("refcount table past the end of the file"));
    }
    let file_clusters = file_len.div_ceil(cluster);
    let mut rc = Refcounts::load(file, &first, bits)?;
    let (described, own) = rc.layout();
    for c in own {
        *users.entry(c).or_default() += 1;
    }
    // Without internal snapshots every cluster has one user at most; two
    // (an L2 table named twice, a refcount block that is also a table or
    // data) is corruption, and writing a refcount block that is also
    // something else would change what the next look counts.
    if users.values().any(|&n| n > 1) {
        return Ok(Repair::Skipped("a cluster used twice"));
    }
    // First the whole comparison, then the changes: a corrupt image gets
    // nothing written.
    let mut excess = Vec::new();
    for range in described {
        for c in range.start.min(file_clusters)..range.end.min(file_clusters) {
            let have = rc.get(c)?;
            let want = users.get(&c).copied().unwrap_or(0);
            if have < want {
                return Ok(Repair::Skipped("a refcount below its users"));
            }
            if have > want {
                excess.push((c, have, want));
            }
        }
    }
    // Each count goes straight to its users' (one step per cluster, not
    // per extra reference: a corrupt count may be 2^64 - 1).
    let mut freed = 0u64;
    for (c, have, want) in excess {
        rc.lower_to(c, want)?;
        freed = freed.saturating_add(have - want);
    }
    rc.write()?;
    Ok(Repair::Freed(freed))
}

#[cfg(test)]
mod tests;
