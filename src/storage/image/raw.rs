//! Raw files: allocation status by `SEEK_DATA`/`SEEK_HOLE`, and making a
//! range read as zeroes by punching a hole.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;

use super::{invalid_input, Alloc};

/// Zeroes for writing zeroes where a file system cannot punch holes.
pub(super) static ZEROES: [u8; 64 << 10] = [0; 64 << 10];

/// Allocation state of a raw file by `SEEK_DATA`/`SEEK_HOLE`, within
/// `[offset, offset + len)` (inside the file).
pub(super) fn raw_status(file: &File, offset: u64, len: u64) -> io::Result<(u64, Alloc)> {
    let fd = file.as_raw_fd();
    let off = libc::off_t::try_from(offset).map_err(|_| invalid_input("offset too large"))?;
    // SAFETY: lseek on a descriptor we own; no memory involved. The file
    // position it moves is never used (all I/O is positional).
    let data = unsafe { libc::lseek(fd, off, libc::SEEK_DATA) };
    if data < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            // No data from offset to the end.
            Some(libc::ENXIO) => Ok((len, Alloc::Zero)),
            // The file system cannot tell: all data.
            Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => Ok((len, Alloc::Data)),
            _ => Err(e),
        };
    }
    let data = data as u64;
    if data > offset {
        return Ok(((data - offset).min(len), Alloc::Zero));
    }
    // SAFETY: as above.
    let hole = unsafe { libc::lseek(fd, off, libc::SEEK_HOLE) };
    let run = if hole < 0 {
        len
    } else {
        (hole as u64).saturating_sub(offset).clamp(1, len)
    };
    Ok((run, Alloc::Data))
}

/// Punches a hole (keeping the size); where the file system cannot, writes
/// zeroes.
pub(super) fn raw_write_zeroes(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(off), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return Err(invalid_input("range too large"));
    };
    loop {
        // SAFETY: fallocate on a descriptor we own; no memory involved.
        let r = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off,
                n,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::EINVAL) => break,
            _ => return Err(e),
        }
    }
    let end = offset + len;
    let mut pos = offset;
    while pos < end {
        let k = (end - pos).min(ZEROES.len() as u64);
        file.write_all_at(&ZEROES[..k as usize], pos)?;
        pos += k;
    }
    Ok(())
}
