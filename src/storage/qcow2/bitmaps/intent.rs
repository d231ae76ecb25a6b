//! What a store of bitmaps is about to do to an image's clusters, kept
//! durably in a small file beside the image until it is done, so that a
//! process killed between allocating the new set and freeing the old one
//! leaks nothing: [`settle`] frees whichever set the header does not name
//! (the old one if the new directory was committed, else the new one).
//!
//! ```text
//! xapid-bitmaps-intent 1
//! file <device> <inode>  (the image it is about: a name can be reused)
//! new_dir <offset>     (0: the new set is empty)
//! old_dir <offset>     (0: there was none)
//! new <offset> <clusters>   (one line per run)
//! old <offset> <clusters>
//! ```
//!
//! Only clusters whose refcount is still exactly 1 are freed: a run the
//! refcounts never reached (killed before they were written) or already
//! freed (killed after) is left as it is.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{invalid, Image};
use crate::storage::qcow2::refcount::Refcounts;

pub(super) const MAGIC: &str = "xapid-bitmaps-intent 1";

/// The clusters a store allocates and frees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Intent {
    /// The image's device and inode.
    pub file: (u64, u64),
    /// Offset of the new directory (0: none).
    pub new_dir: u64,
    /// Offset of the directory replaced (0: none).
    pub old_dir: u64,
    /// Runs allocated for the new set: (byte offset, clusters).
    pub new: Vec<(u64, u64)>,
    /// Runs of the old set, freed once the new one is in.
    pub old: Vec<(u64, u64)>,
}

impl Intent {
    pub(super) fn encode(&self) -> String {
        let mut s = format!(
            "{MAGIC}\nfile {} {}\nnew_dir {}\nold_dir {}\n",
            self.file.0, self.file.1, self.new_dir, self.old_dir
        );
        for (tag, runs) in [("new", &self.new), ("old", &self.old)] {
            for (o, n) in runs {
                s.push_str(&format!("{tag} {o} {n}\n"));
            }
        }
        s
    }

    pub(super) fn decode(text: &str) -> io::Result<Intent> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(invalid("not a bitmaps intent"));
        }
        let mut out = Intent::default();
        for line in lines {
            let f: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| -> io::Result<u64> {
                f.get(i)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| invalid("bad intent line"))
            };
            match f.first().copied() {
                Some("file") => out.file = (num(1)?, num(2)?),
                Some("new_dir") => out.new_dir = num(1)?,
                Some("old_dir") => out.old_dir = num(1)?,
                Some("new") => out.new.push((num(1)?, num(2)?)),
                Some("old") => out.old.push((num(1)?, num(2)?)),
                _ => return Err(invalid("bad intent line")),
            }
        }
        Ok(out)
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(d) => File::open(d)?.sync_all(),
        None => Ok(()),
    }
}

/// The device and inode of `file`.
pub(super) fn identity(file: &File) -> io::Result<(u64, u64)> {
    let m = file.metadata()?;
    Ok((m.dev(), m.ino()))
}

/// Writes `intent` at `path`, durably (a temporary name, fsync, rename,
/// fsync of the directory).
pub(super) fn write(path: &Path, intent: &Intent) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(intent.encode().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Removes the intent at `path` (done), durably.
pub(super) fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Finishes or undoes the store the intent at `path` describes, for the
/// image open as `file` (nobody else writing it), then removes the intent.
/// Returns whether there was one.
pub fn settle(file: &File, path: &Path) -> io::Result<bool> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    // A torn intent (killed while writing it) was never acted on: the
    // refcounts are written only after it is complete.
    let Ok(intent) = Intent::decode(&text) else {
        remove(path)?;
        return Ok(true);
    };
    if intent.file != identity(file)? {
        // About a file that is gone (its name now another's).
        remove(path)?;
        return Ok(true);
    }
    let img = Image::open(file)?;
    let current = img.directory()?.map_or(0, |(offset, _, _)| offset);
    let orphans = if current == intent.new_dir {
        &intent.old
    } else if current == intent.old_dir {
        &intent.new
    } else {
        // Changed since by someone else: nothing of ours to free.
        remove(path)?;
        return Ok(true);
    };
    let mut rc = Refcounts::load(file, &img.first, img.header.cluster_bits)?;
    let bits = img.header.cluster_bits;
    for &(offset, n) in orphans {
        for c in 0..n {
            let at = offset + (c << bits);
            if rc.get(at >> bits)? == 1 {
                rc.free(at, 1)?;
            }
        }
    }
    rc.write()?;
    remove(path)?;
    Ok(true)
}
