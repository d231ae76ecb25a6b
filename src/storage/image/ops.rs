//! Operations on whole image files, never open elsewhere meanwhile:
//! creating, growing, and re-pointing a qcow2's backing file.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use imago::file::File as ImagoFile;
use imago::format::PreallocateMode;
use imago::qcow2::Qcow2;
use imago::{
    DenyImplicitOpenGate, FormatAccess, FormatCreateBuilder, FormatDriverBuilder,
    StorageOpenOptions,
};

use super::exec::block_on;
use super::format::probe_file;
use super::{
    context, invalid_input, probe, Alloc, Format, Image, OpenOptions, MAX_CHAIN, MAX_SIZE,
    QCOW2_CLUSTER_SIZE,
};
use crate::storage::path::SrDir;
use crate::storage::qcow2::guarded_file::GuardedFile;
use crate::storage::qcow2::header::{self, Header};
use crate::storage::read_up_to;

/// Checks a virtual size for a new or grown image: at most [`MAX_SIZE`];
/// for qcow2, a multiple of 512 too (a raw file is byte-sized: files
/// placed in an SR by hand may have any length).
fn check_size(size: u64, format: Format) -> io::Result<()> {
    if format == Format::Qcow2 && !size.is_multiple_of(512) {
        return Err(invalid_input(format!(
            "size {size} is not a multiple of 512"
        )));
    }
    if size > MAX_SIZE {
        return Err(invalid_input(format!(
            "size {size} is larger than the maximum ({MAX_SIZE})"
        )));
    }
    Ok(())
}

/// Removes a file being created unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Checks a backing name given by a caller (not from a header).
fn check_backing_arg(sr: &SrDir, name: &str, backing: &str) -> io::Result<()> {
    if backing == name {
        return Err(invalid_input(format!("{name} cannot back itself")));
    }
    if !sr.backing_allowed(backing) {
        return Err(invalid_input(format!(
            "backing file {backing:?} is not a plain regular file of this SR"
        )));
    }
    Ok(())
}

/// Creates a new image file; an existing name is `AlreadyExists`, never
/// overwritten. Raw: a sparse file of `size` bytes. qcow2: version 3,
/// 64 KiB clusters, optionally backed by `backing` (a plain name of the
/// same SR, whose probed format the header records). `size` must be at
/// most [`MAX_SIZE`] and, for qcow2, a multiple of 512, else
/// `InvalidInput` (a raw file may have any length). On any failure the new
/// file is removed.
pub fn create(
    sr: &SrDir,
    name: &str,
    format: Format,
    size: u64,
    backing: Option<&str>,
) -> io::Result<()> {
    let backing = match backing {
        None => None,
        Some(_) if format == Format::Raw => {
            return Err(invalid_input("raw images have no backing file"))
        }
        Some(b) => {
            check_backing_arg(sr, name, b)?;
            Some((b.to_owned(), probe(sr, b)?.format))
        }
    };
    create_image(sr, name, format, size, backing)
}

/// Creates a qcow2 overlay of `size` bytes over `backing`, recording
/// `backing_format` as the backing file's format without looking at its
/// content: the overlay of a raw VDI must say raw even when a guest wrote
/// a qcow2 header into that disk (probing it would make the guest's data
/// a qcow2 that can name other files of the SR).
pub fn create_overlay(
    sr: &SrDir,
    name: &str,
    size: u64,
    backing: &str,
    backing_format: Format,
) -> io::Result<()> {
    check_backing_arg(sr, name, backing)?;
    create_image(
        sr,
        name,
        Format::Qcow2,
        size,
        Some((backing.to_owned(), backing_format)),
    )
}

fn create_image(
    sr: &SrDir,
    name: &str,
    format: Format,
    size: u64,
    backing: Option<(String, Format)>,
) -> io::Result<()> {
    check_size(size, format)?;
    let path = sr
        .path(name)
        .map_err(|e| invalid_input(format!("{name:?}: {e}")))?;
    let file = sr.create_file(name)?;
    let mut guard = RemoveOnDrop(Some(path.clone()));
    match format {
        Format::Raw => file.set_len(size)?,
        Format::Qcow2 => {
            let storage = ImagoFile::from_open_file(
                file.try_clone()?,
                StorageOpenOptions::new().filename(&path).write(true),
            )?;
            let mut builder = Qcow2::<ImagoFile>::create_builder(storage)
                .size(size)
                .cluster_size(QCOW2_CLUSTER_SIZE);
            if let Some((b, f)) = backing {
                builder = builder.backing(b, f.name().to_owned());
            }
            block_on(builder.create())?;
        }
    }
    file.sync_all()?;
    sr.sync()?;
    guard.0 = None;
    Ok(())
}

/// Grows an image's virtual size (raw: the file's length; qcow2: the
/// header's size). Shrinking is `InvalidInput`; `new_size` follows the
/// rules of [`create`]. As QEMU does, when a qcow2's backing file is
/// longer than the old size, the newly visible range is made to read as
/// zeroes rather than as the backing file. The image must not be open
/// elsewhere meanwhile.
pub fn resize(sr: &SrDir, name: &str, new_size: u64) -> io::Result<()> {
    let file = sr.open_file(name, true)?;
    let p = probe_file(sr, name, &file, false)?;
    check_size(new_size, p.format)?;
    let old = p.virtual_size;
    if new_size < old {
        return Err(invalid_input(format!(
            "{name}: shrinking from {old} to {new_size} bytes is not supported"
        )));
    }
    if new_size == old {
        return Ok(());
    }
    match p.format {
        Format::Raw => {
            file.set_len(new_size)?;
            file.sync_all()
        }
        Format::Qcow2 => {
            let backing_len = match &p.backing {
                None => 0,
                Some(b) => {
                    let bf = sr.open_file(b, false)?;
                    probe_file(sr, b, &bf, p.backing_format == Some(Format::Raw))?.virtual_size
                }
            };
            // A raw backing file may end anywhere; past its end it reads
            // as zeroes anyway, so zeroing whole sectors is the same.
            let zero_end = new_size.min(backing_len.next_multiple_of(512));
            if zero_end > old {
                return grow_over_backing(sr, name, old, zero_end, new_size);
            }
            // Counted as a writer (its stored bitmaps out first) until
            // imago is done with it.
            let _writer = super::writers::enter(sr, name, &file, Format::Qcow2)?;
            let storage = GuardedFile::new(&file, &sr.root().join(name), true, true)
                .map_err(|e| context(e, name))?;
            let q = block_on(
                Qcow2::<GuardedFile>::builder(storage)
                    .write(true)
                    .backing(None)
                    .open(DenyImplicitOpenGate::default()),
            )
            .map_err(|e| context(e, name))?;
            let access = FormatAccess::new(q);
            let r = block_on(async {
                access.resize_grow(new_size, PreallocateMode::None).await?;
                access.flush().await?;
                access.sync().await
            });
            if r.is_err() {
                let _ = block_on(access.flush());
            }
            r
        }
    }
}

/// Grows a qcow2 whose backing file is longer than `old`: `[old, zero_end)`
/// is made to read as zeroes (zero clusters) before the size covers it.
fn grow_over_backing(
    sr: &SrDir,
    name: &str,
    old: u64,
    zero_end: u64,
    new_size: u64,
) -> io::Result<()> {
    let img = Image::open_format(
        sr,
        name,
        Format::Qcow2,
        &OpenOptions {
            write: true,
            ..Default::default()
        },
    )?;
    let top = &img.layers[0];
    // imago does not copy the backing's data into the part of the last,
    // partial cluster below `old` when it preallocates that cluster, so
    // copy it up first.
    let cluster = Header::read(&top.file)?.cluster_size() as u64;
    let head = old - old % cluster;
    if head < old && img.status(0, head, old - head)?.1 == Alloc::Unallocated {
        let mut buf = vec![0u8; (old - head) as usize];
        img.read_at(0, &mut buf, head)?;
        img.write_at(&buf, head)?;
    }
    top.dirty.store(true, Ordering::Release);
    block_on(async {
        top.access
            .resize_grow(zero_end, PreallocateMode::Zero)
            .await?;
        top.access
            .resize_grow(new_size, PreallocateMode::None)
            .await
    })?;
    img.flush()
}

/// Points qcow2 image `name` at another backing file (a plain name of the
/// same SR, whose format is probed and recorded), or at none, changing
/// only the header (`qemu-img rebase -u`). A pointer that would make a
/// loop is `InvalidInput`. The image must not be open elsewhere meanwhile.
pub fn set_backing(sr: &SrDir, name: &str, backing: Option<&str>) -> io::Result<()> {
    let file = sr.open_file(name, true)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&file, &mut magic, 0)?;
    if !header::is_qcow2(&magic[..n]) {
        return Err(invalid_input(format!("{name} is not a qcow2 image")));
    }
    let new = match backing {
        None => None,
        Some(b) => {
            check_backing_arg(sr, name, b)?;
            let mut format = None;
            let mut cur = b.to_owned();
            let mut hint = None;
            let mut depth = 1;
            loop {
                let f = sr.open_file(&cur, false)?;
                let p = probe_file(sr, &cur, &f, hint == Some(Format::Raw))?;
                format.get_or_insert(p.format);
                match p.backing {
                    None => break,
                    Some(next) if next == name => {
                        return Err(invalid_input(format!(
                            "backing {name} with {b} would make a loop"
                        )))
                    }
                    Some(next) => {
                        depth += 1;
                        if depth >= MAX_CHAIN {
                            return Err(invalid_input(format!(
                                "the backing chain of {b} is too long"
                            )));
                        }
                        cur = next;
                        hint = p.backing_format;
                    }
                }
            }
            Some((b, format.unwrap_or(Format::Raw)))
        }
    };
    Header::set_backing(&file, new.map(|(b, f)| (b, f.name())))?;
    Ok(())
}
