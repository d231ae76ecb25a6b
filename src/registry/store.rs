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

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

/// Object rows: `class/uuid-of-ref` -> JSON of `[[field, value], ...]`.
const ROWS: TableDefinition<&str, &[u8]> = TableDefinition::new("rows");
/// Server-wide settings: the root password hash, ...
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Most changes applied in one transaction.
const MAX_BATCH: usize = 4096;

/// Why the store failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("durable store: {0}")]
pub struct StoreError(pub String);

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError(e.to_string())
    }
}

macro_rules! store_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError(e.to_string())
            }
        }
    )*};
}
store_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

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
}

/// A handle on the store; cheap to share (the sender is internally
/// synchronised).
pub struct Store {
    tx: std::sync::Mutex<Option<mpsc::Sender<Batch>>>,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
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
                .unwrap_or_else(|_| Err(StoreError("the store writer has stopped".into()))),
        }
    }
}

impl Store {
    /// Opens (or creates) `dir/xapid.redb`, reads everything, and starts the
    /// writer.
    pub fn open(dir: &Path) -> Result<(Store, Loaded), StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("xapid.redb");
        let db = Database::builder()
            .set_cache_size(4 << 20)
            .create(&path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        // Make sure both tables exist, then read them.
        let w = db.begin_write()?;
        w.open_table(ROWS)?;
        w.open_table(META)?;
        w.commit()?;
        let r = db.begin_read()?;
        let mut rows = Vec::new();
        for item in r.open_table(ROWS)?.iter()? {
            let (k, v) = item?;
            rows.push((k.value().to_owned(), v.value().to_vec()));
        }
        let mut meta = Vec::new();
        for item in r.open_table(META)?.iter()? {
            let (k, v) = item?;
            meta.push((k.value().to_owned(), v.value().to_vec()));
        }
        drop(r);
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("xapid-store".into())
            .spawn(move || writer(db, rx))
            .map_err(|e| StoreError(e.to_string()))?;
        Ok((
            Store {
                tx: std::sync::Mutex::new(Some(tx)),
                writer: std::sync::Mutex::new(Some(writer)),
            },
            Loaded { rows, meta },
        ))
    }

    /// Queues a change; the returned [`Commit`] resolves once it is on disk.
    pub fn send(&self, op: Op) -> Commit {
        let (ack, rx) = oneshot::channel();
        let sent = match self.tx.lock() {
            Ok(tx) => tx.as_ref().map(|tx| tx.send(Batch { op, ack: Some(ack) })),
            Err(_) => None,
        };
        match sent {
            Some(Ok(())) => Commit(Some(rx)),
            _ => {
                let (ack, rx) = oneshot::channel();
                let _ = ack.send(Err(StoreError("the store is closed".into())));
                Commit(Some(rx))
            }
        }
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

fn writer(db: Database, rx: mpsc::Receiver<Batch>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(b) => batch.push(b),
                Err(_) => break,
            }
        }
        let result = apply(&db, &batch);
        if let Err(e) = &result {
            tracing::error!(error = %e, "durable store: commit failed");
        }
        for b in batch {
            if let Some(ack) = b.ack {
                let _ = ack.send(result.clone());
            }
        }
    }
}

fn apply(db: &Database, batch: &[Batch]) -> Result<(), StoreError> {
    let w = db.begin_write()?;
    {
        let mut rows = w.open_table(ROWS)?;
        let mut meta = w.open_table(META)?;
        for b in batch {
            match &b.op {
                Op::Put(k, v) => {
                    rows.insert(k.as_str(), v.as_slice())?;
                }
                Op::Delete(k) => {
                    rows.remove(k.as_str())?;
                }
                Op::PutMeta(k, v) => {
                    meta.insert(k.as_str(), v.as_slice())?;
                }
            }
        }
    }
    w.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("xapid-store-{}", uuid::Uuid::new_v4()));
        {
            let (store, loaded) = Store::open(&dir).unwrap();
            assert!(loaded.rows.is_empty());
            let a = store.send(Op::Put("task/a".into(), b"1".to_vec()));
            let b = store.send(Op::Put("task/b".into(), b"2".to_vec()));
            let c = store.send(Op::Delete("task/a".into()));
            let d = store.send(Op::PutMeta("k".into(), b"v".to_vec()));
            for x in [a, b, c, d] {
                x.wait().await.unwrap();
            }
        }
        let (_store, loaded) = Store::open(&dir).unwrap();
        assert_eq!(loaded.rows, vec![("task/b".to_string(), b"2".to_vec())]);
        assert_eq!(loaded.meta, vec![("k".to_string(), b"v".to_vec())]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
