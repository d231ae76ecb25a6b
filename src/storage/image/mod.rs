//! Blocking access to raw and qcow2 images, with their qcow2 backing
//! chains, inside one SR directory. Job worker threads use it (never the
//! async RPC runtime: every call blocks on file I/O).
//!
//! Safety rules, on top of those of [`path`](super::path):
//!
//! - a file's format is told by its content (qcow2 magic, else raw), except
//!   for a backing file whose format its overlay's header records (then
//!   that format is used, as QEMU does, so a raw disk whose guest wrote a
//!   qcow2 header stays raw);
//! - a backing file name is followed only if
//!   [`SrDir::backing_allowed`] accepts it (a plain regular file of the
//!   same SR); anything else (an absolute path, `..`, a symlink) is an
//!   error of kind `InvalidData`, and nothing outside the SR is opened;
//! - chains are at most [`MAX_CHAIN`] deep and may not loop;
//! - corrupt qcow2 metadata is never served as data: a table or data
//!   cluster placed past the end of its file is an `InvalidData` error of
//!   the read or status call (`GuardedFile::check_in_file`), where the file
//!   system would have read zeroes;
//! - imago never opens anything by itself (its implicit opening of backing
//!   and data files is denied): each layer is opened here, bottom-up, with
//!   `O_NOFOLLOW`, and handed to the overlay above as its backing.
//!
//! Raw layers are read and written with `pread`/`pwrite` directly; qcow2
//! layers through imago, whose async functions are driven by a small
//! private executor (`exec::block_on`): imago only needs `tokio::sync`, not a
//! runtime, so this works on any thread, inside a tokio runtime or not.
//! Writable qcow2 layers are written through `GuardedFile`, which orders
//! imago's metadata writes as QEMU does (a cluster's refcount reaches the
//! file before any pointer to it), so that a process killed at any moment
//! leaves an image `qemu-img check` finds consistent (leaks aside).
//!
//! The files of this module: `format` tells formats apart (`probe`),
//! `ops` creates, grows and re-points image files, `exec` is the executor,
//! `raw` holds raw files' allocation status and zero-writing; the qcow2
//! metadata ordering and `GuardedFile` are in [`qcow2`](super::qcow2).

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use imago::qcow2::Qcow2;
use imago::raw::Raw;
use imago::{DenyImplicitOpenGate, FormatAccess, FormatDriverBuilder, ShallowMapping};

use super::fault::{self, Op};
use super::path::SrDir;
use super::qcow2::guarded_file::GuardedFile;
use super::read_up_to;

mod exec;
mod fold;
mod format;
mod ops;
mod raw;
#[cfg(test)]
mod tests;
mod writers;

use exec::block_on;
pub use fold::fold_into;
use format::probe_file;
pub use format::{cluster_size, probe, probe_known, qcow2_bitmaps, Format, FoundBitmap, Probe};
pub use ops::{create, create_overlay, resize, set_backing};
use raw::{raw_status, raw_write_zeroes, ZEROES};
pub use writers::{
    intent_path, repair_leaks, store_bitmaps, writer_open, PersistentBitmap, Stored,
};

/// Largest virtual size accepted for new or grown images: 1 PiB.
pub const MAX_SIZE: u64 = 1 << 50;
/// Deepest backing chain followed (top layer included).
pub const MAX_CHAIN: usize = 64;
/// Cluster size of new qcow2 images.
pub const QCOW2_CLUSTER_SIZE: usize = 64 << 10;

fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn invalid_input(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// Adds `what` to an error's message, keeping its kind.
fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The allocation state of a range in one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alloc {
    /// This layer holds data for the range.
    Data,
    /// This layer says the range reads as zeroes (raw hole, qcow2 zero
    /// cluster or unallocated cluster without backing, past the layer's
    /// end).
    Zero,
    /// This layer does not have the range: reads fall through to its
    /// backing layer (qcow2 with a backing file only).
    Unallocated,
}

/// How to open an [`Image`].
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Open the top layer writable.
    pub write: bool,
    /// Names of lower layers to open writable too (to commit into a base).
    pub write_layers: Vec<String>,
}

type Access = FormatAccess<GuardedFile>;

/// One file of a chain.
struct Layer {
    name: String,
    path: PathBuf,
    format: Format,
    writable: bool,
    /// Virtual size.
    size: u64,
    /// The file, for raw I/O, `SEEK_DATA` and fsync.
    file: File,
    /// imago's view (also what the layer above reads through).
    access: Arc<Access>,
    /// Written since the last flush.
    dirty: AtomicBool,
    /// Counted as a writer of its file while open writable (last: it goes
    /// after imago's view).
    _writer: Option<writers::Writer>,
}

/// An open image and its whole backing chain (`layers()[0]` is the top).
/// All methods block and take `&self`; it can be shared (in an `Arc`)
/// between threads, e.g. a job thread and an HTTP import thread.
/// Call [`Image::flush`] before dropping an image that was written (drop
/// flushes too, but cannot report errors).
pub struct Image {
    layers: Vec<Layer>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("layers", &self.layers())
            .field("format", &self.format())
            .field("size", &self.size())
            .finish()
    }
}

/// A layer found while walking the chain, before opening it in imago.
struct Found {
    name: String,
    file: File,
    format: Format,
    writable: bool,
    writer: Option<writers::Writer>,
}

impl Image {
    /// Opens `name` (its format told by content) and, for qcow2, its
    /// backing chain. Every backing name must pass
    /// [`SrDir::backing_allowed`], files are opened with `O_NOFOLLOW`, the
    /// chain is at most [`MAX_CHAIN`] deep and may not loop (else
    /// `InvalidData`). Names in `opts.write_layers` that are not in the
    /// chain are `InvalidInput`.
    pub fn open(sr: &SrDir, name: &str, opts: &OpenOptions) -> io::Result<Image> {
        Self::open_impl(sr, name, None, opts)
    }

    /// As [`Image::open`], but the top layer's format is given, not probed
    /// (a raw disk stays raw whatever its guest wrote into it).
    pub fn open_format(
        sr: &SrDir,
        name: &str,
        format: Format,
        opts: &OpenOptions,
    ) -> io::Result<Image> {
        Self::open_impl(sr, name, Some(format), opts)
    }

    fn open_impl(
        sr: &SrDir,
        name: &str,
        format: Option<Format>,
        opts: &OpenOptions,
    ) -> io::Result<Image> {
        let mut found: Vec<Found> = Vec::new();
        let mut cur = name.to_owned();
        let mut hint = format;
        loop {
            if found.iter().any(|f| f.name == cur) {
                return Err(invalid_data(format!(
                    "{name}: the backing chain loops back to {cur:?}"
                )));
            }
            if found.len() >= MAX_CHAIN {
                return Err(invalid_data(format!(
                    "{name}: the backing chain is deeper than {MAX_CHAIN}"
                )));
            }
            let top = found.is_empty();
            let writable = (top && opts.write) || opts.write_layers.contains(&cur);
            let file = sr.open_file(&cur, writable).map_err(|e| {
                if top {
                    e
                } else {
                    context(e, &format!("{name}: backing file {cur:?}"))
                }
            })?;
            let p = probe_file(sr, &cur, &file, hint == Some(Format::Raw))?;
            if hint == Some(Format::Qcow2) && p.format != Format::Qcow2 {
                return Err(invalid_data(format!("{cur}: not a qcow2 image")));
            }
            // Before imago opens it for writing: its stored bitmaps go (see
            // `writers`).
            let writer = if writable {
                Some(writers::enter(sr, &cur, &file, p.format).map_err(|e| context(e, &cur))?)
            } else {
                None
            };
            found.push(Found {
                name: cur,
                file,
                format: p.format,
                writable,
                writer,
            });
            match p.backing {
                None => break,
                Some(b) => {
                    cur = b;
                    hint = p.backing_format;
                }
            }
        }
        if let Some(w) = opts
            .write_layers
            .iter()
            .find(|w| !found.iter().any(|f| &f.name == *w))
        {
            return Err(invalid_input(format!(
                "{w:?} is not in the backing chain of {name}"
            )));
        }

        // Bottom-up, each layer the backing of the one above.
        let mut layers = Vec::with_capacity(found.len());
        let mut lower: Option<Arc<Access>> = None;
        for f in found.into_iter().rev() {
            let path = sr.root().join(&f.name);
            let storage = GuardedFile::new(&f.file, &path, f.writable, f.format == Format::Qcow2)
                .map_err(|e| context(e, &f.name))?;
            let access = match f.format {
                Format::Raw => FormatAccess::new(block_on(Raw::open_image(storage, f.writable))?),
                Format::Qcow2 => {
                    let q = block_on(
                        Qcow2::<GuardedFile, Arc<Access>>::builder(storage)
                            .write(f.writable)
                            .backing(lower.take())
                            .open(DenyImplicitOpenGate::default()),
                    )
                    .map_err(|e| context(e, &f.name))?;
                    FormatAccess::new(q)
                }
            };
            // imago realigns unaligned requests itself; files are opened
            // without O_DIRECT, so there is nothing to realign anyway.
            debug_assert_eq!((access.req_align(), access.mem_align()), (1, 1));
            let access = Arc::new(access);
            lower = Some(Arc::clone(&access));
            layers.push(Layer {
                size: access.size(),
                name: f.name,
                path,
                format: f.format,
                writable: f.writable,
                file: f.file,
                access,
                dirty: AtomicBool::new(false),
                _writer: f.writer,
            });
        }
        layers.reverse();
        Ok(Image { layers })
    }

    fn layer(&self, layer: usize) -> io::Result<&Layer> {
        self.layers.get(layer).ok_or_else(|| {
            invalid_input(format!(
                "layer {layer} out of range (the chain has {})",
                self.layers.len()
            ))
        })
    }

    fn writable_layer(&self, layer: usize, offset: u64, len: u64) -> io::Result<&Layer> {
        let l = self.layer(layer)?;
        if !l.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is not open for writing", l.name),
            ));
        }
        if offset.checked_add(len).is_none_or(|end| end > l.size) {
            return Err(invalid_input(format!(
                "{}: {len} bytes at {offset} lie beyond the end ({})",
                l.name, l.size
            )));
        }
        Ok(l)
    }

    /// The top layer's format.
    pub fn format(&self) -> Format {
        self.layers[0].format
    }

    /// The top layer's virtual size.
    pub fn size(&self) -> u64 {
        self.layers[0].size
    }

    /// The chain's file names, top first.
    pub fn layers(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.name.clone()).collect()
    }

    /// How many layers the chain has.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Format of layer `layer` (0 = top).
    pub fn layer_format(&self, layer: usize) -> io::Result<Format> {
        Ok(self.layer(layer)?.format)
    }

    /// Virtual size of layer `layer` (0 = top).
    pub fn layer_size(&self, layer: usize) -> io::Result<u64> {
        Ok(self.layer(layer)?.size)
    }

    /// Whether layer `layer` is open for writing.
    pub fn layer_writable(&self, layer: usize) -> io::Result<bool> {
        Ok(self.layer(layer)?.writable)
    }

    /// The allocation state of layer `layer` itself at `offset`: the
    /// longest run from `offset` in one state, at most `max_len` bytes and
    /// not past the top's size; its length is positive whenever
    /// `offset < size()` and `max_len > 0`. Past the layer's own end the
    /// state is [`Alloc::Zero`].
    pub fn status(&self, layer: usize, offset: u64, max_len: u64) -> io::Result<(u64, Alloc)> {
        let l = self.layer(layer)?;
        let max_len = max_len.min(self.size().saturating_sub(offset));
        if max_len == 0 {
            return Ok((0, Alloc::Zero));
        }
        if offset >= l.size {
            return Ok((max_len, Alloc::Zero));
        }
        let within = max_len.min(l.size - offset);
        let (mut len, state) = match l.format {
            Format::Raw => raw_status(&l.file, offset, within)?,
            Format::Qcow2 => qcow2_status(&l.access, offset, within)?,
        };
        // Zeroes up to the layer's end go on reading as zeroes past it.
        if state == Alloc::Zero && offset + len == l.size {
            len = max_len;
        }
        Ok((len, state))
    }

    /// Where `[offset, offset + len)` is served from, looking down the
    /// chain from layer `top` to just above layer `bottom` (exclusive): the
    /// first layer that has the start of the range decides, for the
    /// longest run with one answer (each layer is asked only for the run
    /// the layers above left undecided). `Unallocated` means no layer in
    /// `top..bottom` has it: a copy of those layers alone can skip it.
    pub fn chain_status(
        &self,
        top: usize,
        bottom: usize,
        offset: u64,
        len: u64,
    ) -> io::Result<(u64, Alloc)> {
        let mut len = len;
        for layer in top..bottom {
            let (n, a) = self.status(layer, offset, len)?;
            len = n;
            if a != Alloc::Unallocated {
                return Ok((n, a));
            }
        }
        Ok((len, Alloc::Unallocated))
    }

    /// Reads `buf.len()` bytes at `offset` as layer `layer` sees the disk
    /// (through its backing chain; 0 = the whole chain). Past the end, the
    /// buffer is filled with zeroes. Injected read faults are those of
    /// layer `layer`'s file (whichever layer holds the data).
    pub fn read_at(&self, layer: usize, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let l = self.layer(layer)?;
        if buf.is_empty() {
            return Ok(());
        }
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none() {
            return Err(invalid_input("read range overflows"));
        }
        fault::check(&l.path, Op::Read, offset, len)?;
        match l.format {
            Format::Raw => {
                let avail = l.size.saturating_sub(offset).min(len) as usize;
                let n = read_up_to(&l.file, &mut buf[..avail], offset)?;
                buf[n..].fill(0);
                Ok(())
            }
            Format::Qcow2 => block_on(l.access.read(buf, offset)),
        }
    }

    /// Writes `buf` at `offset` into the top layer (which must be open for
    /// writing; the range must lie within the size).
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write_layer_at(0, buf, offset)
    }

    /// Writes `buf` at `offset` into layer `layer` (opened writable through
    /// `write` for the top, `write_layers` for the others).
    pub fn write_layer_at(&self, layer: usize, buf: &[u8], offset: u64) -> io::Result<()> {
        let len = buf.len() as u64;
        let l = self.writable_layer(layer, offset, len)?;
        if buf.is_empty() {
            return Ok(());
        }
        fault::check(&l.path, Op::Write, offset, len)?;
        let r = match l.format {
            Format::Raw => l.file.write_all_at(buf, offset),
            Format::Qcow2 => block_on(l.access.write(buf, offset)),
        };
        // After the write, so that a flush that started meanwhile does not
        // leave it out unnoticed.
        l.dirty.store(true, Ordering::Release);
        r
    }

    /// Makes `[offset, offset + len)` of the top layer read as zeroes
    /// without writing data where possible: raw: punches a hole (else
    /// writes zeroes); qcow2: zero clusters (partial clusters and v2
    /// images: zeroes written).
    pub fn write_zeroes(&self, offset: u64, len: u64) -> io::Result<()> {
        self.write_zeroes_layer(0, offset, len)
    }

    /// As [`Image::write_zeroes`], into layer `layer`.
    pub fn write_zeroes_layer(&self, layer: usize, offset: u64, len: u64) -> io::Result<()> {
        let l = self.writable_layer(layer, offset, len)?;
        if len == 0 {
            return Ok(());
        }
        fault::check(&l.path, Op::Write, offset, len)?;
        let r = match l.format {
            Format::Raw => raw_write_zeroes(&l.file, offset, len),
            Format::Qcow2 => block_on(async {
                match l.access.write_zeroes(offset, len).await {
                    // qcow2 v2 has no zero clusters.
                    Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                        let mut pos = offset;
                        let end = offset + len;
                        while pos < end {
                            let n = (end - pos).min(ZEROES.len() as u64);
                            l.access.write(&ZEROES[..n as usize], pos).await?;
                            pos += n;
                        }
                        Ok(())
                    }
                    r => r,
                }
            }),
        };
        l.dirty.store(true, Ordering::Release);
        r
    }

    /// Tells the kernel that `[offset, offset + len)` of the top layer
    /// will be read soon (raw layers: `POSIX_FADV_WILLNEED`, which starts
    /// reading it in the background), so a copy's reads and writes
    /// overlap. A hint only: errors are ignored.
    pub fn prefetch(&self, offset: u64, len: u64) {
        let l = &self.layers[0];
        if l.format != Format::Raw || offset >= l.size {
            return;
        }
        let len = len.min(l.size - offset);
        // SAFETY: a valid open descriptor; the call only gives advice.
        unsafe {
            libc::posix_fadvise(
                std::os::fd::AsRawFd::as_raw_fd(&l.file),
                offset as libc::off_t,
                len as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            );
        }
    }

    /// Starts writing `[offset, offset + len)` of the top layer back to
    /// disk now (raw layers: `sync_file_range(WRITE)`), and waits for the
    /// range `lag` bytes before it to be on disk, so a long copy keeps few
    /// dirty pages and does its write-back on its own (low-priority)
    /// thread rather than in the kernel's flusher threads. A hint only:
    /// the final [`Image::flush`] is what makes data durable.
    pub fn write_behind(&self, offset: u64, len: u64, lag: u64) {
        let l = &self.layers[0];
        if l.format != Format::Raw || !l.writable {
            return;
        }
        let fd = std::os::fd::AsRawFd::as_raw_fd(&l.file);
        // SAFETY: a valid open descriptor; ranges are only hints.
        unsafe {
            libc::sync_file_range(
                fd,
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
            if offset >= lag {
                libc::sync_file_range(
                    fd,
                    (offset - lag) as libc::off64_t,
                    len as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE
                        | libc::SYNC_FILE_RANGE_WRITE
                        | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                );
            }
        }
    }

    /// Writes imago's cached metadata back and fsyncs every writable layer
    /// written since the last flush.
    pub fn flush(&self) -> io::Result<()> {
        let mut first = None;
        for l in self.layers.iter().filter(|l| l.writable) {
            if !l.dirty.swap(false, Ordering::AcqRel) {
                continue;
            }
            let r = match l.format {
                Format::Raw => l.file.sync_data(),
                Format::Qcow2 => block_on(async {
                    l.access.flush().await?;
                    l.access.sync().await
                }),
            };
            if let Err(e) = r {
                l.dirty.store(true, Ordering::Release);
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(layers = ?self.layers(), "flushing an image being closed: {e}");
        }
    }
}

/// Allocation state of a qcow2 layer by its own mapping, merging runs of
/// equal state.
fn qcow2_status(access: &Access, offset: u64, len: u64) -> io::Result<(u64, Alloc)> {
    let end = offset + len;
    block_on(async {
        let mut pos = offset;
        let mut state = None;
        while pos < end {
            let (m, n) = access.get_shallow_mapping(pos, end - pos).await?;
            let (a, n) = match m {
                ShallowMapping::Zero { .. } => (Alloc::Zero, n),
                ShallowMapping::Indirect { .. } => (Alloc::Unallocated, n),
                ShallowMapping::Eof { .. } => (Alloc::Zero, end - pos),
                // Data said to be where the file has none is corrupt
                // metadata, as a read of it would find.
                ShallowMapping::Raw {
                    storage, offset, ..
                } => {
                    storage.check_in_file(offset, n)?;
                    (Alloc::Data, n)
                }
                // Special (compressed) clusters.
                _ => (Alloc::Data, n),
            };
            if n == 0 || state.is_some_and(|s| s != a) {
                break;
            }
            state = Some(a);
            pos += n.min(end - pos);
        }
        Ok((pos - offset, state.unwrap_or(Alloc::Zero)))
    })
}
