//! File-system steps on an SR's image files that are not image I/O: the
//! snapshot's link-and-rename protocol and its undo, removals, the sweep
//! of partial files, file-system sizes. Each step is ordered and fsynced so
//! that a crash between any two leaves a state [`snapshot_state`] can tell
//! apart, and no step ever removes the only name of a file's data.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use uuid::Uuid;

use super::image::{self, Format, Probe};
use super::path::SrDir;
use super::qcow2_header;

/// Suffix of files xapid is still writing: never introduced by a scan,
/// swept at start-up.
pub const PARTIAL: &str = ".xapid-partial";

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn sync_dir(dir: &SrDir) -> io::Result<()> {
    std::fs::File::open(dir.root())?.sync_all()
}

/// The size of the file system holding `dir` (0 if unknown).
pub fn fs_size(dir: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    (st.f_blocks as u64).saturating_mul(st.f_frsize as u64)
}

/// Removes an image file of the SR; a missing file is not an error. The
/// directory is fsynced after, so the removal survives a crash.
pub fn remove_image(dir: &SrDir, name: &str) -> io::Result<()> {
    let p = dir.path(name).map_err(other)?;
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    sync_dir(dir)
}

/// Removes every partial file of the SR (start-up); returns how many went.
pub fn sweep_partials(dir: &SrDir) -> io::Result<usize> {
    let mut n = 0;
    for name in dir.list()?.iter().filter(|n| n.ends_with(PARTIAL)) {
        let p = dir.path(name).map_err(other)?;
        match std::fs::remove_file(p) {
            Ok(()) => n += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if n > 0 {
        sync_dir(dir)?;
    }
    Ok(n)
}

/// Probes the file of a VDI whose format is known. A raw disk is never
/// looked at as anything else (a guest may have written a qcow2 header into
/// it): its size is the file's length. A qcow2 that no longer is one is an
/// error.
pub fn probe_known(dir: &SrDir, name: &str, format: Format) -> io::Result<Probe> {
    match format {
        Format::Raw => {
            let m = dir.open_file(name, false)?.metadata()?;
            Ok(Probe {
                format: Format::Raw,
                virtual_size: m.len(),
                physical_utilisation: m.blocks().saturating_mul(512),
                backing: None,
                backing_format: None,
            })
        }
        Format::Qcow2 => {
            let p = image::probe(dir, name)?;
            if p.format != Format::Qcow2 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file of a qcow2 VDI is no longer a qcow2 image",
                ));
            }
            Ok(p)
        }
    }
}

/// Takes a snapshot's files: (1) `snap` becomes a second name of `cur`'s
/// file, (2) the directory is synced, (3) a qcow2 overlay of `size` bytes
/// backed by `snap` is made under a partial name, (4) renamed over `cur`
/// in one step, (5) the directory is synced. On an error what was done is
/// undone. After a crash, [`snapshot_state`] tells how far it got.
pub fn take_snapshot(dir: &SrDir, cur: &str, snap: &str, size: u64) -> io::Result<()> {
    let cur_p = dir.path(cur).map_err(other)?;
    let snap_p = dir.path(snap).map_err(other)?;
    std::fs::hard_link(&cur_p, &snap_p)?;
    let undo_link = |e: io::Error| {
        // Only a second name goes: `cur` still has the data.
        let _ = std::fs::remove_file(&snap_p);
        e
    };
    sync_dir(dir).map_err(undo_link)?;
    let tmp = format!("{}{PARTIAL}", Uuid::new_v4());
    image::create(dir, &tmp, Format::Qcow2, size, Some(snap)).map_err(undo_link)?;
    let tmp_p = dir.path(&tmp).map_err(other)?;
    if let Err(e) = std::fs::rename(&tmp_p, &cur_p) {
        let _ = std::fs::remove_file(&tmp_p);
        return Err(undo_link(e));
    }
    sync_dir(dir)
}

/// How far a snapshot's files got (after a crash in [`take_snapshot`] or
/// [`undo_snapshot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotState {
    /// `snap` does not exist (the link was never made, or an undo renamed
    /// it back).
    Absent,
    /// `snap` and `cur` are one file: linked, not switched; `cur` still
    /// holds the data and the link can go.
    Linked,
    /// Different files, and `cur` is a qcow2 whose backing file is `snap`:
    /// the snapshot is complete.
    Switched,
    /// Anything else: nothing may be removed.
    Other,
}

/// Where a snapshot's files are.
pub fn snapshot_state(dir: &SrDir, cur: &str, snap: &str) -> io::Result<SnapshotState> {
    let snap_m = match std::fs::symlink_metadata(dir.path(snap).map_err(other)?) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SnapshotState::Absent),
        Err(e) => return Err(e),
    };
    let cur_m = match std::fs::symlink_metadata(dir.path(cur).map_err(other)?) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SnapshotState::Other),
        Err(e) => return Err(e),
    };
    if (cur_m.dev(), cur_m.ino()) == (snap_m.dev(), snap_m.ino()) {
        return Ok(SnapshotState::Linked);
    }
    let f = dir.open_file(cur, false)?;
    match qcow2_header::Header::read(&f) {
        Ok(h) if h.backing_file.as_deref() == Some(snap) => Ok(SnapshotState::Switched),
        _ => Ok(SnapshotState::Other),
    }
}

/// Removes `snap` only when it is a second name of `cur`'s file (it holds
/// no data of its own); otherwise does nothing and returns false.
pub fn drop_snapshot_link(dir: &SrDir, cur: &str, snap: &str) -> io::Result<bool> {
    if snapshot_state(dir, cur, snap)? != SnapshotState::Linked {
        return Ok(false);
    }
    std::fs::remove_file(dir.path(snap).map_err(other)?)?;
    sync_dir(dir)?;
    Ok(true)
}

/// Undoes a snapshot just taken: `snap`, which holds the data, takes
/// `cur`'s name again in one rename (the overlay goes with it).
pub fn undo_snapshot(dir: &SrDir, cur: &str, snap: &str) -> io::Result<()> {
    let from = dir.path(snap).map_err(other)?;
    let to = dir.path(cur).map_err(other)?;
    std::fs::rename(from, to)?;
    sync_dir(dir)
}
