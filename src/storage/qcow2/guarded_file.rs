//! imago's `Storage` for xapid's image files: imago's own file storage,
//! with the metadata-ordering [`Guard`] in front of it for writable qcow2
//! layers.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use imago::file::File as ImagoFile;
use imago::io_buffers::{IoVector, IoVectorMut};
use imago::{Storage, StorageOpenOptions};

use super::header::Header;
use super::ordering::Guard;

/// Crash points: called (in test builds only) with the file's path after
/// each write `GuardedFile` passes on (`true`: a metadata write, through
/// the guard), so that the crash tests can copy the file as a kill at that
/// moment would leave it. Set once by those tests; production code has no
/// observer.
#[cfg(test)]
pub(crate) static WRITE_OBSERVER: std::sync::OnceLock<fn(&Path, bool)> = std::sync::OnceLock::new();

/// imago's file storage, for a writable qcow2 layer with a [`Guard`]
/// ordering its metadata writes (see [`ordering`](super::ordering)); for every other layer, imago's
/// file storage as it is.
#[derive(Debug)]
pub(crate) struct GuardedFile {
    inner: ImagoFile,
    guard: Option<std::sync::Mutex<Guard>>,
    /// For a qcow2 layer: where its clusters end (see [`Self::check_in_file`]).
    bounds: Option<Bounds>,
    #[cfg(test)]
    path: PathBuf,
}

/// What a qcow2 layer needs to tell a pointer past the end of its file.
#[derive(Debug)]
struct Bounds {
    cluster_bits: u32,
    /// The image file, to ask its length when imago's idea of it is short.
    file: File,
}

impl fmt::Display for GuardedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl GuardedFile {
    /// imago's storage for `file`; for a qcow2 (`qcow2`), reads of clusters
    /// past the end of the file are refused, and writes are guarded if
    /// `writable`.
    pub(crate) fn new(
        file: &File,
        path: &Path,
        writable: bool,
        qcow2: bool,
    ) -> io::Result<GuardedFile> {
        let inner = ImagoFile::from_open_file(
            file.try_clone()?,
            StorageOpenOptions::new().filename(path).write(writable),
        )?;
        let guard = if qcow2 && writable {
            Some(std::sync::Mutex::new(Guard::load(file.try_clone()?)?))
        } else {
            None
        };
        let bounds = if qcow2 {
            Some(Bounds {
                cluster_bits: Header::read(file)?.cluster_bits,
                file: file.try_clone()?,
            })
        } else {
            None
        };
        Ok(GuardedFile {
            inner,
            guard,
            bounds,
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
        self.after_write(true);
        r
    }

    /// Checks that every cluster `[offset, offset + len)` touches starts
    /// inside the file, else `InvalidData`. imago reads only what a pointer
    /// of the image's metadata (an L1, L2 or refcount table entry) places
    /// there, and its file storage fills what lies past the end of the file
    /// with zeroes: without this, a table pointed past the end would read
    /// as empty (unallocated: zeroes, or the backing file's data), and a
    /// data cluster as zeroes, so corrupt metadata would be served as data.
    /// QEMU refuses such images as corrupt too. The rule is per cluster,
    /// not per byte, because a file may legitimately end inside its last
    /// cluster (a table shorter than a cluster, compressed data).
    pub(crate) fn check_in_file(&self, offset: u64, len: u64) -> io::Result<()> {
        let Some(b) = &self.bounds else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        let last = offset.saturating_add(len - 1) >> b.cluster_bits << b.cluster_bits;
        // imago's idea of the length grows with each of its writes, so it
        // is the file's length but for writes through other descriptors
        // (the guard's refcounts): the file system is asked only then.
        if last < self.inner.size()? || last < b.file.metadata()?.len() {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: corrupt qcow2 metadata: {len} bytes at offset {offset:#x} \
                 lie past the end of the file",
                self.inner
            ),
        ))
    }

    /// Tells the crash-point observer, if any, that a write was passed on
    /// (`meta`: through the guard).
    fn after_write(&self, _meta: bool) {
        #[cfg(test)]
        if let Some(f) = WRITE_OBSERVER.get() {
            f(&self.path, _meta);
        }
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
        self.check_in_file(offset, bufv.len())?;
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
        self.after_write(false);
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
