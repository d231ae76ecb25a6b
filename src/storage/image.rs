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
//! - imago never opens anything by itself (its implicit opening of backing
//!   and data files is denied): each layer is opened here, bottom-up, with
//!   `O_NOFOLLOW`, and handed to the overlay above as its backing.
//!
//! Raw layers are read and written with `pread`/`pwrite` directly; qcow2
//! layers through imago, whose async functions are driven by a small
//! private executor ([`block_on`]): imago only needs `tokio::sync`, not a
//! runtime, so this works on any thread, inside a tokio runtime or not.
//! Writable qcow2 layers are written through `GuardedFile`, which orders
//! imago's metadata writes as QEMU does (a cluster's refcount reaches the
//! file before any pointer to it), so that a process killed at any moment
//! leaves an image `qemu-img check` finds consistent (leaks aside).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use imago::file::File as ImagoFile;
use imago::format::PreallocateMode;
use imago::io_buffers::{IoVector, IoVectorMut};
use imago::qcow2::Qcow2;
use imago::raw::Raw;
use imago::{
    DenyImplicitOpenGate, FormatAccess, FormatCreateBuilder, FormatDriverBuilder, ShallowMapping,
    Storage, StorageOpenOptions,
};

use super::fault::{self, Op};
use super::path::SrDir;
use super::qcow2_header::{self, Header};

/// Largest virtual size accepted for new or grown images: 1 PiB.
pub const MAX_SIZE: u64 = 1 << 50;
/// Deepest backing chain followed (top layer included).
pub const MAX_CHAIN: usize = 64;
/// Cluster size of new qcow2 images.
pub const QCOW2_CLUSTER_SIZE: usize = 64 << 10;

/// Zeroes for writing zeroes where a file system cannot punch holes.
static ZEROES: [u8; 64 << 10] = [0; 64 << 10];

/// An image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Raw: the file is the disk.
    Raw,
    /// qcow2 (version 2 or 3).
    Qcow2,
}

impl Format {
    /// The name QEMU uses: `raw` or `qcow2`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }

    /// The format named `s` (`raw` or `qcow2`).
    pub fn from_name(s: &str) -> Option<Format> {
        match s {
            "raw" => Some(Format::Raw),
            "qcow2" => Some(Format::Qcow2),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`probe`] finds out about an image file without opening any other
/// file.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The format, by content.
    pub format: Format,
    /// Virtual size in bytes (a raw file's length).
    pub virtual_size: u64,
    /// Bytes allocated on disk (`st_blocks * 512`).
    pub physical_utilisation: u64,
    /// The backing file (a plain name of the same SR), qcow2 only.
    pub backing: Option<String>,
    /// The backing file's format as the header records it (`None`: not
    /// recorded, to be probed).
    pub backing_format: Option<Format>,
}

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

/// Checks a virtual size for a new or grown image: at most [`MAX_SIZE`];
/// for qcow2, a multiple of 512 too (a raw file is byte-sized: files
/// placed in an SR by hand may have any length).
fn check_size(size: u64, format: Format) -> io::Result<()> {
    if format == Format::Qcow2 && size % 512 != 0 {
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

fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
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

/// Wakes the thread blocked in [`block_on`].
struct Unparker(std::thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread, parking it while
/// the future waits (for a `tokio::sync` lock held by another thread).
/// Needs no runtime, so it neither panics inside one nor needs one outside;
/// tokio's cooperative budget is switched off for the future, so it cannot
/// starve when polled from a runtime's worker thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unparker(std::thread::current())));
    }
    let waker = WAKER
        .try_with(Waker::clone)
        .unwrap_or_else(|_| Waker::from(Arc::new(Unparker(std::thread::current()))));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(tokio::task::unconstrained(fut));
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// Tells a file's format and reads what a qcow2 header says, checking its
/// backing name (and refusing external data files, which imago would have
/// to open). With `as_raw`, the content is not looked at (the overlay
/// recorded `raw`).
fn probe_file(sr: &SrDir, name: &str, file: &File, as_raw: bool) -> io::Result<Probe> {
    let meta = file.metadata()?;
    let physical_utilisation = meta.blocks().saturating_mul(512);
    let mut first = [0u8; 104];
    let n = if as_raw {
        0
    } else {
        read_up_to(file, &mut first, 0)?
    };
    if !qcow2_header::is_qcow2(&first[..n]) {
        return Ok(Probe {
            format: Format::Raw,
            virtual_size: meta.len(),
            physical_utilisation,
            backing: None,
            backing_format: None,
        });
    }
    let h = Header::read(file).map_err(|e| context(e, name))?;
    if h.version >= 3 && n >= 80 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&first[72..80]);
        let incompatible = u64::from_be_bytes(b);
        if incompatible & 4 != 0 {
            return Err(invalid_data(format!(
                "{name}: qcow2 external data files are not supported"
            )));
        }
    }
    let backing = match h.backing_file {
        None => None,
        Some(b) if sr.backing_allowed(&b) => Some(b),
        Some(b) => {
            return Err(invalid_data(format!(
                "{name}: backing file {b:?} is not allowed: \
                 only a plain regular file of the same SR may back an image"
            )))
        }
    };
    let backing_format = match (&backing, h.backing_format.as_deref()) {
        (None, _) | (Some(_), None) => None,
        (Some(_), Some("raw" | "file")) => Some(Format::Raw),
        (Some(_), Some("qcow2")) => Some(Format::Qcow2),
        (Some(_), Some(f)) => {
            return Err(invalid_data(format!(
                "{name}: unsupported backing format {f:?}"
            )))
        }
    };
    Ok(Probe {
        format: Format::Qcow2,
        virtual_size: h.size,
        physical_utilisation,
        backing,
        backing_format,
    })
}

/// Identifies an image file by content (qcow2 magic: qcow2, else raw),
/// without opening any backing file. A qcow2 naming a backing file that
/// [`SrDir::backing_allowed`] refuses is an `InvalidData` error saying so.
/// Never follows symlinks.
pub fn probe(sr: &SrDir, name: &str) -> io::Result<Probe> {
    let file = sr.open_file(name, false)?;
    probe_file(sr, name, &file, false)
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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
    check_size(size, format)?;
    let path = sr
        .path(name)
        .map_err(|e| invalid_input(format!("{name:?}: {e}")))?;
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
    sync_dir(sr.root())?;
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
    if !qcow2_header::is_qcow2(&magic[..n]) {
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
            found.push(Found {
                name: cur,
                file,
                format: p.format,
                writable,
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

// qcow2 metadata ordering.
//
// imago 0.2.6 writes a few metadata pointers straight to the file while
// the refcounts of the clusters they point to are still only in its
// refblock cache (written back at flush or on eviction):
//
// - `Qcow2::ensure_l2` (qcow2/mappings.rs) allocates a cluster for a new L2
//   table (refcount incremented in the cache), writes the table, then the
//   L1 entry (`L1Table::write_entry`);
// - `Allocator::ensure_rb` (qcow2/allocation.rs) allocates a cluster for a
//   new refblock the same way, writes the refblock, then the refcount
//   table entry (`RefTable::write_entry`);
// - `Qcow2::grow_l1_table` (qcow2/mappings.rs) writes a new L1 table into
//   freshly allocated clusters, then the header's L1 pointer
//   (`Header::write_l1_table_pointer`). (`Allocator::grow_reftable` flushes
//   the refblock cache before writing the reftable pointer.)
//
// Until the refblock is written back, the file has a reference to a
// cluster whose refcount is 0: a process killed then leaves an image that
// `qemu-img check` calls corrupt, and that imago itself later reuses the
// cluster from. QEMU flushes its refcount cache before such writes.
//
// `GuardedFile` restores that order below imago: for a writable qcow2
// layer it keeps a copy of the on-disk roots (the header's L1 and
// refcount-table pointers, the refcount table, and the set of clusters
// the header, L1 table and refcount table reference). A write that lands
// on the header's pointers, the L1 table, the refcount table or a
// refblock goes through `GuardedFile::guarded_write` (`Guard::prepare`),
// which first makes every cluster that the file will then reference have
// a non-zero refcount on disk (by writing that refcount entry, the value
// imago's cache holds anyway), and keeps refblock write-backs from
// zeroing such a refcount (one copied by a concurrent write-back before
// the increment). Every other write
// (data, L2 tables, new refblocks and tables not yet referenced) passes
// straight through after one uncontended lock and range check. Nothing is
// deferred, so what `flush` makes durable is exactly what imago wrote.

/// Offset of `l1_size` (u32) in the qcow2 header; then `l1_table_offset`
/// (u64), `refcount_table_offset` (u64), `refcount_table_clusters` (u32).
const HDR_L1_SIZE: usize = 36;
const HDR_L1_OFFSET: usize = 40;
const HDR_RT_OFFSET: usize = 48;
const HDR_RT_CLUSTERS: usize = 56;
/// End of the header fields the guard follows.
const HDR_ROOTS_END: usize = 60;
/// Offset of `refcount_order` (u32, version 3 only).
const HDR_REFCOUNT_ORDER: usize = 96;
/// Host offset bits of an L1 entry.
const L1_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Host offset bits of a refcount table entry.
const RT_OFFSET_MASK: u64 = !0x1ff;
/// Most entries an L1 or refcount table may have (imago's limit).
const MAX_TABLE_ENTRIES: u64 = 4 << 20;

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Where the header says the L1 and refcount tables are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Roots {
    l1_offset: u64,
    l1_entries: u64,
    rt_offset: u64,
    rt_clusters: u64,
}

impl Roots {
    /// From the first [`HDR_ROOTS_END`] bytes of a header.
    fn parse(h: &[u8]) -> Roots {
        Roots {
            l1_offset: be_u64(h, HDR_L1_OFFSET),
            l1_entries: be_u32(h, HDR_L1_SIZE).into(),
            rt_offset: be_u64(h, HDR_RT_OFFSET),
            rt_clusters: be_u32(h, HDR_RT_CLUSTERS).into(),
        }
    }

    fn check(&self, cluster_bits: u32) -> io::Result<()> {
        let rt_entries = self.rt_clusters << (cluster_bits - 3);
        if self.l1_entries > MAX_TABLE_ENTRIES || rt_entries > MAX_TABLE_ENTRIES {
            return Err(invalid_data("qcow2: L1 or refcount table too large"));
        }
        let mask = (1u64 << cluster_bits) - 1;
        if self.l1_offset & mask != 0 || self.rt_offset & mask != 0 {
            return Err(invalid_data("qcow2: unaligned L1 or refcount table"));
        }
        Ok(())
    }

    fn l1(&self) -> (u64, u64) {
        (self.l1_offset, self.l1_entries)
    }

    fn rt(&self, cluster_bits: u32) -> (u64, u64) {
        (self.rt_offset, self.rt_clusters << (cluster_bits - 3))
    }
}

/// Byte range of a table of `entries` 8-byte entries at `offset`.
fn table_range((offset, entries): (u64, u64)) -> (u64, u64) {
    (offset, offset.saturating_add(entries * 8))
}

fn overlaps((a, b): (u64, u64), (c, d): (u64, u64)) -> bool {
    a < d && c < b
}

/// The clusters a table at `(offset, entries)` occupies.
fn table_clusters(t: (u64, u64), cluster_bits: u32) -> std::ops::Range<u64> {
    let (start, end) = table_range(t);
    if start == end {
        return 0..0;
    }
    start >> cluster_bits..((end - 1) >> cluster_bits) + 1
}

/// What the guard knows of a qcow2 file's on-disk roots. See above.
struct Guard {
    /// The image file (for the guard's own reads and refcount writes).
    file: File,
    cluster_bits: u32,
    /// Bits per refcount (1 to 64).
    refcount_bits: u32,
    roots: Roots,
    /// The on-disk refcount table: refblock clusters (0: none).
    reftable: Vec<u64>,
    /// Refblock cluster -> its refcount table index.
    refblocks: BTreeMap<u64, usize>,
    /// Clusters the on-disk header, L1 table and refcount table reference
    /// (tables, L2 tables, refblocks), with how many times.
    needed: BTreeMap<u64, u32>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("roots", &self.roots)
            .field("refblocks", &self.refblocks.len())
            .field("needed", &self.needed.len())
            .finish()
    }
}

/// Reads `len` bytes at `offset` as they will be once `data` is written at
/// `data_at` (zeroes past the end of the file).
fn read_view(
    file: &File,
    data: &[u8],
    data_at: u64,
    offset: u64,
    len: usize,
) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    read_up_to(file, &mut buf, offset)?;
    let end = offset + len as u64;
    let data_end = data_at + data.len() as u64;
    if offset < data_end && data_at < end {
        let from = offset.max(data_at);
        let to = end.min(data_end);
        buf[(from - offset) as usize..(to - offset) as usize]
            .copy_from_slice(&data[(from - data_at) as usize..(to - data_at) as usize]);
    }
    Ok(buf)
}

/// Entries `[first, end)` of the table at `offset`, as [`read_view`] sees them.
fn read_entries(
    file: &File,
    data: &[u8],
    data_at: u64,
    offset: u64,
    first: u64,
    end: u64,
) -> io::Result<Vec<u64>> {
    let b = read_view(
        file,
        data,
        data_at,
        offset + first * 8,
        ((end - first) * 8) as usize,
    )?;
    Ok(b.chunks_exact(8).map(|c| be_u64(c, 0)).collect())
}

fn l1_target(entry: u64, cluster_bits: u32) -> Option<u64> {
    let off = entry & L1_OFFSET_MASK;
    (off != 0).then_some(off >> cluster_bits)
}

fn rt_target(entry: u64, cluster_bits: u32) -> Option<u64> {
    let off = entry & RT_OFFSET_MASK;
    (off != 0).then_some(off >> cluster_bits)
}

impl Guard {
    /// Reads the roots of the qcow2 image in `file`.
    fn load(file: File) -> io::Result<Guard> {
        let mut h = [0u8; 104];
        let n = read_up_to(&file, &mut h, 0)?;
        if n < 72 || !qcow2_header::is_qcow2(&h) {
            return Err(invalid_data("qcow2: truncated header"));
        }
        let version = be_u32(&h, 4);
        let cluster_bits = be_u32(&h, 20);
        let refcount_order = match version {
            2 => 4,
            3 if n >= 100 => be_u32(&h, HDR_REFCOUNT_ORDER),
            _ => return Err(invalid_data("qcow2: unsupported header")),
        };
        if !(9..=21).contains(&cluster_bits) || refcount_order > 6 {
            return Err(invalid_data(
                "qcow2: unsupported cluster size or refcount width",
            ));
        }
        let roots = Roots::parse(&h);
        roots.check(cluster_bits)?;
        let mut g = Guard {
            file,
            cluster_bits,
            refcount_bits: 1 << refcount_order,
            roots,
            reftable: Vec::new(),
            refblocks: BTreeMap::new(),
            needed: BTreeMap::new(),
        };
        let (l1_off, l1_n) = roots.l1();
        let l1 = read_entries(&g.file, &[], 0, l1_off, 0, l1_n)?;
        let (rt_off, rt_n) = roots.rt(cluster_bits);
        let rt = read_entries(&g.file, &[], 0, rt_off, 0, rt_n)?;
        g.add(0);
        for c in table_clusters(roots.l1(), cluster_bits)
            .chain(table_clusters(roots.rt(cluster_bits), cluster_bits))
        {
            g.add(c);
        }
        for e in l1 {
            if let Some(c) = l1_target(e, cluster_bits) {
                g.add(c);
            }
        }
        g.set_reftable(
            rt.iter()
                .map(|&e| rt_target(e, cluster_bits).unwrap_or(0))
                .collect(),
        );
        for i in 0..g.reftable.len() {
            if g.reftable[i] != 0 {
                g.add(g.reftable[i]);
            }
        }
        Ok(g)
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    fn set_reftable(&mut self, reftable: Vec<u64>) {
        self.refblocks = reftable
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c != 0)
            .map(|(i, &c)| (c, i))
            .collect();
        self.reftable = reftable;
    }

    fn add(&mut self, cluster: u64) {
        *self.needed.entry(cluster).or_insert(0) += 1;
    }

    fn remove(&mut self, cluster: u64) {
        if let Some(n) = self.needed.get_mut(&cluster) {
            *n -= 1;
            if *n == 0 {
                self.needed.remove(&cluster);
            }
        }
    }

    /// Refcount entries one refblock holds.
    fn rb_entries(&self) -> u64 {
        (self.cluster_size() * 8) / u64::from(self.refcount_bits)
    }

    /// Whether a write of `len` bytes at `offset` lands on the header's
    /// pointers, the L1 table, the refcount table or a refblock.
    fn protects(&self, offset: u64, len: u64) -> bool {
        let w = (offset, offset.saturating_add(len));
        if len == 0 {
            return false;
        }
        if offset < HDR_ROOTS_END as u64
            || overlaps(w, table_range(self.roots.l1()))
            || overlaps(w, table_range(self.roots.rt(self.cluster_bits)))
        {
            return true;
        }
        let cb = self.cluster_bits;
        self.refblocks
            .range(..=(w.1 - 1) >> cb)
            .next_back()
            .is_some_and(|(&c, _)| c >= offset >> cb)
    }

    /// Takes the write of `data` at `offset` into account (it is about to
    /// be made): updates the roots, and makes sure that once it is
    /// written, every cluster the roots reference has a non-zero refcount
    /// on disk (patching `data` where the refcount lies inside it, writing
    /// the others to the file now). On error the caller reloads the guard.
    fn prepare(&mut self, data: &mut [u8], offset: u64) -> io::Result<()> {
        let cb = self.cluster_bits;
        let end = offset + data.len() as u64;
        let new_roots = if offset < HDR_ROOTS_END as u64 {
            let h = read_view(&self.file, data, offset, 0, HDR_ROOTS_END)?;
            let r = Roots::parse(&h);
            r.check(cb)?;
            r
        } else {
            self.roots
        };
        let mut added: Vec<u64> = Vec::new();
        let mut removed: Vec<u64> = Vec::new();

        // The L1 table: moved, or entries changed.
        let (old_l1, new_l1) = (self.roots.l1(), new_roots.l1());
        if old_l1 != new_l1 {
            let old = read_entries(&self.file, &[], 0, old_l1.0, 0, old_l1.1)?;
            removed.extend(old.iter().filter_map(|&e| l1_target(e, cb)));
            removed.extend(table_clusters(old_l1, cb));
            let new = read_entries(&self.file, data, offset, new_l1.0, 0, new_l1.1)?;
            added.extend(new.iter().filter_map(|&e| l1_target(e, cb)));
            added.extend(table_clusters(new_l1, cb));
        } else if overlaps((offset, end), table_range(old_l1)) {
            let first = offset.saturating_sub(old_l1.0) / 8;
            let last = ((end - old_l1.0).div_ceil(8)).min(old_l1.1);
            let old = read_entries(&self.file, &[], 0, old_l1.0, first, last)?;
            let new = read_entries(&self.file, data, offset, old_l1.0, first, last)?;
            for (o, n) in old.into_iter().zip(new) {
                let (o, n) = (l1_target(o, cb), l1_target(n, cb));
                if o != n {
                    removed.extend(o);
                    added.extend(n);
                }
            }
        }

        // The refcount table: moved, or entries changed. `changed`: the
        // refcount table indices whose refblock is new.
        let (old_rt, new_rt) = (self.roots.rt(cb), new_roots.rt(cb));
        let mut changed: Vec<usize> = Vec::new();
        if old_rt != new_rt {
            let new: Vec<u64> = read_entries(&self.file, data, offset, new_rt.0, 0, new_rt.1)?
                .into_iter()
                .map(|e| rt_target(e, cb).unwrap_or(0))
                .collect();
            removed.extend(self.reftable.iter().copied().filter(|&c| c != 0));
            removed.extend(table_clusters(old_rt, cb));
            added.extend(new.iter().copied().filter(|&c| c != 0));
            added.extend(table_clusters(new_rt, cb));
            changed.extend(0..new.len());
            self.set_reftable(new);
        } else if overlaps((offset, end), table_range(old_rt)) {
            let first = offset.saturating_sub(old_rt.0) / 8;
            let last = ((end - old_rt.0).div_ceil(8)).min(old_rt.1);
            let new = read_entries(&self.file, data, offset, old_rt.0, first, last)?;
            for (i, n) in (first as usize..).zip(new) {
                let n = rt_target(n, cb).unwrap_or(0);
                let o = self.reftable[i];
                if o != n {
                    if o != 0 {
                        removed.push(o);
                        self.refblocks.remove(&o);
                    }
                    if n != 0 {
                        added.push(n);
                        self.refblocks.insert(n, i);
                    }
                    self.reftable[i] = n;
                    changed.push(i);
                }
            }
        }
        self.roots = new_roots;
        for &c in &added {
            self.add(c);
        }
        for &c in &removed {
            self.remove(c);
        }

        // The clusters whose refcount to make sure of: those now
        // referenced, those covered by a new refblock, and those covered
        // by a refblock this write rewrites.
        let per_rb = self.rb_entries();
        let mut check: BTreeSet<u64> = added.into_iter().collect();
        let covered = |i: usize, check: &mut BTreeSet<u64>| {
            let first = i as u64 * per_rb;
            check.extend(self.needed.range(first..first + per_rb).map(|(&c, _)| c));
        };
        for &i in &changed {
            if self.reftable[i] != 0 {
                covered(i, &mut check);
            }
        }
        let last_cluster = (end - 1) >> cb;
        for (_, &i) in self.refblocks.range(offset >> cb..=last_cluster) {
            covered(i, &mut check);
        }
        check.retain(|c| self.needed.contains_key(c));

        let bits = u64::from(self.refcount_bits);
        for c in check {
            let rb = self
                .reftable
                .get((c / per_rb) as usize)
                .copied()
                .filter(|&rb| rb != 0)
                .ok_or_else(|| {
                    io::Error::other(format!(
                        "qcow2: cluster {c} would be referenced without a refcount block"
                    ))
                })?;
            let bit = (c % per_rb) * bits;
            let at = (rb << cb) + bit / 8;
            let width = bits.div_ceil(8) as usize;
            let mut v = read_view(&self.file, data, offset, at, width)?;
            let (shift, mask) = if bits < 8 {
                let shift = (bit % 8) as u8;
                (shift, (((1u16 << bits) - 1) as u8) << shift)
            } else {
                (0, 0xff)
            };
            if v.iter().any(|&b| b & mask != 0) {
                continue;
            }
            // Refcount 1, big-endian (sub-byte widths: low bits first).
            *v.last_mut().unwrap() |= 1 << shift;
            if at >= offset && at + width as u64 <= end {
                let i = (at - offset) as usize;
                data[i..i + width].copy_from_slice(&v);
            } else {
                self.file.write_all_at(&v, at)?;
            }
        }
        Ok(())
    }
}

/// imago's file storage, for a writable qcow2 layer with a [`Guard`]
/// ordering its metadata writes (see above); for every other layer, imago's
/// file storage as it is.
#[derive(Debug)]
struct GuardedFile {
    inner: ImagoFile,
    guard: Option<std::sync::Mutex<Guard>>,
    #[cfg(test)]
    path: PathBuf,
}

impl fmt::Display for GuardedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl GuardedFile {
    /// imago's storage for `file`; guarded when `guard` (a writable qcow2).
    fn new(file: &File, path: &Path, writable: bool, guard: bool) -> io::Result<GuardedFile> {
        let inner = ImagoFile::from_open_file(
            file.try_clone()?,
            StorageOpenOptions::new().filename(path).write(writable),
        )?;
        let guard = if guard && writable {
            Some(std::sync::Mutex::new(Guard::load(file.try_clone()?)?))
        } else {
            None
        };
        Ok(GuardedFile {
            inner,
            guard,
            #[cfg(test)]
            path: path.to_path_buf(),
        })
    }

    fn lock(m: &std::sync::Mutex<Guard>) -> std::sync::MutexGuard<'_, Guard> {
        // The guard is reloaded from disk whenever an update fails part
        // way, so a panic while holding it leaves nothing to repair.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `data` at `offset` through the guard (which is locked
    /// throughout, so that guarded writes are ordered among themselves:
    /// a refblock write-back cannot land between a refcount written here
    /// and the write that needs it). Holding a plain mutex across the
    /// `await` is fine: imago's `File` does its I/O synchronously (its
    /// futures never return `Pending`), and nothing awaits the guard.
    #[allow(clippy::await_holding_lock)]
    async fn guarded_write(
        &self,
        mut g: std::sync::MutexGuard<'_, Guard>,
        mut data: Vec<u8>,
        offset: u64,
    ) -> io::Result<()> {
        let mut r = g.prepare(&mut data, offset);
        if r.is_ok() {
            // SAFETY: a plain write of an owned buffer; imago's own range
            // locking has been done by the caller of `pure_writev`.
            r = unsafe { self.inner.pure_writev(IoVector::from(&data), offset).await };
        }
        if r.is_err() {
            match g.file.try_clone().and_then(Guard::load) {
                Ok(fresh) => *g = fresh,
                Err(e) => tracing::warn!("cannot reload the qcow2 metadata guard: {e}"),
            }
        }
        drop(g);
        #[cfg(test)]
        tests::after_write(&self.path, true);
        r
    }

    /// Whether `[offset, offset + len)` needs the guard (which is returned
    /// locked), if there is one.
    fn guard_for(&self, offset: u64, len: u64) -> Option<std::sync::MutexGuard<'_, Guard>> {
        let g = Self::lock(self.guard.as_ref()?);
        g.protects(offset, len).then_some(g)
    }
}

impl Storage for GuardedFile {
    fn mem_align(&self) -> usize {
        self.inner.mem_align()
    }

    fn req_align(&self) -> usize {
        self.inner.req_align()
    }

    fn zero_align(&self) -> usize {
        self.inner.zero_align()
    }

    fn discard_align(&self) -> usize {
        self.inner.discard_align()
    }

    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }

    fn resolve_relative_path<P: AsRef<Path>>(&self, relative: P) -> io::Result<PathBuf> {
        self.inner.resolve_relative_path(relative)
    }

    fn get_filename(&self) -> Option<PathBuf> {
        self.inner.get_filename()
    }

    async unsafe fn pure_readv(&self, bufv: IoVectorMut<'_>, offset: u64) -> io::Result<()> {
        // SAFETY: forwarded as the caller made it.
        unsafe { self.inner.pure_readv(bufv, offset).await }
    }

    async unsafe fn pure_writev(&self, bufv: IoVector<'_>, offset: u64) -> io::Result<()> {
        if let Some(g) = self.guard_for(offset, bufv.len()) {
            let mut data = vec![0u8; bufv.len() as usize];
            bufv.copy_into_slice(&mut data);
            return self.guarded_write(g, data, offset).await;
        }
        // SAFETY: forwarded as the caller made it.
        let r = unsafe { self.inner.pure_writev(bufv, offset).await };
        #[cfg(test)]
        tests::after_write(&self.path, false);
        r
    }

    async unsafe fn pure_write_zeroes(&self, offset: u64, length: u64) -> io::Result<()> {
        if let Some(g) = self.guard_for(offset, length) {
            let data = vec![0u8; usize::try_from(length).map_err(io::Error::other)?];
            return self.guarded_write(g, data, offset).await;
        }
        // SAFETY: forwarded as the caller made it.
        unsafe { self.inner.pure_write_zeroes(offset, length).await }
    }

    async unsafe fn pure_write_allocated_zeroes(&self, offset: u64, length: u64) -> io::Result<()> {
        if let Some(g) = self.guard_for(offset, length) {
            let data = vec![0u8; usize::try_from(length).map_err(io::Error::other)?];
            return self.guarded_write(g, data, offset).await;
        }
        // SAFETY: forwarded as the caller made it.
        unsafe { self.inner.pure_write_allocated_zeroes(offset, length).await }
    }

    async unsafe fn pure_discard(&self, offset: u64, length: u64) -> io::Result<()> {
        if self.guard_for(offset, length).is_some() {
            // Discarding is a hint; metadata is never discarded.
            return Ok(());
        }
        // SAFETY: forwarded as the caller made it.
        unsafe { self.inner.pure_discard(offset, length).await }
    }

    async fn flush(&self) -> io::Result<()> {
        self.inner.flush().await
    }

    async fn sync(&self) -> io::Result<()> {
        self.inner.sync().await
    }

    async fn settle_writes(&self) -> io::Result<()> {
        self.inner.settle_writes().await
    }

    async unsafe fn invalidate_cache(&self) -> io::Result<()> {
        // SAFETY: forwarded as the caller made it.
        unsafe { self.inner.invalidate_cache().await }
    }

    fn get_storage_helper(&self) -> &imago::storage::drivers::CommonStorageHelper {
        self.inner.get_storage_helper()
    }

    async fn resize(
        &self,
        new_size: u64,
        prealloc_mode: imago::storage::PreallocateMode,
    ) -> io::Result<()> {
        self.inner.resize(new_size, prealloc_mode).await
    }
}

/// Allocation state of a raw file by `SEEK_DATA`/`SEEK_HOLE`, within
/// `[offset, offset + len)` (inside the file).
fn raw_status(file: &File, offset: u64, len: u64) -> io::Result<(u64, Alloc)> {
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
                // Raw, and special (compressed) clusters.
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

/// Punches a hole (keeping the size); where the file system cannot, writes
/// zeroes.
fn raw_write_zeroes(file: &File, offset: u64, len: u64) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    const K: u64 = 1 << 10;
    const M: u64 = 1 << 20;

    /// An SR directory removed at the end of the test.
    struct TestSr(SrDir);

    impl std::ops::Deref for TestSr {
        type Target = SrDir;
        fn deref(&self) -> &SrDir {
            &self.0
        }
    }

    impl Drop for TestSr {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0.root());
        }
    }

    fn sr() -> TestSr {
        let d = std::env::temp_dir().join(format!("xapid-image-{}", uuid::Uuid::new_v4()));
        TestSr(SrDir::open(&d).unwrap())
    }

    fn run(prog: &str, args: &[&str], cwd: &Path) -> String {
        let out = Command::new(prog)
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap_or_else(|e| panic!("{prog} runs: {e}"));
        assert!(
            out.status.success(),
            "{prog} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn qemu_img(s: &SrDir, args: &[&str]) -> String {
        run("qemu-img", args, s.root())
    }

    /// `qemu-io -f fmt -c cmd... name`.
    fn qemu_io(s: &SrDir, fmt: &str, name: &str, cmds: &[&str]) {
        let mut args = vec!["-f", fmt];
        for c in cmds {
            args.extend_from_slice(&["-c", c]);
        }
        args.push(name);
        let out = run("qemu-io", &args, s.root());
        assert!(!out.to_lowercase().contains("error"), "qemu-io: {out}");
    }

    fn info(s: &SrDir, name: &str) -> serde_json::Value {
        serde_json::from_str(&qemu_img(s, &["info", "--output=json", "-U", name])).unwrap()
    }

    fn check(s: &SrDir, name: &str) {
        qemu_img(s, &["check", "-q", name]);
    }

    /// `qemu-img compare` of an image with a raw file holding `model`.
    fn compare(s: &SrDir, name: &str, fmt: Format, model: &[u8]) {
        let r = format!("ref-{}", uuid::Uuid::new_v4());
        std::fs::write(s.root().join(&r), model).unwrap();
        qemu_img(
            s,
            &["compare", "-q", "-f", fmt.name(), "-F", "raw", name, &r],
        );
        std::fs::remove_file(s.root().join(&r)).unwrap();
    }

    /// What QEMU reads from an image (`qemu-img convert -O raw`).
    fn qemu_contents(s: &SrDir, name: &str) -> Vec<u8> {
        let r = format!("conv-{}", uuid::Uuid::new_v4());
        qemu_img(s, &["convert", "-O", "raw", name, &r]);
        let data = std::fs::read(s.root().join(&r)).unwrap();
        std::fs::remove_file(s.root().join(&r)).unwrap();
        data
    }

    fn pattern(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn rw() -> OpenOptions {
        OpenOptions {
            write: true,
            ..Default::default()
        }
    }

    fn read(img: &Image, layer: usize, offset: u64, len: u64) -> Vec<u8> {
        let mut buf = vec![0xeeu8; len as usize];
        img.read_at(layer, &mut buf, offset).unwrap();
        buf
    }

    /// Every run of `status` of a layer, as `(start, end, state)`.
    fn runs(img: &Image, layer: usize) -> Vec<(u64, u64, Alloc)> {
        let mut out: Vec<(u64, u64, Alloc)> = Vec::new();
        let mut pos = 0;
        while pos < img.size() {
            let (n, a) = img.status(layer, pos, u64::MAX).unwrap();
            assert!(n > 0, "empty run at {pos}");
            if let Some(last) = out.last() {
                assert_ne!(last.2, a, "runs are maximal: {out:?} then {a:?} at {pos}");
            }
            out.push((pos, pos + n, a));
            pos += n;
        }
        out
    }

    fn kind<T: fmt::Debug>(r: io::Result<T>) -> io::ErrorKind {
        r.unwrap_err().kind()
    }

    #[test]
    fn image_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Image>();
    }

    #[test]
    fn format_names() {
        for f in [Format::Raw, Format::Qcow2] {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
        assert_eq!(Format::from_name("vmdk"), None);
    }

    #[test]
    fn created_images_are_what_qemu_img_sees() {
        let s = sr();
        create(&s, "a.raw", Format::Raw, 10 * M, None).unwrap();
        create(&s, "b.qcow2", Format::Qcow2, 64 * M, None).unwrap();
        create(&s, "c.qcow2", Format::Qcow2, 64 * M, Some("a.raw")).unwrap();
        create(&s, "d.qcow2", Format::Qcow2, 32 * M + 512, Some("b.qcow2")).unwrap();
        let cases = [
            ("a.raw", "raw", 10 * M, None),
            ("b.qcow2", "qcow2", 64 * M, None),
            ("c.qcow2", "qcow2", 64 * M, Some(("a.raw", "raw"))),
            ("d.qcow2", "qcow2", 32 * M + 512, Some(("b.qcow2", "qcow2"))),
        ];
        for (name, fmt, size, backing) in cases {
            let i = info(&s, name);
            assert_eq!(i["format"], fmt, "{name}: {i}");
            assert_eq!(i["virtual-size"], size, "{name}: {i}");
            match backing {
                Some((b, bf)) => {
                    assert_eq!(i["backing-filename"], b, "{name}: {i}");
                    assert_eq!(i["backing-filename-format"], bf, "{name}: {i}");
                }
                None => assert!(i.get("backing-filename").is_none(), "{name}: {i}"),
            }
            let p = probe(&s, name).unwrap();
            assert_eq!(p.format.name(), fmt);
            assert_eq!(p.virtual_size, size);
            assert_eq!(p.backing.as_deref(), backing.map(|b| b.0));
            assert_eq!(p.backing_format.map(Format::name), backing.map(|b| b.1));
            assert!(p.physical_utilisation < M, "{name}: {p:?}");
            if fmt == "qcow2" {
                assert_eq!(i["cluster-size"], 65536, "{i}");
                assert_eq!(i["format-specific"]["data"]["compat"], "1.1", "{i}");
                check(&s, name);
            }
        }
        // The largest size works for qcow2 (a raw file that large may not
        // fit the file system, but then nothing is left behind).
        create(&s, "max.qcow2", Format::Qcow2, MAX_SIZE, None).unwrap();
        assert_eq!(info(&s, "max.qcow2")["virtual-size"], MAX_SIZE);
        check(&s, "max.qcow2");
        if create(&s, "max.raw", Format::Raw, MAX_SIZE, None).is_err() {
            assert!(!s.root().join("max.raw").exists());
        }
    }

    #[test]
    fn create_refuses_bad_requests() {
        let s = sr();
        create(&s, "a.raw", Format::Raw, M, None).unwrap();
        for size in [MAX_SIZE + 1, MAX_SIZE + 512, u64::MAX, u64::MAX - 511] {
            for f in [Format::Raw, Format::Qcow2] {
                assert_eq!(
                    kind(create(&s, "n", f, size, None)),
                    io::ErrorKind::InvalidInput,
                    "{size}"
                );
            }
        }
        // A qcow2's size is whole sectors; a raw file's is any.
        for size in [1, 1000, M + 511] {
            assert_eq!(
                kind(create(&s, "n", Format::Qcow2, size, None)),
                io::ErrorKind::InvalidInput,
                "{size}"
            );
        }
        for f in [Format::Raw, Format::Qcow2] {
            assert_eq!(
                kind(create(&s, "a.raw", f, 2 * M, None)),
                io::ErrorKind::AlreadyExists
            );
        }
        assert_eq!(std::fs::metadata(s.root().join("a.raw")).unwrap().len(), M);
        for bad in ["../x", "a/b", ".hidden", "", "/etc/x"] {
            assert_eq!(
                kind(create(&s, bad, Format::Raw, M, None)),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
        std::os::unix::fs::symlink("/etc/passwd", s.root().join("link")).unwrap();
        for bad in ["/etc/passwd", "../a.raw", "missing", "link", "n.qcow2"] {
            assert_eq!(
                kind(create(&s, "n.qcow2", Format::Qcow2, M, Some(bad))),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
        assert_eq!(
            kind(create(&s, "n.raw", Format::Raw, M, Some("a.raw"))),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(s.list().unwrap(), vec!["a.raw".to_string()]);
    }

    #[test]
    fn unaligned_writes_read_back_as_qemu_sees_them() {
        let s = sr();
        create(&s, "base.raw", Format::Raw, 4 * M, None).unwrap();
        {
            let b = Image::open(&s, "base.raw", &rw()).unwrap();
            b.write_at(&pattern(99, 4 * M as usize), 0).unwrap();
            b.flush().unwrap();
        }
        create(&s, "over.qcow2", Format::Qcow2, 4 * M, Some("base.raw")).unwrap();
        create(&s, "img.qcow2", Format::Qcow2, 4 * M, None).unwrap();
        create(&s, "img.raw", Format::Raw, 4 * M, None).unwrap();
        let writes: [(u64, u64); 9] = [
            (0, 1),
            (511, 3),
            (65535, 2),
            (65536 - 100, 200),
            (100_000, 70_000),
            (M + 7, 300_000),
            (2 * M, 128 * K),
            (3 * M - 1, 65536 * 3 + 2),
            (4 * M - 5, 5),
        ];
        for (name, fmt) in [
            ("img.qcow2", Format::Qcow2),
            ("img.raw", Format::Raw),
            ("over.qcow2", Format::Qcow2),
        ] {
            let mut model = if name == "over.qcow2" {
                pattern(99, 4 * M as usize)
            } else {
                vec![0u8; 4 * M as usize]
            };
            let img = Image::open(&s, name, &rw()).unwrap();
            assert_eq!((img.format(), img.size()), (fmt, 4 * M));
            for (i, &(off, len)) in writes.iter().enumerate() {
                let data = pattern(i as u64, len as usize);
                img.write_at(&data, off).unwrap();
                model[off as usize..(off + len) as usize].copy_from_slice(&data);
            }
            for &(off, len) in &[(0, 4 * M), (3, 1), (65530, 20), (M - 1, M + 2)] {
                assert!(
                    read(&img, 0, off, len) == model[off as usize..(off + len) as usize],
                    "{name} at {off}+{len}"
                );
            }
            // Past the end: zeroes; writing there: refused.
            let tail = read(&img, 0, 4 * M - 50, 100);
            assert_eq!(&tail[..50], &model[4 * M as usize - 50..]);
            assert!(tail[50..].iter().all(|&b| b == 0));
            assert!(read(&img, 0, u64::MAX - 10, 10).iter().all(|&b| b == 0));
            assert_eq!(
                kind(img.write_at(b"xy", 4 * M - 1)),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(
                kind(img.write_at(b"xy", u64::MAX)),
                io::ErrorKind::InvalidInput
            );
            img.flush().unwrap();
            drop(img);
            compare(&s, name, fmt, &model);
            if fmt == Format::Qcow2 {
                check(&s, name);
            }
            let ro = Image::open(&s, name, &OpenOptions::default()).unwrap();
            assert!(read(&ro, 0, 0, 4 * M) == model, "{name} reopened");
            assert_eq!(kind(ro.write_at(b"x", 0)), io::ErrorKind::PermissionDenied);
        }
    }

    /// base.raw <- mid.qcow2 <- top.qcow2, written by qemu-io.
    fn qemu_chain(s: &SrDir) {
        qemu_img(s, &["create", "-q", "-f", "raw", "base.raw", "1M"]);
        qemu_io(s, "raw", "base.raw", &["write -P 0x11 0 512k"]);
        qemu_img(
            s,
            &[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-b",
                "base.raw",
                "-F",
                "raw",
                "mid.qcow2",
            ],
        );
        qemu_io(
            s,
            "qcow2",
            "mid.qcow2",
            &[
                "write -P 0x22 64k 64k",
                "write -z 256k 64k",
                "write -c -P 0x44 512k 64k",
            ],
        );
        qemu_img(
            s,
            &[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-b",
                "mid.qcow2",
                "-F",
                "qcow2",
                "top.qcow2",
                "2M",
            ],
        );
        qemu_io(s, "qcow2", "top.qcow2", &["write -P 0x33 128k 64k"]);
    }

    #[test]
    fn chain_status_and_reads_per_layer() {
        use Alloc::*;
        let s = sr();
        qemu_chain(&s);
        let img = Image::open(&s, "top.qcow2", &OpenOptions::default()).unwrap();
        assert_eq!(img.layers(), ["top.qcow2", "mid.qcow2", "base.raw"]);
        assert_eq!(img.size(), 2 * M);
        assert_eq!(img.layer_size(1).unwrap(), M);
        assert_eq!(img.layer_format(2).unwrap(), Format::Raw);
        assert_eq!(
            runs(&img, 0),
            [
                (0, 128 * K, Unallocated),
                (128 * K, 192 * K, Data),
                (192 * K, 2 * M, Unallocated)
            ]
        );
        assert_eq!(
            runs(&img, 1),
            [
                (0, 64 * K, Unallocated),
                (64 * K, 128 * K, Data),
                (128 * K, 256 * K, Unallocated),
                (256 * K, 320 * K, Zero),
                (320 * K, 512 * K, Unallocated),
                (512 * K, 576 * K, Data),
                (576 * K, M, Unallocated),
                (M, 2 * M, Zero),
            ]
        );
        assert_eq!(runs(&img, 2), [(0, 512 * K, Data), (512 * K, 2 * M, Zero)]);
        // Limits.
        assert_eq!(img.status(0, 1000, 10).unwrap(), (10, Unallocated));
        assert_eq!(
            img.status(1, 64 * K + 5, u64::MAX).unwrap(),
            (64 * K - 5, Data)
        );
        assert_eq!(img.status(1, M - 512, 4096).unwrap(), (512, Unallocated));
        assert_eq!(img.status(2, 600 * K, 10).unwrap(), (10, Zero));
        assert_eq!(img.status(0, 2 * M, 1).unwrap(), (0, Zero));
        assert_eq!(img.status(0, 0, 0).unwrap(), (0, Zero));
        assert_eq!(kind(img.status(3, 0, 1)), io::ErrorKind::InvalidInput);
        // What each layer sees.
        let fill = |b: u8, n: u64| vec![b; n as usize];
        assert_eq!(read(&img, 0, 0, 64 * K), fill(0x11, 64 * K));
        assert_eq!(read(&img, 0, 64 * K, 64 * K), fill(0x22, 64 * K));
        assert_eq!(read(&img, 0, 128 * K, 64 * K), fill(0x33, 64 * K));
        assert_eq!(read(&img, 0, 256 * K, 64 * K), fill(0, 64 * K));
        assert_eq!(read(&img, 0, 512 * K + 1, 100), fill(0x44, 100));
        assert_eq!(read(&img, 1, 128 * K, 64 * K), fill(0x11, 64 * K));
        assert_eq!(read(&img, 1, 64 * K, 64 * K), fill(0x22, 64 * K));
        assert_eq!(read(&img, 2, 64 * K, 64 * K), fill(0x11, 64 * K));
        assert_eq!(read(&img, 2, 256 * K, 64 * K), fill(0x11, 64 * K));
        assert_eq!(read(&img, 2, M - 10, 20), fill(0, 20));
        let top = read(&img, 0, 0, 2 * M);
        assert!(top == qemu_contents(&s, "top.qcow2"));
        let mid = read(&img, 1, 0, M);
        assert!(mid == qemu_contents(&s, "mid.qcow2"));
        assert_eq!(
            kind(img.read_at(3, &mut [0], 0)),
            io::ErrorKind::InvalidInput
        );
        drop(img);

        // Writing into the top copies on write from the chain.
        let img = Image::open(&s, "top.qcow2", &rw()).unwrap();
        let mut model = top;
        img.write_at(b"hello", 300 * K).unwrap();
        model[300 * K as usize..300 * K as usize + 5].copy_from_slice(b"hello");
        img.write_at(b"world", 520 * K).unwrap();
        model[520 * K as usize..520 * K as usize + 5].copy_from_slice(b"world");
        assert!(read(&img, 0, 0, 2 * M) == model);
        assert_eq!(img.status(0, 256 * K, u64::MAX).unwrap(), (64 * K, Data));
        img.flush().unwrap();
        drop(img);
        check(&s, "top.qcow2");
        compare(&s, "top.qcow2", Format::Qcow2, &model);
    }

    #[test]
    fn qcow2_without_backing_has_no_unallocated() {
        use Alloc::*;
        let s = sr();
        create(&s, "q.qcow2", Format::Qcow2, M, None).unwrap();
        qemu_io(
            &s,
            "qcow2",
            "q.qcow2",
            &[
                "write -P 1 64k 128k",
                "write -z 128k 64k",
                "write -z 512k 64k",
            ],
        );
        let img = Image::open(&s, "q.qcow2", &OpenOptions::default()).unwrap();
        assert_eq!(
            runs(&img, 0),
            [
                (0, 64 * K, Zero),
                (64 * K, 128 * K, Data),
                (128 * K, M, Zero)
            ]
        );
        assert_eq!(
            read(&img, 0, 100 * K, 60 * K)[..28 * K as usize],
            vec![1; 28 * K as usize]
        );
        assert!(read(&img, 0, 128 * K, 64 * K).iter().all(|&b| b == 0));
    }

    #[test]
    fn raw_holes_and_write_zeroes() {
        use Alloc::*;
        let s = sr();
        create(&s, "r.raw", Format::Raw, 8 * M, None).unwrap();
        let img = Image::open(&s, "r.raw", &rw()).unwrap();
        img.write_at(&vec![0xaa; M as usize], M).unwrap();
        img.flush().unwrap();
        assert_eq!(
            runs(&img, 0),
            [(0, M, Zero), (M, 2 * M, Data), (2 * M, 8 * M, Zero)]
        );
        let blocks = || std::fs::metadata(s.root().join("r.raw")).unwrap().blocks();
        let before = blocks();
        img.write_zeroes(M + 4 * K, 512 * K).unwrap();
        img.flush().unwrap();
        assert!(
            before - blocks() >= 512 * K / 512,
            "{before} -> {}",
            blocks()
        );
        assert!(read(&img, 0, M + 4 * K, 512 * K).iter().all(|&b| b == 0));
        assert_eq!(img.status(0, M + 4 * K, u64::MAX).unwrap(), (512 * K, Zero));
        assert_eq!(img.status(0, M, u64::MAX).unwrap(), (4 * K, Data));
        // Unaligned: the neighbours stay.
        img.write_zeroes(M + 600 * K + 100, 1000).unwrap();
        let r = read(&img, 0, M + 600 * K, 2 * K);
        assert!(r[..100].iter().all(|&b| b == 0xaa));
        assert!(r[100..1100].iter().all(|&b| b == 0));
        assert!(r[1100..].iter().all(|&b| b == 0xaa));
        assert_eq!(
            kind(img.write_zeroes(8 * M - 1, 2)),
            io::ErrorKind::InvalidInput
        );
        img.write_zeroes(0, 0).unwrap();
    }

    #[test]
    fn qcow2_write_zeroes_hides_the_backing() {
        let s = sr();
        create(&s, "base.raw", Format::Raw, 4 * M, None).unwrap();
        {
            let b = Image::open(&s, "base.raw", &rw()).unwrap();
            b.write_at(&vec![0x11; 4 * M as usize], 0).unwrap();
            b.flush().unwrap();
        }
        create(&s, "top.qcow2", Format::Qcow2, 4 * M, Some("base.raw")).unwrap();
        let img = Image::open(&s, "top.qcow2", &rw()).unwrap();
        let mut model = vec![0x11u8; 4 * M as usize];
        img.write_at(&vec![0x22; 256 * K as usize], 0).unwrap();
        model[..256 * K as usize].fill(0x22);
        for (off, len) in [(1000, 200_000), (M, M), (3 * M + 1, 1)] {
            img.write_zeroes(off, len).unwrap();
            model[off as usize..(off + len) as usize].fill(0);
        }
        assert!(read(&img, 0, 0, 4 * M) == model);
        assert_eq!(img.status(0, M, u64::MAX).unwrap(), (M, Alloc::Zero));
        img.flush().unwrap();
        drop(img);
        check(&s, "top.qcow2");
        compare(&s, "top.qcow2", Format::Qcow2, &model);

        // qcow2 v2 has no zero clusters: zeroes are written.
        qemu_img(
            &s,
            &[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-o",
                "compat=0.10",
                "v2.qcow2",
                "1M",
            ],
        );
        let img = Image::open(&s, "v2.qcow2", &rw()).unwrap();
        img.write_at(&vec![7; 256 * K as usize], 0).unwrap();
        img.write_zeroes(5, 64 * K + 3).unwrap();
        let r = read(&img, 0, 0, 256 * K);
        assert!(r[..5].iter().all(|&b| b == 7));
        assert!(r[5..64 * K as usize + 8].iter().all(|&b| b == 0));
        assert!(r[64 * K as usize + 8..].iter().all(|&b| b == 7));
        img.flush().unwrap();
        drop(img);
        check(&s, "v2.qcow2");
    }

    /// Runs `f` on a thread, failing if it does not finish in time (so that
    /// opening a FIFO by mistake fails the test instead of hanging it).
    fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("did not finish: something outside the SR was opened")
    }

    #[test]
    fn hostile_backing_names_are_refused_unopened() {
        let s = sr();
        let outside = std::env::temp_dir().join(format!("xapid-outside-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&outside).unwrap();
        let fifo = outside.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::fs::write(outside.join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(&fifo, s.root().join("fifolink")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), s.root().join("secretlink")).unwrap();
        create(&s, "good.raw", Format::Raw, M, None).unwrap();
        let out_name = outside.file_name().unwrap().to_str().unwrap();
        let hostile = [
            "/etc/passwd".to_string(),
            fifo.to_str().unwrap().to_string(),
            format!("../{out_name}/fifo"),
            format!("../{out_name}/secret"),
            s.root().join("good.raw").to_str().unwrap().to_string(),
            "./good.raw".to_string(),
            "fifolink".to_string(),
            "secretlink".to_string(),
            "missing.raw".to_string(),
        ];
        for (i, b) in hostile.iter().enumerate() {
            let name = format!("evil{i}.qcow2");
            create(&s, &name, Format::Qcow2, M, None).unwrap();
            let f = s.open_file(&name, true).unwrap();
            Header::set_backing(&f, Some((b, "raw"))).unwrap();
            let s2 = s.0.clone();
            let (p, o) = within(move || {
                (
                    probe(&s2, &name).map(|_| ()),
                    Image::open(&s2, &name, &OpenOptions::default()).map(|_| ()),
                )
            });
            let e = p.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{b}: {e}");
            assert!(e.to_string().contains("not allowed"), "{b}: {e}");
            assert_eq!(kind(o), io::ErrorKind::InvalidData, "{b}");
        }
        // One layer down: probing the top is fine, opening the chain is not.
        create(&s, "chain.qcow2", Format::Qcow2, M, None).unwrap();
        let f = s.open_file("chain.qcow2", true).unwrap();
        Header::set_backing(&f, Some(("evil0.qcow2", "qcow2"))).unwrap();
        assert_eq!(
            probe(&s, "chain.qcow2").unwrap().backing.as_deref(),
            Some("evil0.qcow2")
        );
        let e = Image::open(&s, "chain.qcow2", &OpenOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("/etc/passwd"), "{e}");
        // Nor can it be used as a backing file.
        assert_eq!(
            kind(create(&s, "x.qcow2", Format::Qcow2, M, Some("evil0.qcow2"))),
            io::ErrorKind::InvalidData
        );
        assert!(!s.root().join("x.qcow2").exists());
        // External data files are names too; imago would open them.
        qemu_img(
            &s,
            &[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-o",
                "data_file=data.raw",
                "ext.qcow2",
                "1M",
            ],
        );
        let e = probe(&s, "ext.qcow2").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert_eq!(
            kind(Image::open(&s, "ext.qcow2", &OpenOptions::default())),
            io::ErrorKind::InvalidData
        );
        // A symlink is not an image either.
        assert!(probe(&s, "secretlink").is_err());
        assert!(Image::open(&s, "secretlink", &OpenOptions::default()).is_err());
        std::fs::remove_dir_all(outside).unwrap();
    }

    #[test]
    fn recorded_raw_backing_is_not_probed() {
        // A raw disk whose guest wrote a qcow2 header naming /etc/passwd:
        // as the recorded raw backing of an overlay, it stays raw.
        let s = sr();
        create(&s, "evil.qcow2", Format::Qcow2, M, None).unwrap();
        let f = s.open_file("evil.qcow2", true).unwrap();
        Header::set_backing(&f, Some(("/etc/passwd", "raw"))).unwrap();
        create(&s, "top.qcow2", Format::Qcow2, M, None).unwrap();
        let f = s.open_file("top.qcow2", true).unwrap();
        Header::set_backing(&f, Some(("evil.qcow2", "raw"))).unwrap();
        let img = Image::open(&s, "top.qcow2", &OpenOptions::default()).unwrap();
        assert_eq!(img.layer_format(1).unwrap(), Format::Raw);
        assert_eq!(&read(&img, 0, 0, 4), b"QFI\xfb");
        let raw = Image::open_format(&s, "evil.qcow2", Format::Raw, &OpenOptions::default());
        assert_eq!(raw.unwrap().format(), Format::Raw);
    }

    #[test]
    fn loops_and_deep_chains_are_refused() {
        let s = sr();
        create(&s, "a.qcow2", Format::Qcow2, M, None).unwrap();
        create(&s, "b.qcow2", Format::Qcow2, M, Some("a.qcow2")).unwrap();
        // set_backing refuses to make the loop...
        for (img, b) in [("a.qcow2", "b.qcow2"), ("a.qcow2", "a.qcow2")] {
            assert_eq!(
                kind(set_backing(&s, img, Some(b))),
                io::ErrorKind::InvalidInput
            );
        }
        // ...but a header may have one.
        let f = s.open_file("a.qcow2", true).unwrap();
        Header::set_backing(&f, Some(("b.qcow2", "qcow2"))).unwrap();
        let e = Image::open(&s, "b.qcow2", &OpenOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("loop"), "{e}");
        Header::set_backing(&f, Some(("a.qcow2", "qcow2"))).unwrap();
        assert_eq!(
            kind(Image::open(&s, "a.qcow2", &OpenOptions::default())),
            io::ErrorKind::InvalidData
        );

        create(&s, "l0", Format::Raw, M, None).unwrap();
        for i in 1..=MAX_CHAIN {
            create(
                &s,
                &format!("l{i}"),
                Format::Qcow2,
                M,
                Some(&format!("l{}", i - 1)),
            )
            .unwrap();
        }
        let img = Image::open(&s, &format!("l{}", MAX_CHAIN - 1), &OpenOptions::default()).unwrap();
        assert_eq!(img.depth(), MAX_CHAIN);
        let e = Image::open(&s, &format!("l{MAX_CHAIN}"), &OpenOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }

    #[test]
    fn resize_grows_only() {
        let s = sr();
        create(&s, "r.raw", Format::Raw, M, None).unwrap();
        resize(&s, "r.raw", 2 * M).unwrap();
        assert_eq!(info(&s, "r.raw")["virtual-size"], 2 * M);
        for bad in [M, 2 * M - 512, 2 * M - 1, MAX_SIZE + 1, u64::MAX] {
            assert_eq!(
                kind(resize(&s, "r.raw", bad)),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
        resize(&s, "r.raw", 2 * M).unwrap();
        // A raw file may have any length.
        resize(&s, "r.raw", 2 * M + 1).unwrap();
        assert_eq!(probe(&s, "r.raw").unwrap().virtual_size, 2 * M + 1);

        create(&s, "q.qcow2", Format::Qcow2, M, None).unwrap();
        {
            let img = Image::open(&s, "q.qcow2", &rw()).unwrap();
            img.write_at(&pattern(1, 100_000), M - 100_000).unwrap();
            img.flush().unwrap();
        }
        resize(&s, "q.qcow2", 3 * M).unwrap();
        assert_eq!(info(&s, "q.qcow2")["virtual-size"], 3 * M);
        check(&s, "q.qcow2");
        assert_eq!(kind(resize(&s, "q.qcow2", M)), io::ErrorKind::InvalidInput);
        assert_eq!(
            kind(resize(&s, "q.qcow2", 4 * M + 1)),
            io::ErrorKind::InvalidInput
        );
        let img = Image::open(&s, "q.qcow2", &OpenOptions::default()).unwrap();
        assert_eq!(img.size(), 3 * M);
        assert_eq!(read(&img, 0, M - 100_000, 100_000), pattern(1, 100_000));
        assert!(read(&img, 0, M, 2 * M).iter().all(|&b| b == 0));

        // An overlay shorter than its backing: the grown range reads as
        // zeroes, not as the backing file (as QEMU does it).
        create(&s, "base.raw", Format::Raw, 4 * M, None).unwrap();
        {
            let b = Image::open(&s, "base.raw", &rw()).unwrap();
            b.write_at(&vec![0x11; 4 * M as usize], 0).unwrap();
            b.flush().unwrap();
        }
        create(&s, "top.qcow2", Format::Qcow2, M + 512, Some("base.raw")).unwrap();
        resize(&s, "top.qcow2", 6 * M).unwrap();
        assert_eq!(info(&s, "top.qcow2")["virtual-size"], 6 * M);
        check(&s, "top.qcow2");
        let mut model = vec![0u8; 6 * M as usize];
        model[..M as usize + 512].fill(0x11);
        compare(&s, "top.qcow2", Format::Qcow2, &model);
        let img = Image::open(&s, "top.qcow2", &OpenOptions::default()).unwrap();
        assert!(read(&img, 0, 0, 6 * M) == model);
        create(&s, "top2.qcow2", Format::Qcow2, M, Some("base.raw")).unwrap();
        resize(&s, "top2.qcow2", 2 * M).unwrap();
        check(&s, "top2.qcow2");
        let mut model = vec![0u8; 2 * M as usize];
        model[..M as usize].fill(0x11);
        compare(&s, "top2.qcow2", Format::Qcow2, &model);
    }

    #[test]
    fn set_backing_rewrites_the_pointer() {
        let s = sr();
        create(&s, "base1.raw", Format::Raw, M, None).unwrap();
        create(&s, "base2.qcow2", Format::Qcow2, M, None).unwrap();
        create(&s, "top.qcow2", Format::Qcow2, M, Some("base1.raw")).unwrap();
        set_backing(&s, "top.qcow2", Some("base2.qcow2")).unwrap();
        let i = info(&s, "top.qcow2");
        assert_eq!(i["backing-filename"], "base2.qcow2", "{i}");
        assert_eq!(i["backing-filename-format"], "qcow2", "{i}");
        check(&s, "top.qcow2");
        let img = Image::open(&s, "top.qcow2", &OpenOptions::default()).unwrap();
        assert_eq!(img.layers(), ["top.qcow2", "base2.qcow2"]);
        drop(img);
        set_backing(&s, "top.qcow2", None).unwrap();
        let i = info(&s, "top.qcow2");
        assert!(i.get("backing-filename").is_none(), "{i}");
        check(&s, "top.qcow2");
        set_backing(&s, "top.qcow2", Some("base1.raw")).unwrap();
        assert_eq!(info(&s, "top.qcow2")["backing-filename-format"], "raw");
        for bad in ["/etc/passwd", "../base1.raw", "missing", "top.qcow2"] {
            assert_eq!(
                kind(set_backing(&s, "top.qcow2", Some(bad))),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
        assert_eq!(
            kind(set_backing(&s, "base1.raw", Some("base2.qcow2"))),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            probe(&s, "top.qcow2").unwrap().backing.as_deref(),
            Some("base1.raw")
        );
    }

    #[test]
    fn lower_layers_can_be_written_for_commit() {
        let s = sr();
        create(&s, "base.qcow2", Format::Qcow2, M, None).unwrap();
        create(&s, "top.qcow2", Format::Qcow2, M, Some("base.qcow2")).unwrap();
        let opts = OpenOptions {
            write: false,
            write_layers: vec!["base.qcow2".into()],
        };
        let img = Image::open(&s, "top.qcow2", &opts).unwrap();
        assert!(!img.layer_writable(0).unwrap() && img.layer_writable(1).unwrap());
        assert_eq!(kind(img.write_at(b"x", 0)), io::ErrorKind::PermissionDenied);
        img.write_layer_at(1, &pattern(5, 70_000), 1000).unwrap();
        img.write_zeroes_layer(1, 2000, 10).unwrap();
        let mut want = pattern(5, 70_000);
        want[1000..1010].fill(0);
        assert_eq!(read(&img, 0, 1000, 70_000), want);
        assert_eq!(img.status(1, 0, u64::MAX).unwrap(), (128 * K, Alloc::Data));
        assert_eq!(img.status(0, 0, u64::MAX).unwrap(), (M, Alloc::Unallocated));
        img.flush().unwrap();
        drop(img);
        check(&s, "base.qcow2");
        check(&s, "top.qcow2");
        let bad = OpenOptions {
            write: true,
            write_layers: vec!["other".into()],
        };
        assert_eq!(
            kind(Image::open(&s, "top.qcow2", &bad)),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn injected_faults_reach_callers() {
        fault::enable();
        let s = sr();
        create(&s, "q.qcow2", Format::Qcow2, M, None).unwrap();
        create(&s, "r.raw", Format::Raw, M, None).unwrap();
        for name in ["q.qcow2", "r.raw"] {
            let img = Image::open(&s, name, &rw()).unwrap();
            let path = s.path(name).unwrap();
            fault::set(&path, Some(fault::parse("read:EIO@0x10000*1").unwrap()));
            let mut buf = vec![0u8; 4096];
            img.read_at(0, &mut buf, 0).unwrap();
            let e = img.read_at(0, &mut buf, 65536 - 10).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EIO), "{name}");
            img.read_at(0, &mut buf, 65536).unwrap();
            fault::set(&path, Some(fault::parse("write:ENOSPC").unwrap()));
            let e = img.write_at(b"x", 5).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{name}");
            let e = img.write_zeroes(0, 512).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{name}");
            fault::set(&path, None);
            img.write_at(b"x", 5).unwrap();
            img.flush().unwrap();
        }
    }

    /// Writes and reads back a pattern through a shared image.
    fn exercise(img: &Image, seed: u64, offset: u64, len: usize) {
        let data = pattern(seed, len);
        for (i, chunk) in data.chunks(64 * 1024 + 13).enumerate() {
            img.write_at(chunk, offset + (i * (64 * 1024 + 13)) as u64)
                .unwrap();
        }
        assert!(read(img, 0, offset, len as u64) == data);
    }

    #[test]
    fn works_from_threads_and_inside_tokio() {
        let s = sr();
        create(&s, "q.qcow2", Format::Qcow2, 8 * M, None).unwrap();
        let img = Arc::new(Image::open(&s, "q.qcow2", &rw()).unwrap());
        // Plain threads, concurrently.
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let img = Arc::clone(&img);
                std::thread::spawn(move || exercise(&img, t, t * 2 * M, 2 * M as usize - 7))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // tokio's blocking threads, and (blocking, but not panicking) a
        // runtime's own thread.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let i2 = Arc::clone(&img);
        rt.block_on(async move {
            let tasks: Vec<_> = (0..2u64)
                .map(|t| {
                    let img = Arc::clone(&i2);
                    tokio::task::spawn_blocking(move || {
                        exercise(&img, 10 + t, t * 4 * M + 12345, M as usize)
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            exercise(&i2, 20, 7 * M, 1000);
        });
        let i3 = Arc::clone(&img);
        let local = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        local.block_on(async move {
            tokio::spawn(async move { exercise(&i3, 21, 7 * M + 5000, 1000) })
                .await
                .unwrap()
        });
        img.flush().unwrap();
        let img = Arc::into_inner(img).unwrap();
        drop(img);
        check(&s, "q.qcow2");
        let img = Image::open(&s, "q.qcow2", &OpenOptions::default()).unwrap();
        assert_eq!(read(&img, 0, 7 * M + 5000, 1000), pattern(21, 1000));
    }

    #[test]
    fn raw_files_of_any_length() {
        use Alloc::*;
        let s = sr();
        // Created (as VDI.copy does for a copy of a 5-byte file), or placed
        // by hand.
        create(&s, "five.raw", Format::Raw, 5, None).unwrap();
        assert_eq!(
            std::fs::metadata(s.root().join("five.raw")).unwrap().len(),
            5
        );
        let p = probe(&s, "five.raw").unwrap();
        assert_eq!((p.format, p.virtual_size), (Format::Raw, 5));
        let img = Image::open(&s, "five.raw", &rw()).unwrap();
        assert_eq!(img.size(), 5);
        assert_eq!(img.status(0, 0, u64::MAX).unwrap(), (5, Zero));
        img.write_at(b"hello", 0).unwrap();
        assert_eq!(read(&img, 0, 0, 5), b"hello");
        assert_eq!(img.status(0, 0, u64::MAX).unwrap(), (5, Data));
        assert_eq!(img.status(0, 3, u64::MAX).unwrap(), (2, Data));
        assert_eq!(img.status(0, 5, u64::MAX).unwrap(), (0, Zero));
        assert_eq!(read(&img, 0, 3, 10), b"lo\0\0\0\0\0\0\0\0");
        img.write_zeroes(1, 3).unwrap();
        assert_eq!(read(&img, 0, 0, 5), b"h\0\0\0o");
        assert_eq!(kind(img.write_at(b"!!", 4)), io::ErrorKind::InvalidInput);
        assert_eq!(kind(img.write_zeroes(0, 6)), io::ErrorKind::InvalidInput);
        img.write_zeroes(0, 5).unwrap();
        img.write_at(b"x", 4).unwrap();
        img.flush().unwrap();
        drop(img);
        assert_eq!(
            std::fs::read(s.root().join("five.raw")).unwrap(),
            b"\0\0\0\0x"
        );

        // Larger, with a partial last block and a hole before it.
        let n = 3 * 65536 + 123;
        std::fs::write(s.root().join("odd.raw"), pattern(7, n as usize)).unwrap();
        let img = Image::open(&s, "odd.raw", &rw()).unwrap();
        assert_eq!(img.size(), n);
        img.write_zeroes(65536, n - 65536).unwrap();
        let mut model = pattern(7, n as usize);
        model[65536..].fill(0);
        img.write_at(b"tail", n - 4).unwrap();
        model[n as usize - 4..].copy_from_slice(b"tail");
        assert!(read(&img, 0, 0, n) == model);
        // Every byte is in some run, and the runs end at the file's end.
        let rs = runs(&img, 0);
        assert_eq!(rs.first().unwrap().0, 0);
        assert_eq!(rs.last().unwrap().1, n);
        assert_eq!(rs.last().unwrap().2, Data);
        img.flush().unwrap();
        drop(img);
        compare(&s, "odd.raw", Format::Raw, &model);

        // Copying one image into another, as a job does.
        create(&s, "copy.raw", Format::Raw, n, None).unwrap();
        let src = Image::open(&s, "odd.raw", &OpenOptions::default()).unwrap();
        let dst = Image::open(&s, "copy.raw", &rw()).unwrap();
        let mut pos = 0;
        while pos < n {
            let (len, a) = src.status(0, pos, 65536).unwrap();
            assert!(len > 0);
            if a == Data {
                let buf = read(&src, 0, pos, len);
                dst.write_at(&buf, pos).unwrap();
            } else {
                dst.write_zeroes(pos, len).unwrap();
            }
            pos += len;
        }
        dst.flush().unwrap();
        assert_eq!(std::fs::read(s.root().join("copy.raw")).unwrap(), model);
    }

    #[test]
    fn raw_backing_of_any_length() {
        use Alloc::*;
        let s = sr();
        for n in [5u64, 1000, 3 * 65536 + 123] {
            let base = format!("base{n}.raw");
            let top = format!("top{n}.qcow2");
            std::fs::write(s.root().join(&base), pattern(n, n as usize)).unwrap();
            let size = (n + 600).next_multiple_of(512);
            create(&s, &top, Format::Qcow2, size, Some(&base)).unwrap();
            let mut model = vec![0u8; size as usize];
            model[..n as usize].copy_from_slice(&pattern(n, n as usize));
            let img = Image::open(&s, &top, &rw()).unwrap();
            assert_eq!(img.layer_size(1).unwrap(), n);
            assert!(read(&img, 0, 0, size) == model, "{n}");
            assert!(read(&img, 1, 0, size) == model, "{n}");
            assert_eq!(img.status(1, n, u64::MAX).unwrap(), (size - n, Zero));
            assert_eq!(img.status(1, 0, u64::MAX).unwrap().1, Data);
            // A write into the cluster holding the backing's end copies
            // the rest of that cluster up from it.
            let at = n.saturating_sub(3);
            img.write_at(b"abcdef", at).unwrap();
            model[at as usize..at as usize + 6].copy_from_slice(b"abcdef");
            assert!(read(&img, 0, 0, size) == model, "{n}");
            img.flush().unwrap();
            drop(img);
            check(&s, &top);
            compare(&s, &top, Format::Qcow2, &model);

            // Growing past the backing's end: as QEMU does, what was not
            // visible before reads as zeroes.
            let grown = size + 4 * 65536;
            resize(&s, &top, grown).unwrap();
            model.resize(grown as usize, 0);
            check(&s, &top);
            compare(&s, &top, Format::Qcow2, &model);
            let img = Image::open(&s, &top, &OpenOptions::default()).unwrap();
            assert!(read(&img, 0, 0, grown) == model, "{n}");
        }
        // An overlay shorter than its odd-sized backing, grown over it.
        let n = 3 * 65536 + 123;
        create(
            &s,
            "short.qcow2",
            Format::Qcow2,
            65536 + 512,
            Some(&format!("base{n}.raw")),
        )
        .unwrap();
        resize(&s, "short.qcow2", 4 * 65536).unwrap();
        let mut model = vec![0u8; 4 * 65536];
        model[..65536 + 512].copy_from_slice(&pattern(n, 65536 + 512));
        check(&s, "short.qcow2");
        compare(&s, "short.qcow2", Format::Qcow2, &model);
    }

    // Crash consistency of qcow2 images written through `Image`.

    /// A registered file: after writes through a guarded imago storage,
    /// its bytes are copied and the copy checked by `qemu-img check`.
    struct Watch {
        /// Snapshot every metadata write, and every `every`-th other one.
        every: u64,
        others: u64,
        taken: u64,
        tx: std::sync::mpsc::SyncSender<PathBuf>,
    }

    static WATCHES: std::sync::Mutex<Vec<(PathBuf, Watch)>> = std::sync::Mutex::new(Vec::new());
    static WATCHING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Called by `GuardedFile` after each write it passes on (`meta`:
    /// through the guard).
    pub(super) fn after_write(path: &Path, meta: bool) {
        if WATCHING.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut ws = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
        let Some((_, w)) = ws.iter_mut().find(|(p, _)| p == path) else {
            return;
        };
        if !meta {
            w.others += 1;
            if w.others % w.every != 0 {
                return;
            }
        }
        w.taken += 1;
        let snap = path.with_file_name(format!(
            "{}.snap{}",
            path.file_name().unwrap().to_string_lossy(),
            w.taken
        ));
        std::fs::copy(path, &snap).unwrap();
        w.tx.send(snap).unwrap();
    }

    /// `qemu-img check` of an image as a crash left it: errors (not leaks)
    /// are failures.
    fn crash_check(path: &Path) -> Result<(), String> {
        let out = Command::new("qemu-img")
            .arg("check")
            .arg(path)
            .output()
            .expect("qemu-img runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        match out.status.code() {
            Some(0 | 3) if !text.contains("ERROR") => Ok(()),
            c => Err(format!("{}: exit {c:?}\n{text}", path.display())),
        }
    }

    /// Checks snapshots of `path` on a few threads while a test writes.
    struct Watcher {
        path: PathBuf,
        threads: Vec<std::thread::JoinHandle<(u64, Vec<String>)>>,
    }

    impl Watcher {
        fn start(path: PathBuf, every: u64) -> Watcher {
            let (tx, rx) = std::sync::mpsc::sync_channel::<PathBuf>(16);
            let rx = Arc::new(std::sync::Mutex::new(rx));
            let threads = (0..4)
                .map(|_| {
                    let rx = Arc::clone(&rx);
                    std::thread::spawn(move || {
                        let (mut n, mut bad) = (0, Vec::new());
                        loop {
                            let next = rx.lock().unwrap().recv();
                            let Ok(snap) = next else { break };
                            if let Err(e) = crash_check(&snap) {
                                bad.push(e);
                            }
                            std::fs::remove_file(&snap).unwrap();
                            n += 1;
                        }
                        (n, bad)
                    })
                })
                .collect();
            let w = Watch {
                every,
                others: 0,
                taken: 0,
                tx,
            };
            WATCHES.lock().unwrap().push((path.clone(), w));
            WATCHING.fetch_add(1, Ordering::AcqRel);
            Watcher { path, threads }
        }

        /// How many states were checked, and the failures.
        fn finish(self) -> (u64, Vec<String>) {
            {
                let mut ws = WATCHES.lock().unwrap();
                ws.retain(|(p, _)| p != &self.path);
            }
            WATCHING.fetch_sub(1, Ordering::AcqRel);
            let (mut n, mut bad) = (0, Vec::new());
            for t in self.threads {
                let (k, b) = t.join().unwrap();
                n += k;
                bad.extend(b);
            }
            (n, bad)
        }
    }

    /// `qemu-img create` of a qcow2 with small clusters and wide refcounts,
    /// so that few writes need many refblocks and a growing refcount table.
    fn small_cluster_qcow2(s: &SrDir, name: &str, size: &str) {
        qemu_img(
            s,
            &[
                "create",
                "-q",
                "-f",
                "qcow2",
                "-o",
                "cluster_size=512,refcount_bits=64",
                name,
                size,
            ],
        );
    }

    /// Piece `k` of a crash test round: 16 bytes naming it, then one byte
    /// repeated.
    fn piece(round: u64, k: u64, len: usize) -> Vec<u8> {
        let mut v = vec![((k * 7 + round * 13) % 251 + 1) as u8; len];
        v[..8].copy_from_slice(&round.to_be_bytes());
        v[8..16].copy_from_slice(&k.to_be_bytes());
        v
    }

    /// Where the crash tests write: `slots` places `step` bytes apart,
    /// each used by successive passes and rounds at `len` bytes apart.
    #[derive(Clone, Copy, Debug)]
    struct Plan {
        size: u64,
        step: u64,
        len: usize,
        /// Added to every offset (unaligned writes copy on write).
        skew: u64,
        flush_every: u64,
        max: u64,
    }

    const ROUNDS: u64 = 4;

    impl Plan {
        fn of(variant: &str) -> Plan {
            match variant {
                // 64 KiB clusters: a new L2 table every 512 MiB.
                "fresh" => Plan {
                    size: 1 << 40,
                    step: 512 * M,
                    len: 64 << 10,
                    skew: 0,
                    flush_every: 61,
                    max: 40_000,
                },
                "overlay" => Plan {
                    size: 1 << 40,
                    step: 512 * M,
                    len: 64 << 10,
                    skew: 4096 + 17,
                    flush_every: 61,
                    max: 40_000,
                },
                // 512-byte clusters, 64-bit refcounts: a new L2 table every
                // 32 KiB, a new refblock every 64 clusters.
                "small" => Plan {
                    size: 256 * M,
                    step: 64 * K,
                    len: 4096,
                    skew: 0,
                    flush_every: 97,
                    max: 4096 * (64 * K / 4096 / ROUNDS),
                },
                v => panic!("variant {v}"),
            }
        }

        fn offset(&self, round: u64, k: u64) -> u64 {
            let slots = self.size / self.step;
            let (slot, pass) = (k % slots, k / slots);
            let off = slot * self.step + (pass * ROUNDS + round) * self.len as u64 + self.skew;
            assert!(off + self.len as u64 <= (slot + 1) * self.step);
            off
        }
    }

    /// Run by the crash tests in a process of their own (which they kill):
    /// writes the pieces of a round into an image, printing how many have
    /// been flushed after each flush.
    #[test]
    fn crash_child() {
        let Ok(spec) = std::env::var("XAPID_CRASH_CHILD") else {
            return;
        };
        let v: Vec<&str> = spec.split('|').collect();
        let (dir, name, variant) = (v[0], v[1], v[2]);
        let (round, max) = (v[3].parse::<u64>().unwrap(), v[4].parse::<u64>().unwrap());
        let plan = Plan::of(variant);
        let s = SrDir::open(Path::new(dir)).unwrap();
        let img = Image::open(&s, name, &rw()).unwrap();
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
        for k in 0..max {
            img.write_at(&piece(round, k, plan.len), plan.offset(round, k))
                .unwrap();
            if (k + 1) % plan.flush_every == 0 {
                img.flush().unwrap();
                writeln!(out, "flushed {}", k + 1).unwrap();
                out.flush().unwrap();
            }
        }
        img.flush().unwrap();
        writeln!(out, "flushed {max}").unwrap();
    }

    fn random_u64() -> u64 {
        uuid::Uuid::new_v4().as_u128() as u64
    }

    /// Checks that pieces `0..n` of `round` read back (through `Image` and
    /// through QEMU).
    fn check_pieces(s: &SrDir, name: &str, plan: &Plan, round: u64, n: u64) {
        let img = Image::open(s, name, &OpenOptions::default()).unwrap();
        let mut cmds = Vec::new();
        for k in 0..n {
            let off = plan.offset(round, k);
            let want = piece(round, k, plan.len);
            assert!(
                read(&img, 0, off, plan.len as u64) == want,
                "round {round} piece {k} of {n} at {off}"
            );
            if k % 13 == 0 || k + 1 == n {
                cmds.push(format!(
                    "read -P {} {} {}",
                    want[16],
                    off + 16,
                    plan.len - 16
                ));
            }
        }
        drop(img);
        for chunk in cmds.chunks(200) {
            let mut args = vec!["-r", "-f", "qcow2"];
            for c in chunk {
                args.extend_from_slice(&["-c", c]);
            }
            args.push(name);
            let out = run("qemu-io", &args, s.root());
            assert!(
                !out.contains("failed") && !out.to_lowercase().contains("error"),
                "qemu-io: {out}"
            );
        }
    }

    /// Rounds of: a child writes pieces into `name`, flushing now and
    /// then, and is SIGKILLed at a random moment; the file must pass
    /// `qemu-img check` (leaks allowed) and every piece a flush covered
    /// must read back. Then a last round writes into the crashed file
    /// without being killed.
    fn kill_rounds(s: &SrDir, name: &str, variant: &str) {
        use std::io::BufRead;
        let plan = Plan::of(variant);
        let path = s.path(name).unwrap();
        let mut flushed = Vec::new();
        for round in 0..ROUNDS {
            let last = round + 1 == ROUNDS;
            // The last round, not killed, is shorter.
            let max = if last { plan.max.min(3000) } else { plan.max };
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "storage::image::tests::crash_child",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(
                    "XAPID_CRASH_CHILD",
                    format!("{}|{name}|{variant}|{round}|{max}", s.root().display()),
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
            // The harness prints its own words first.
            for l in lines.by_ref() {
                if l.unwrap().ends_with("ready") {
                    break;
                }
            }
            if !last {
                std::thread::sleep(Duration::from_micros(1000 + random_u64() % 250_000));
                // SAFETY: signalling our own child, by its pid.
                unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            }
            let mut n = 0;
            for l in lines {
                if let Some(k) = l.unwrap().strip_prefix("flushed ") {
                    n = k.parse().unwrap();
                }
            }
            let status = child.wait().unwrap();
            assert_eq!(
                status.success(),
                last,
                "{variant} round {round}: {status:?}"
            );
            if let Err(e) = crash_check(&path) {
                panic!("{variant} round {round}, killed after {n} flushed pieces: {e}");
            }
            flushed.push(n);
            for (r, &n) in flushed.iter().enumerate() {
                check_pieces(s, name, &plan, r as u64, n);
            }
        }
        assert_eq!(flushed[ROUNDS as usize - 1], plan.max.min(3000));
        assert!(
            flushed[..ROUNDS as usize - 1].iter().any(|&n| n < plan.max),
            "no round was killed mid-way: {flushed:?}"
        );
    }

    #[test]
    fn killed_writer_leaves_consistent_qcow2() {
        let s = sr();
        create(&s, "t.qcow2", Format::Qcow2, 1 << 40, None).unwrap();
        kill_rounds(&s, "t.qcow2", "fresh");
    }

    #[test]
    fn killed_writer_leaves_consistent_overlay() {
        let s = sr();
        create(&s, "base.raw", Format::Raw, 1 << 40, None).unwrap();
        {
            let b = Image::open(&s, "base.raw", &rw()).unwrap();
            for i in 0..64u64 {
                b.write_at(&pattern(i, 256 * K as usize), i * (1 << 34))
                    .unwrap();
            }
            b.flush().unwrap();
        }
        create(&s, "t.qcow2", Format::Qcow2, 1 << 40, Some("base.raw")).unwrap();
        kill_rounds(&s, "t.qcow2", "overlay");
        // Copy-on-write kept the base's bytes around the pieces.
        let img = Image::open(&s, "t.qcow2", &OpenOptions::default()).unwrap();
        assert_eq!(read(&img, 0, 0, 4096), pattern(0, 256 * K as usize)[..4096]);
    }

    #[test]
    fn killed_writer_leaves_consistent_small_cluster_qcow2() {
        let s = sr();
        small_cluster_qcow2(&s, "t.qcow2", "256M");
        kill_rounds(&s, "t.qcow2", "small");
    }

    /// Every state the file passes through (after each metadata write and
    /// a sample of the others) passes `qemu-img check`, while an image is
    /// written without flushing, with flushes, zeroed, overwritten and
    /// grown; at the end, after a flush, it is clean and holds the data.
    fn every_state_is_consistent(
        s: &SrDir,
        name: &str,
        plan: &Plan,
        pieces: u64,
        grow: u64,
    ) -> bool {
        let path = s.path(name).unwrap();
        let roots = || Guard::load(File::open(&path).unwrap()).unwrap().roots;
        let start = roots();
        let w = Watcher::start(path.clone(), 7);
        let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        {
            let img = Image::open(s, name, &rw()).unwrap();
            for k in 0..pieces {
                let (off, data) = (plan.offset(0, k), piece(0, k, plan.len));
                img.write_at(&data, off).unwrap();
                model.insert(off, data);
                if k == pieces / 2 {
                    img.flush().unwrap();
                }
            }
            // Zeroing frees clusters; new writes reuse them.
            for k in (0..pieces).step_by(5) {
                let off = plan.offset(0, k);
                img.write_zeroes(off, plan.len as u64).unwrap();
                model.insert(off, vec![0; plan.len]);
            }
            for k in (0..pieces).step_by(3) {
                let (off, data) = (plan.offset(1, k), piece(1, k, plan.len));
                img.write_at(&data, off).unwrap();
                model.insert(off, data);
            }
            img.flush().unwrap();
        }
        let written = roots();
        // Growing moves the L1 table.
        resize(s, name, grow).unwrap();
        let grown = roots();
        assert_ne!(grown.l1_offset, written.l1_offset, "the L1 table moved");
        {
            let img = Image::open(s, name, &rw()).unwrap();
            for k in 0..pieces.min(64) {
                let off = plan.size + k * ((grow - plan.size) / 64);
                let data = piece(2, k, plan.len);
                img.write_at(&data, off).unwrap();
                model.insert(off, data);
            }
            img.flush().unwrap();
        }
        let (n, bad) = w.finish();
        assert!(
            bad.is_empty(),
            "{} of {n} states corrupt:\n{}",
            bad.len(),
            bad[0]
        );
        assert!(n > pieces, "only {n} states checked");
        // Whether the refcount table had to grow (and move).
        let rt_moved = written.rt_offset != start.rt_offset;
        // A clean close: no leaks either.
        check(s, name);
        let img = Image::open(s, name, &OpenOptions::default()).unwrap();
        for (&off, data) in &model {
            assert!(&read(&img, 0, off, data.len() as u64) == data, "at {off}");
        }
        drop(img);
        let cmds: Vec<String> = model
            .iter()
            .step_by(7)
            .map(|(off, d)| format!("read -P {} {} {}", d[16], off + 16, d.len() - 16))
            .collect();
        let mut args = vec!["-r", "-f", "qcow2"];
        for c in &cmds {
            args.extend_from_slice(&["-c", c]);
        }
        args.push(name);
        let out = run("qemu-io", &args, s.root());
        assert!(!out.contains("failed"), "qemu-io: {out}");
        rt_moved
    }

    #[test]
    fn every_intermediate_state_passes_check() {
        let s = sr();
        create(&s, "t.qcow2", Format::Qcow2, 1 << 40, None).unwrap();
        let plan = Plan {
            step: 16 << 30,
            ..Plan::of("fresh")
        };
        every_state_is_consistent(&s, "t.qcow2", &plan, 60, 4 << 40);
    }

    #[test]
    fn every_intermediate_state_passes_check_small_clusters() {
        let s = sr();
        small_cluster_qcow2(&s, "t.qcow2", "64M");
        let plan = Plan {
            size: 64 * M,
            ..Plan::of("small")
        };
        // Over 4096 clusters allocated: the refcount table grows.
        assert!(every_state_is_consistent(
            &s,
            "t.qcow2",
            &plan,
            520,
            1 << 30
        ));
    }

    #[test]
    fn long_unflushed_sequence_then_flush_is_clean() {
        let s = sr();
        create(&s, "base.raw", Format::Raw, 64 << 30, None).unwrap();
        create(&s, "t.qcow2", Format::Qcow2, 64 << 30, None).unwrap();
        create(&s, "o.qcow2", Format::Qcow2, 64 << 30, Some("base.raw")).unwrap();
        for name in ["t.qcow2", "o.qcow2"] {
            let mut model = Vec::new();
            {
                let img = Image::open(&s, name, &rw()).unwrap();
                for k in 0..128u64 {
                    let off = k * 512 * M + (k % 3) * 1000;
                    let data = piece(0, k, 64 << 10);
                    img.write_at(&data, off).unwrap();
                    model.push((off, data));
                }
                img.flush().unwrap();
            }
            let out = Command::new("qemu-img")
                .args(["check", name])
                .current_dir(s.root())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            let img = Image::open(&s, name, &OpenOptions::default()).unwrap();
            for (off, data) in &model {
                assert!(
                    &read(&img, 0, *off, data.len() as u64) == data,
                    "{name} at {off}"
                );
            }
            let mut args = vec!["-r".to_string(), "-f".into(), "qcow2".into()];
            for (off, d) in &model {
                args.push("-c".into());
                args.push(format!("read -P {} {} {}", d[16], off + 16, d.len() - 16));
            }
            args.push(name.into());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run("qemu-io", &args, s.root());
            assert!(!out.contains("failed"), "qemu-io: {out}");
        }
    }
}
