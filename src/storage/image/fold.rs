//! Folding a backing file into the image above it: the step of the
//! background coalesce that removes the file of a destroyed snapshot.
//! The data of the child never changes: what the backing file alone holds
//! is copied into the child where the child has nothing of its own, then
//! the child points at the backing file's own backing (or at none). A
//! crash before the header rewrite leaves the child reading through the
//! old chain (with some clusters now its own, holding the same bytes); the
//! rewrite is one header write.

use std::io;

use super::ops::set_backing;
use super::{invalid_input, Alloc, Image, OpenOptions};
use crate::storage::path::SrDir;

/// Largest piece copied at once.
const PIECE: u64 = 4 << 20;

/// Folds `parent` (the backing file of `child`) into `child`, then makes
/// `parent`'s backing file (or none) `child`'s. `parent` itself is left
/// as it was (the caller deletes it when nothing else names it).
pub fn fold_into(dir: &SrDir, child: &str, parent: &str) -> io::Result<()> {
    let opts = OpenOptions {
        write: true,
        write_layers: Vec::new(),
    };
    let img = Image::open(dir, child, &opts)?;
    let layers = img.layers();
    if layers.get(1).map(String::as_str) != Some(parent) {
        return Err(invalid_input(format!(
            "{parent} is not the backing file of {child}"
        )));
    }
    let grandparent = layers.get(2).cloned();
    let size = img.size();
    let mut buf = Vec::new();
    let mut off = 0u64;
    while off < size {
        let (n, top) = img.status(0, off, (size - off).min(PIECE))?;
        if top != Alloc::Unallocated {
            off += n;
            continue;
        }
        let (m, below) = img.chain_status(1, 2, off, n)?;
        match below {
            Alloc::Data => {
                buf.resize(m as usize, 0);
                img.read_at(1, &mut buf, off)?;
                img.write_at(&buf, off)?;
            }
            // Zero in the parent over a grandparent: it must stay zero.
            Alloc::Zero if grandparent.is_some() => img.write_zeroes(off, m)?,
            Alloc::Zero | Alloc::Unallocated => {}
        }
        off += m;
    }
    img.flush()?;
    drop(img);
    set_backing(dir, child, grandparent.as_deref())
}
