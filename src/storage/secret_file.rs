//! Small files that must never be seen half written, some of them secret:
//! the TLS server certificate and its private key. A file is written whole
//! under a temporary name, fsynced, renamed over its name, and the
//! directory fsynced; so after a `kill -9` or power cut between any two
//! steps the name holds either the old file or the new one, never a part.
//! The temporary files a crash leaves (dot-names ending in `.tmp`) are
//! swept when the pair is next read.
//!
//! A certificate and its key are two files, written key first: a crash
//! between the two renames leaves a new key beside the old certificate,
//! which do not match; whoever reads the pair then checks it and makes a
//! new one (`domain::tls`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::crash;

/// The certificate's file name (PEM: the leaf, then the chain).
pub const CERT: &str = "server.pem";
/// The private key's file name (PEM, mode 0600).
pub const KEY: &str = "server.key";
/// The largest file read back (a certificate chain is a few KiB).
pub const MAX_BYTES: u64 = 1 << 20;

/// Mode of the private key and of its directory's temporaries.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of the certificate (public).
pub const PUBLIC_MODE: u32 = 0o644;

fn temporary(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    Ok(path.with_file_name(format!(".{name}.tmp")))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes `dir` (and its parents) if missing; a directory made here gets
/// mode 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    if let Some(p) = dir.parent() {
        if !p.as_os_str().is_empty() {
            sync_dir(p)?;
        }
    }
    Ok(())
}

/// Replaces `path` with `data` crash-safely (temporary, fsync, rename,
/// fsync of the directory); the file has `mode` from its first byte on.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temporary(path)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    // A temporary left by a crash may have had another mode.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    sync_dir(parent(path))
}

/// Removes a file (and syncs its directory); `false` if it was not there.
pub fn remove(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            sync_dir(parent(path))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads a small file: `None` if it does not exist; an error if it is
/// larger than [`MAX_BYTES`] or cannot be read.
pub fn read_small(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut data = Vec::new();
    f.take(MAX_BYTES + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_BYTES} bytes"),
        ));
    }
    Ok(Some(data))
}

/// A certificate and its key, as read from their files.
pub struct PairFiles {
    /// The certificate file's content.
    pub cert: Vec<u8>,
    /// The key file's content.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for PairFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairFiles { .. }")
    }
}

/// Reads [`CERT`] and [`KEY`] in `dir` (after sweeping temporaries a crash
/// left): `None` if either is missing.
pub fn read_pair(dir: &Path) -> io::Result<Option<PairFiles>> {
    for name in [CERT, KEY] {
        let tmp = temporary(&dir.join(name))?;
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let cert = read_small(&dir.join(CERT))?;
    let key = read_small(&dir.join(KEY))?;
    Ok(match (cert, key) {
        (Some(cert), Some(key)) => Some(PairFiles { cert, key }),
        _ => None,
    })
}

/// Writes a certificate and its key into `dir` ([`CERT`], [`KEY`] with
/// mode 0600), each crash-safely, the key first.
pub fn write_pair(dir: &Path, cert: &[u8], key: &[u8]) -> io::Result<()> {
    private_dir(dir)?;
    write_atomic(&dir.join(KEY), key, SECRET_MODE)?;
    crash::point("tls.key");
    write_atomic(&dir.join(CERT), cert, PUBLIC_MODE)?;
    crash::point("tls.cert");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("xapid-secret-{}", uuid::Uuid::new_v4()));
        d
    }

    #[test]
    fn a_pair_is_written_with_modes_and_read_back() {
        let d = dir().join("tls");
        assert!(read_pair(&d).unwrap().is_none());
        write_pair(&d, b"CERT", b"KEY").unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(d.join(KEY)).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(d.join(CERT)).unwrap().mode() & 0o777, 0o644);
        let p = read_pair(&d).unwrap().unwrap();
        assert_eq!(
            (p.cert.as_slice(), p.key.as_slice()),
            (&b"CERT"[..], &b"KEY"[..])
        );
        write_pair(&d, b"CERT2", b"KEY2").unwrap();
        let p = read_pair(&d).unwrap().unwrap();
        assert_eq!(
            (p.cert.as_slice(), p.key.as_slice()),
            (&b"CERT2"[..], &b"KEY2"[..])
        );
        assert!(!format!("{p:?}").contains("KEY2"));
        fs::remove_dir_all(d.parent().unwrap()).unwrap();
    }

    #[test]
    fn temporaries_are_swept_and_a_lone_file_is_no_pair() {
        let d = dir();
        private_dir(&d).unwrap();
        fs::write(d.join(".server.key.tmp"), b"half").unwrap();
        fs::write(d.join(CERT), b"CERT").unwrap();
        assert!(read_pair(&d).unwrap().is_none());
        assert!(!d.join(".server.key.tmp").exists());
        // A temporary with a wider mode is narrowed when reused.
        fs::write(d.join(".server.key.tmp"), b"x").unwrap();
        fs::set_permissions(d.join(".server.key.tmp"), fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&d.join(KEY), b"KEY", SECRET_MODE).unwrap();
        assert_eq!(fs::metadata(d.join(KEY)).unwrap().mode() & 0o777, 0o600);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn big_files_and_symlinks_are_refused() {
        let d = dir();
        private_dir(&d).unwrap();
        fs::write(d.join("big"), vec![b'x'; MAX_BYTES as usize + 1]).unwrap();
        assert!(read_small(&d.join("big")).is_err());
        std::os::unix::fs::symlink(d.join("big"), d.join(KEY)).unwrap();
        assert!(read_small(&d.join(KEY)).is_err());
        fs::remove_dir_all(&d).unwrap();
    }
}
