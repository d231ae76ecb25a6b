//! File safety: every path xapid touches is an SR directory plus a plain
//! file name that xapid chose or that a scan of that directory found.
//! Nothing a client sends can name a path outside an SR: names with a
//! slash, `..`, a NUL or a leading dot are refused, files are opened without
//! following symlinks, and a backing file named in an image header is
//! accepted only if it is a plain regular file of the same SR.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Longest file name accepted (the usual file-system limit).
const MAX_NAME: usize = 255;

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, too long, or with characters that could leave the directory.
    #[error("not a plain file name")]
    NotPlain,
}

/// Checks that `name` is a plain file name: no directory part, no `.`/`..`,
/// no hidden name (xapid keeps its own temporary files as dot-files), no
/// NUL or control characters.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f);
    if ok {
        Ok(())
    } else {
        Err(NameError::NotPlain)
    }
}

/// One SR's directory.
#[derive(Clone, Debug)]
pub struct SrDir {
    root: PathBuf,
}

impl SrDir {
    /// Creates the directory if needed and pins its canonical path.
    pub fn open(dir: &Path) -> io::Result<SrDir> {
        std::fs::create_dir_all(dir)?;
        Ok(SrDir {
            root: dir.canonicalize()?,
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a file of this SR.
    pub fn path(&self, name: &str) -> Result<PathBuf, NameError> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    /// Opens an existing regular file of this SR, never through a symlink.
    pub fn open_file(&self, name: &str, write: bool) -> io::Result<File> {
        let path = self
            .path(name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let f = OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        if !f.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(f)
    }

    /// Creates a new file of this SR (failing if the name exists).
    pub fn create_file(&self, name: &str) -> io::Result<File> {
        let path = self
            .path(name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    }

    /// fsyncs the directory itself, so that names created, renamed or
    /// removed in it survive a crash of the machine (a file's own fsync
    /// does not cover its directory entry).
    pub fn sync(&self) -> io::Result<()> {
        File::open(&self.root)?.sync_all()
    }

    /// Whether a backing file name from an image header may be followed:
    /// a plain name of a regular file (not a symlink) in this SR.
    pub fn backing_allowed(&self, name: &str) -> bool {
        self.path(name)
            .ok()
            .and_then(|p| std::fs::symlink_metadata(p).ok())
            .is_some_and(|m| m.file_type().is_file())
    }

    /// The plain regular files of the directory (what a scan considers).
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.root)? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = as_plain(&name) else {
                continue;
            };
            if e.file_type()?.is_file() {
                out.push(name.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}

fn as_plain(name: &OsStr) -> Option<&str> {
    let s = std::str::from_utf8(name.as_bytes()).ok()?;
    check_name(s).ok().map(|()| s)
}

#[cfg(test)]
mod tests;
