//! Storage: the only code that touches image files. Path safety for SR
//! directories (`path`), the file-system steps of SR operations such as
//! the crash-safe snapshot renames (`files`), blocking access to raw and
//! qcow2 images and their backing chains through imago (`image`), what
//! xapid does with qcow2 itself below imago: header, metadata ordering
//! (`qcow2`), zero detection (`sparse`), off-by-default fault injection
//! for tests of I/O error policies (`fault`), and the crash-safe writes of
//! the TLS certificate and key (`secret_file`), and the change logs of
//! changed block tracking (`change_log`).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

pub mod change_log;
pub mod crash;
pub mod fault;
pub mod files;
pub mod image;
pub mod journal;
pub mod path;
pub mod qcow2;
pub mod secret_file;
pub mod sparse;
#[cfg(test)]
pub(crate) mod test_sr;

/// Reads into `buf` from `offset` until it is full or the file ends;
/// returns how many bytes were read (short only at the end of the file).
pub(crate) fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
