//! The file-system steps of SR operations: removing images, sweeping the
//! temporary files of operations a crash interrupted, the size of the file
//! system, and the crash-safe sequence of renames that takes (or undoes) a
//! snapshot. These live here, not in the API layer, so that only
//! `storage/` touches files, and so that the kill-the-writer tests can stop
//! a process between any two steps.
//!
//! Every name is a plain file name of one SR ([`SrDir::path`] refuses the
//! rest), and every step that creates, renames or removes a name fsyncs the
//! directory afterwards, so that what a caller records after a successful
//! return (in the registry) is never ahead of what a power cut would leave.
//!
//! The callers hold the SR's lock: nothing here guards against another
//! thread of xapid renaming the same files meanwhile.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::image::{self, Format};
use super::path::SrDir;
use super::qcow2::header::{self, Header};
use super::read_up_to;

#[cfg(test)]
mod tests;

/// Suffix of files xapid is still writing: never introduced by a scan,
/// swept at start-up.
pub const PARTIAL: &str = ".xapid-partial";

/// The size of the file system holding `dir` (0 if unknown): what an SR
/// reports as its `physical_size`.
pub fn fs_size(dir: &Path) -> u64 {
    fs_space(dir).map_or(0, |(size, _)| size)
}

/// The size of the file system holding `dir` and the bytes free in it for
/// an unprivileged writer (`None` if unknown).
pub fn fs_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` is plain old data, for which all zeroes is valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((
        (st.f_blocks as u64).saturating_mul(frsize),
        (st.f_bavail as u64).saturating_mul(frsize),
    ))
}

/// The path of `name` in `dir`, a refused name being `InvalidInput`.
fn path_of(dir: &SrDir, name: &str) -> io::Result<PathBuf> {
    dir.path(name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{name:?}: {e}")))
}

/// Removes `path`; a file already gone is what the caller wanted anyway
/// (a retry after a crash, or a file a user deleted by hand).
fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes an image file of the SR; a missing file is not an error; the
/// directory is fsynced after (so that a VDI forgotten by the registry does
/// not reappear at the next scan after a power cut).
pub fn remove_image(dir: &SrDir, name: &str) -> io::Result<()> {
    remove_if_present(&path_of(dir, name)?)?;
    // What a killed store of its bitmaps left, if anything (the intent,
    // or the temporary file it is written to).
    let intent = crate::storage::image::intent_path(dir, name)?;
    remove_if_present(&intent)?;
    let mut tmp = intent.into_os_string();
    tmp.push(".tmp");
    remove_if_present(std::path::Path::new(&tmp))?;
    dir.sync()
}

/// Removes every `*PARTIAL` file of the SR (start-up); returns how many
/// went. Such a file is the overlay of a snapshot whose process died
/// before renaming it into place: nothing refers to it. Also removes the
/// temporary files of bitmap-store intents (`.<name>.bitmaps.tmp`) a kill
/// left before their rename: such an intent was never acted on.
pub fn sweep_partials(dir: &SrDir) -> io::Result<usize> {
    let mut n = 0;
    for name in dir.list()?.iter().filter(|n| n.ends_with(PARTIAL)) {
        remove_if_present(&path_of(dir, name)?)?;
        n += 1;
    }
    for e in std::fs::read_dir(dir.root())? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".bitmaps.tmp") {
            remove_if_present(&dir.root().join(&*name))?;
            n += 1;
        }
    }
    if n > 0 {
        dir.sync()?;
    }
    Ok(n)
}

/// Called after each step of [`take_snapshot`] and [`undo_snapshot`] with
/// the step's name; the crash tests stop the process there. Nothing in
/// production code sets it.
#[cfg(test)]
pub(crate) static STEP_OBSERVER: std::sync::Mutex<Option<fn(&'static str)>> =
    std::sync::Mutex::new(None);

/// Tells the test observer, if any, that `step` is done.
fn after_step(_step: &'static str) {
    #[cfg(test)]
    {
        let f = *STEP_OBSERVER.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = f {
            f(_step);
        }
    }
}

/// Takes a snapshot's files: (1) hard link `cur` -> `snap` (a second name
/// for the current file), (2) fsync dir, (3) create a qcow2 overlay of
/// `size` bytes under a fresh `<uuid>PARTIAL` name with `snap` as its
/// backing file, (4) rename it over `cur`, (5) fsync dir.
/// On an error it undoes what it did (removes the link and the overlay)
/// and returns the error.
///
/// Why this order: until (4), `cur` is the untouched file and `snap` only a
/// second name for it ([`SnapshotState::Linked`]), so a crash loses
/// nothing and recovery just drops the name; (4) is one atomic rename, so
/// after it `cur` is an overlay whose backing holds every byte
/// ([`SnapshotState::Switched`]). There is no moment when the data is
/// reachable under neither name. The link is fsynced before the overlay
/// names it, so that a power cut cannot keep the overlay's rename but lose
/// the name its backing pointer needs.
pub fn take_snapshot(
    dir: &SrDir,
    cur: &str,
    snap: &str,
    size: u64,
    format: Format,
) -> io::Result<()> {
    let cur_path = path_of(dir, cur)?;
    let snap_path = path_of(dir, snap)?;
    if cur == snap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{cur:?} cannot be its own snapshot"),
        ));
    }
    // An existing `snap` is an error here and, since the link was not
    // made, is left alone by the undo below.
    std::fs::hard_link(&cur_path, &snap_path)?;
    after_step("take:linked");
    // From here on, an error removes the link: `cur` is still the data.
    let unlink = |e: io::Error| {
        let _ = std::fs::remove_file(&snap_path);
        let _ = dir.sync();
        e
    };
    dir.sync().map_err(unlink)?;
    after_step("take:synced");
    let tmp = format!("{}{PARTIAL}", Uuid::new_v4());
    let tmp_path = path_of(dir, &tmp).map_err(unlink)?;
    // `create` removes its file itself when it fails, and fsyncs the file
    // and the directory when it succeeds.
    // The overlay records `cur`'s known format for its backing file, never
    // a guess from the data (a raw disk may hold anything).
    image::create_overlay(dir, &tmp, size, snap, format).map_err(unlink)?;
    after_step("take:overlay");
    if let Err(e) = std::fs::rename(&tmp_path, &cur_path) {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(unlink(e));
    }
    after_step("take:renamed");
    if let Err(e) = dir.sync() {
        // The overlay is `cur` now: renaming `snap` back over it removes
        // both the overlay and the second name in one step.
        let _ = std::fs::rename(&snap_path, &cur_path);
        let _ = dir.sync();
        return Err(e);
    }
    after_step("take:done");
    Ok(())
}

/// Where a snapshot's files are, after a crash at any point of
/// [`take_snapshot`] / [`undo_snapshot`]:
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotState {
    /// `snap` does not exist (the link was never made, or an undo renamed
    /// it back).
    Absent,
    /// `snap` and `cur` are the same inode: linked, not switched; `cur`
    /// still holds the data and the link can go.
    Linked,
    /// different inodes, and `cur` is a qcow2 whose backing file is
    /// `snap`: the snapshot is complete.
    Switched,
    /// anything else (never delete anything in this state).
    Other,
}

/// The metadata of `path` itself (never through a symlink); `None` if it
/// does not exist.
fn stat(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Tells where a snapshot's files are (see [`SnapshotState`]). Only the
/// names and `cur`'s qcow2 header are looked at: the backing name is read
/// by our own header parser, nothing it names is opened.
pub fn snapshot_state(dir: &SrDir, cur: &str, snap: &str) -> io::Result<SnapshotState> {
    let Some(s) = stat(&path_of(dir, snap)?)? else {
        return Ok(SnapshotState::Absent);
    };
    let Some(c) = stat(&path_of(dir, cur)?)? else {
        return Ok(SnapshotState::Other);
    };
    if !s.file_type().is_file() || !c.file_type().is_file() {
        return Ok(SnapshotState::Other);
    }
    if same_inode(&s, &c) {
        return Ok(SnapshotState::Linked);
    }
    let file = dir.open_file(cur, false)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&file, &mut magic, 0)?;
    if !header::is_qcow2(&magic[..n]) {
        return Ok(SnapshotState::Other);
    }
    // A header too damaged to parse is not a complete snapshot.
    Ok(match Header::read(&file) {
        Ok(h) if h.backing_file.as_deref() == Some(snap) => SnapshotState::Switched,
        _ => SnapshotState::Other,
    })
}

/// Removes `snap` only if it is the same inode as `cur` (a link that holds
/// no data of its own); else does nothing and says so (`Ok(false)`). This
/// is how a restart drops a snapshot found [`SnapshotState::Linked`]: the
/// inode check makes it impossible to delete a file holding data.
pub fn drop_snapshot_link(dir: &SrDir, cur: &str, snap: &str) -> io::Result<bool> {
    let snap_path = path_of(dir, snap)?;
    let (Some(s), Some(c)) = (stat(&snap_path)?, stat(&path_of(dir, cur)?)?) else {
        return Ok(false);
    };
    if cur == snap || !s.file_type().is_file() || !same_inode(&s, &c) {
        return Ok(false);
    }
    std::fs::remove_file(&snap_path)?;
    dir.sync()?;
    Ok(true)
}

/// Undoes a snapshot just taken: renames `snap` over `cur` (one atomic
/// rename), fsyncs the directory. The overlay, which no one has written
/// yet, goes; the file holding the data takes the VDI's name again. A
/// crash leaves either the complete snapshot or the undone one.
pub fn undo_snapshot(dir: &SrDir, cur: &str, snap: &str) -> io::Result<()> {
    let (cur_path, snap_path) = (path_of(dir, cur)?, path_of(dir, snap)?);
    std::fs::rename(snap_path, cur_path)?;
    after_step("undo:renamed");
    dir.sync()?;
    after_step("undo:done");
    Ok(())
}

/// The images of the SR whose qcow2 header names `name` as backing file
/// (its children), whatever the registry says: what decides whether
/// deleting `name` would break another image. Unreadable files count as
/// no child; only headers are read.
pub fn children(dir: &SrDir, name: &str) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for n in dir.list()? {
        if n == name || n.ends_with(PARTIAL) {
            continue;
        }
        let Ok(file) = dir.open_file(&n, false) else {
            continue;
        };
        let mut magic = [0u8; 4];
        let k = read_up_to(&file, &mut magic, 0)?;
        if !header::is_qcow2(&magic[..k]) {
            continue;
        }
        if let Ok(h) = Header::read(&file) {
            if h.backing_file.as_deref() == Some(name) {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// `name` and every image built on it, directly or not (its children,
/// theirs, ...), in that order.
pub fn above(dir: &SrDir, name: &str) -> io::Result<Vec<String>> {
    let mut out = vec![name.to_string()];
    let mut i = 0;
    while i < out.len() && out.len() <= image::MAX_CHAIN {
        for c in children(dir, &out[i])? {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        i += 1;
    }
    Ok(out)
}
