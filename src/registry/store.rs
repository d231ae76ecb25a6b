//! The durable store: redb under the state directory, written by one thread
//! that commits in groups.
//!
//! ```text
//!  handlers --send(op, ack)--> [writer thread] --one write txn per batch--> xapid.redb
//!      ^                              |  commit (fsync)
//!      +-------- ack after commit ----+
//! ```
//!
//! A caller sends its change while it still holds the registry row's lock
//! (so changes to one row reach the disk in the order they were made), then
//! awaits the acknowledgement outside the lock. Everything that arrives
//! while a commit runs goes into the next one, so N concurrent writers pay
//! for one fsync, not N. Reads happen only at start-up.
//!
//! A change is made in memory before it is committed. If a commit fails,
//! the writer closes the *gate* (every durable change holds it open from
//! its change in memory until it is queued), refuses the failed batch and
//! everything queued behind it, has the registry take those changes back
//! ([`undo`](super::undo)), and only then tells their callers.

use std::path::Path;
use std::sync::{mpsc, Arc, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::undo::Undo;
use crate::metrics::{Histogram, HistogramSnapshot, LATENCY_BOUNDS};

/// What the writer calls with the changes a failed commit refused, in the
/// order they were made.
pub type OnRefused = Box<dyn Fn(Vec<Undo>) + Send>;

/// Object rows: `class/uuid-of-ref` -> JSON of `[[field, value], ...]`.
const ROWS: TableDefinition<&str, &[u8]> = TableDefinition::new("rows");
/// Server-wide settings: the root password hash, ...
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Most changes applied in one transaction.
const MAX_BATCH: usize = 4096;

/// Why the store failed: what it was doing, and the error underneath
/// (shared, so one failed commit can be told to every writer of its batch).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// redb failed.
    #[error("durable store: {what}: {source}")]
    Db {
        /// What the store was doing.
        what: &'static str,
        /// redb's error.
        #[source]
        source: Arc<redb::Error>,
    },
    /// The file system failed.
    #[error("durable store: {what}: {source}")]
    Io {
        /// What the store was doing.
        what: String,
        /// The error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The writer is gone (the store is closed).
    #[error("durable store: {0}")]
    Closed(&'static str),
}

impl StoreError {
    fn db(what: &'static str) -> impl FnOnce(redb::Error) -> StoreError {
        move |e| StoreError::Db {
            what,
            source: Arc::new(e),
        }
    }

    fn io(what: String) -> impl FnOnce(std::io::Error) -> StoreError {
        move |e| StoreError::Io {
            what,
            source: Arc::new(e),
        }
    }
}

impl StoreError {
    /// What a client is told when a change could not be made durable: the
    /// server's state directory failed (full, read-only, an I/O error),
    /// `SR_BACKEND_FAILURE [ENOSPC|EROFS|EIO, "", message]` as for a
    /// storage failure, never `INTERNAL_ERROR`. The change was not made
    /// durable; once the disk is back, the next change is.
    pub fn api_error(&self) -> crate::error::ApiError {
        let msg = self.to_string();
        let code = if msg.contains("os error 28") || msg.contains("No space left") {
            "ENOSPC"
        } else if msg.contains("os error 30") || msg.contains("Read-only file system") {
            "EROFS"
        } else {
            "EIO"
        };
        crate::error::ApiError::sr_backend_failure(
            code,
            "",
            format_args!("the server's durable store could not write: {msg}"),
        )
    }
}

/// Converts a redb error of any kind into `redb::Error`, naming the step.
macro_rules! db {
    ($e:expr, $what:literal) => {
        $e.map_err(|e| StoreError::db($what)(redb::Error::from(e)))
    };
}

/// One change.
#[derive(Debug)]
pub enum Op {
    /// Write a row.
    Put(String, Vec<u8>),
    /// Delete a row.
    Delete(String),
    /// Write a setting.
    PutMeta(String, Vec<u8>),
}

struct Batch {
    op: Op,
    ack: Option<oneshot::Sender<Result<(), StoreError>>>,
    undo: Option<Undo>,
}

/// A handle on the store; cheap to share (the sender is internally
/// synchronised).
pub struct Store {
    tx: std::sync::Mutex<Option<mpsc::Sender<Batch>>>,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// How long each commit (one batch, fsync included) took.
    commits: Arc<Histogram>,
    /// Held (shared) by a durable change from memory to the queue; the
    /// writer takes it alone to take refused changes back.
    gate: Arc<RwLock<()>>,
}

/// What start-up reads back.
pub struct Loaded {
    /// Every row: key and bytes.
    pub rows: Vec<(String, Vec<u8>)>,
    /// Every setting.
    pub meta: Vec<(String, Vec<u8>)>,
}

/// An acknowledgement to wait for: resolved once the change is on disk.
#[must_use = "a change is durable only once its Commit has been awaited"]
pub struct Commit(Option<oneshot::Receiver<Result<(), StoreError>>>);

impl Commit {
    /// Nothing to wait for (the change was not persisted).
    pub fn none() -> Commit {
        Commit(None)
    }

    /// Waits until the change is durable.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0 {
            None => Ok(()),
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err(StoreError::Closed("the store writer has stopped"))),
        }
    }
}

impl Store {
    /// Opens (or creates) `dir/xapid.redb`, reads everything, and starts the
    /// writer, which calls `on_refused` after a failed commit.
    pub fn open(dir: &Path, on_refused: OnRefused) -> Result<(Store, Loaded), StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(StoreError::io(format!("cannot create {}", dir.display())))?;
        let path = dir.join("xapid.redb");
        let db = open_db(&path)?;
        // Make sure both tables exist, then read them.
        let w = db!(db.begin_write(), "starting a write")?;
        db!(w.open_table(ROWS), "opening the rows")?;
        db!(w.open_table(META), "opening the settings")?;
        db!(w.commit(), "committing")?;
        let r = db!(db.begin_read(), "starting a read")?;
        let mut rows = Vec::new();
        for item in db!(
            db!(r.open_table(ROWS), "opening the rows")?.iter(),
            "reading"
        )? {
            let (k, v) = db!(item, "reading the rows")?;
            rows.push((k.value().to_owned(), v.value().to_vec()));
        }
        let mut meta = Vec::new();
        for item in db!(
            db!(r.open_table(META), "opening the settings")?.iter(),
            "reading"
        )? {
            let (k, v) = db!(item, "reading the settings")?;
            meta.push((k.value().to_owned(), v.value().to_vec()));
        }
        drop(r);
        let (tx, rx) = mpsc::channel();
        let commits = Arc::new(Histogram::new(LATENCY_BOUNDS));
        let timed = commits.clone();
        let gate = Arc::new(RwLock::new(()));
        let w = Writer {
            path,
            rx,
            commits: timed,
            gate: gate.clone(),
            on_refused,
        };
        let writer = std::thread::Builder::new()
            .name("xapid-store".into())
            .spawn(move || w.run(db))
            .map_err(StoreError::io("starting the writer thread".into()))?;
        Ok((
            Store {
                tx: std::sync::Mutex::new(Some(tx)),
                writer: std::sync::Mutex::new(Some(writer)),
                commits,
                gate,
            },
            Loaded { rows, meta },
        ))
    }

    /// Holds the gate open: taken before a durable change is made in
    /// memory, dropped once it is queued ([`send`](Self::send)).
    pub fn gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a change and how to take it back from memory if its commit
    /// fails; the returned [`Commit`] resolves once it is on disk.
    pub fn send(&self, op: Op, undo: Option<Undo>) -> Commit {
        let (ack, rx) = oneshot::channel();
        let sent = match self.tx.lock() {
            Ok(tx) => tx.as_ref().map(|tx| {
                tx.send(Batch {
                    op,
                    ack: Some(ack),
                    undo,
                })
            }),
            Err(_) => None,
        };
        match sent {
            Some(Ok(())) => Commit(Some(rx)),
            _ => {
                let (ack, rx) = oneshot::channel();
                let _ = ack.send(Err(StoreError::Closed("the store is closed")));
                Commit(Some(rx))
            }
        }
    }

    /// How long the commits took so far (one per batch, fsync included).
    pub fn commit_latency(&self) -> HistogramSnapshot {
        self.commits.snapshot()
    }

    /// Stops the writer after everything queued is on disk.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(w) = writer {
            let _ = w.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn open_db(path: &Path) -> Result<Database, StoreError> {
    Database::builder()
        .set_cache_size(4 << 20)
        .create(path)
        .map_err(|e| StoreError::db("opening the database")(e.into()))
}

/// The writer thread's state.
struct Writer {
    path: std::path::PathBuf,
    rx: mpsc::Receiver<Batch>,
    commits: Arc<Histogram>,
    gate: Arc<RwLock<()>>,
    on_refused: OnRefused,
}

impl Writer {
    /// Commits the batches as they come. After a failed commit (a full or
    /// read-only disk, an I/O error) redb refuses every later write until
    /// the database is opened again, so it is: the failed batch was not
    /// made durable (its changes are taken back and its writers told), and
    /// the next one is written once the disk allows it (the open is retried
    /// with each batch until it works; meanwhile each batch is refused with
    /// the error of the open).
    fn run(self, db: Database) {
        let mut db = Some(db);
        let mut reopen_error = None;
        while let Ok(first) = self.rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(b) => batch.push(b),
                    Err(_) => break,
                }
            }
            let started = Instant::now();
            if db.is_none() {
                match open_db(&self.path) {
                    Ok(d) => {
                        tracing::info!("durable store: opened again after a failed commit");
                        db = Some(d);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "durable store: cannot open it again yet");
                        reopen_error = Some(e);
                    }
                }
            }
            let result = match &db {
                Some(d) => apply(d, &batch),
                None => Err(reopen_error
                    .clone()
                    .unwrap_or(StoreError::Closed("the database could not be opened again"))),
            };
            self.commits.observe(started.elapsed());
            if let Err(e) = &result {
                tracing::error!(error = %e, "durable store: commit failed");
                // Dropped before it is opened again (redb allows one handle).
                db = None;
                self.refuse(&mut batch);
            }
            for b in batch {
                if let Some(ack) = b.ack {
                    let _ = ack.send(result.clone());
                }
            }
        }
    }

    /// After a failed commit: with the gate closed (no change between
    /// memory and the queue), everything still queued joins the refused
    /// batch (each was made on top of memory that held a refused change),
    /// and the registry takes them all back before anyone is told.
    fn refuse(&self, batch: &mut Vec<Batch>) {
        let _closed = self.gate.write().unwrap_or_else(|e| e.into_inner());
        while let Ok(b) = self.rx.try_recv() {
            batch.push(b);
        }
        let undos = batch.iter_mut().filter_map(|b| b.undo.take()).collect();
        (self.on_refused)(undos);
    }
}

fn apply(db: &Database, batch: &[Batch]) -> Result<(), StoreError> {
    let w = db!(db.begin_write(), "starting a write")?;
    {
        let mut rows = db!(w.open_table(ROWS), "opening the rows")?;
        let mut meta = db!(w.open_table(META), "opening the settings")?;
        for b in batch {
            match &b.op {
                Op::Put(k, v) => {
                    db!(rows.insert(k.as_str(), v.as_slice()), "writing a row")?;
                }
                Op::Delete(k) => {
                    db!(rows.remove(k.as_str()), "deleting a row")?;
                }
                Op::PutMeta(k, v) => {
                    db!(meta.insert(k.as_str(), v.as_slice()), "writing a setting")?;
                }
            }
        }
    }
    db!(w.commit(), "committing")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("xapid-store-{}", uuid::Uuid::new_v4()));
        {
            let (store, loaded) = Store::open(&dir, Box::new(|_| ())).unwrap();
            assert!(loaded.rows.is_empty());
            let a = store.send(Op::Put("task/a".into(), b"1".to_vec()), None);
            let b = store.send(Op::Put("task/b".into(), b"2".to_vec()), None);
            let c = store.send(Op::Delete("task/a".into()), None);
            let d = store.send(Op::PutMeta("k".into(), b"v".to_vec()), None);
            for x in [a, b, c, d] {
                x.wait().await.unwrap();
            }
        }
        let (_store, loaded) = Store::open(&dir, Box::new(|_| ())).unwrap();
        assert_eq!(loaded.rows, vec![("task/b".to_string(), b"2".to_vec())]);
        assert_eq!(loaded.meta, vec![("k".to_string(), b"v".to_vec())]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
