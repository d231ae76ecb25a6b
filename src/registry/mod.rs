//! The registry: every object by class and reference, in memory (dashmap),
//! with the durable store behind the classes that survive a restart.
//!
//! Reads never touch the disk. A change is either *durable* (sent to the
//! store while the row is locked; the caller awaits the [`Commit`] before it
//! answers the client) or *volatile* (memory only: task progress from a
//! running job, session activity). A later durable change of the same row
//! writes the whole row, volatile parts included.
//!
//! Every change bumps a global generation and stamps the row with it; the
//! event machinery reads these stamps.

pub mod store;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use uuid::Uuid;

pub use store::{Commit, StoreError};
use store::{Loaded, Op, Store};

use crate::api::error::{ApiError, ApiResult};
use crate::model::{convert, ClassId, Model, Persist};
use crate::wire::{Ref, Value};

/// One object: its fields in model order, and when it last changed.
#[derive(Debug, Clone)]
pub struct Row {
    /// Field values, indexed like the class's fields in the model.
    pub fields: Box<[Value]>,
    /// Generation of the change that created the row.
    pub created: u64,
    /// Generation of the row's last change.
    pub modified: u64,
}

/// Whether a change must reach the disk before the caller answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Persist now (for classes that persist); await the returned commit.
    Durable,
    /// Memory only.
    Volatile,
}

struct Table {
    rows: DashMap<Ref, Row>,
    by_uuid: DashMap<Uuid, Ref>,
}

/// All objects.
pub struct Registry {
    model: Arc<Model>,
    tables: Vec<Table>,
    generation: AtomicU64,
    store: Store,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// The uuid of a row (field 0 of every class is `uuid`).
fn row_uuid(fields: &[Value]) -> Option<Uuid> {
    fields
        .first()
        .and_then(Value::as_str)
        .and_then(|s| Uuid::try_parse(s).ok())
}

impl Registry {
    /// Opens the store under `state_dir` and loads every persisted row.
    /// Returns the registry and the store's settings.
    pub fn open(
        model: Arc<Model>,
        state_dir: &Path,
    ) -> Result<(Registry, Vec<(String, Vec<u8>)>), StoreError> {
        let (store, Loaded { rows, meta }) = Store::open(state_dir)?;
        let tables = model
            .classes
            .iter()
            .map(|_| Table {
                rows: DashMap::new(),
                by_uuid: DashMap::new(),
            })
            .collect();
        let reg = Registry {
            model,
            tables,
            generation: AtomicU64::new(0),
            store,
        };
        let mut skipped = 0usize;
        for (key, bytes) in rows {
            match reg.decode_row(&key, &bytes) {
                Some((class, r, fields)) => {
                    let g = reg.next_generation();
                    reg.insert_row(class, r, fields, g);
                }
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::warn!(
                skipped,
                "durable store: rows of unknown classes or unreadable rows were skipped"
            );
        }
        Ok((reg, meta))
    }

    /// The datamodel.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The generation of the latest change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    fn key(&self, class: ClassId, r: Ref) -> String {
        format!("{}/{}", self.model.classes[class].name, r.0.hyphenated())
    }

    fn persists(&self, class: ClassId) -> bool {
        self.model.classes[class].persist == Persist::All
    }

    fn encode_row(&self, class: ClassId, fields: &[Value]) -> Vec<u8> {
        let named: Vec<(&str, &Value)> = self.model.classes[class]
            .fields
            .iter()
            .zip(fields)
            .map(|(f, v)| (f.name.as_str(), v))
            .collect();
        serde_json::to_vec(&named).unwrap_or_default()
    }

    fn decode_row(&self, key: &str, bytes: &[u8]) -> Option<(ClassId, Ref, Box<[Value]>)> {
        let (cname, id) = key.split_once('/')?;
        let class = self.model.class_id(cname)?;
        let r = Ref(Uuid::try_parse(id).ok()?);
        let named: Vec<(String, Value)> = serde_json::from_slice(bytes).ok()?;
        let c = &self.model.classes[class];
        let mut fields = self.model.default_row(class);
        for (name, v) in named {
            // Fields the model no longer has are dropped; fields it gained
            // keep their defaults; a value whose type changed is reset.
            if let Some(i) = c.fields.iter().position(|f| f.name == name) {
                if let Ok(v) = convert::from_wire(&self.model, &c.fields[i].ty, &name, v) {
                    fields[i] = v;
                }
            }
        }
        Some((class, r, fields))
    }

    fn insert_row(&self, class: ClassId, r: Ref, fields: Box<[Value]>, g: u64) {
        let t = &self.tables[class];
        if let Some(u) = row_uuid(&fields) {
            t.by_uuid.insert(u, r);
        }
        t.rows.insert(
            r,
            Row {
                fields,
                created: g,
                modified: g,
            },
        );
    }

    /// Adds a row; durable for classes that persist.
    pub fn insert(&self, class: ClassId, r: Ref, fields: Box<[Value]>) -> Commit {
        let g = self.next_generation();
        let t = &self.tables[class];
        if let Some(u) = row_uuid(&fields) {
            t.by_uuid.insert(u, r);
        }
        // Send while holding the entry so the store sees changes to this row
        // in the order they were made.
        let bytes = self
            .persists(class)
            .then(|| self.encode_row(class, &fields));
        let entry = t.rows.entry(r).insert(Row {
            fields,
            created: g,
            modified: g,
        });
        let commit = match bytes {
            Some(b) => self.store.send(Op::Put(self.key(class, r), b)),
            None => Commit::none(),
        };
        drop(entry);
        commit
    }

    /// Reads a row.
    pub fn read<T>(&self, class: ClassId, r: Ref, f: impl FnOnce(&Row) -> T) -> Option<T> {
        self.tables[class].rows.get(&r).map(|row| f(&row))
    }

    /// Reads a row or fails with `HANDLE_INVALID [class, ref]`.
    pub fn read_or<T>(&self, class: ClassId, r: Ref, f: impl FnOnce(&Row) -> T) -> ApiResult<T> {
        self.read(class, r, f)
            .ok_or_else(|| ApiError::handle_invalid(&self.model.classes[class].name, r))
    }

    /// One field of a row.
    pub fn field(&self, class: ClassId, r: Ref, field: usize) -> ApiResult<Value> {
        self.read_or(class, r, |row| row.fields[field].clone())
    }

    /// Whether the row exists.
    pub fn exists(&self, class: ClassId, r: Ref) -> bool {
        self.tables[class].rows.contains_key(&r)
    }

    /// Changes a row under its lock. `f` may refuse (nothing is written);
    /// `HANDLE_INVALID` if the row is gone.
    pub fn update<T>(
        &self,
        class: ClassId,
        r: Ref,
        write: Write,
        f: impl FnOnce(&mut [Value]) -> ApiResult<T>,
    ) -> ApiResult<(T, Commit)> {
        let mut row = self.tables[class]
            .rows
            .get_mut(&r)
            .ok_or_else(|| ApiError::handle_invalid(&self.model.classes[class].name, r))?;
        let out = f(&mut row.fields)?;
        row.modified = self.next_generation();
        let commit = if write == Write::Durable && self.persists(class) {
            let bytes = self.encode_row(class, &row.fields);
            self.store.send(Op::Put(self.key(class, r), bytes))
        } else {
            Commit::none()
        };
        drop(row);
        Ok((out, commit))
    }

    /// Removes a row; durable for classes that persist.
    pub fn remove(&self, class: ClassId, r: Ref) -> Option<(Row, Commit)> {
        let t = &self.tables[class];
        let (_, row) = t.rows.remove(&r)?;
        if let Some(u) = row_uuid(&row.fields) {
            t.by_uuid.remove(&u);
        }
        self.next_generation();
        let commit = if self.persists(class) {
            self.store.send(Op::Delete(self.key(class, r)))
        } else {
            Commit::none()
        };
        Some((row, commit))
    }

    /// The ref of the object with this uuid.
    pub fn by_uuid(&self, class: ClassId, uuid: &Uuid) -> Option<Ref> {
        self.tables[class].by_uuid.get(uuid).map(|r| *r)
    }

    /// Every ref of a class.
    pub fn refs(&self, class: ClassId) -> Vec<Ref> {
        self.tables[class].rows.iter().map(|e| *e.key()).collect()
    }

    /// Calls `f` on every row of a class (under each shard's read lock: keep
    /// `f` short and never call back into the registry from it).
    pub fn for_each(&self, class: ClassId, mut f: impl FnMut(Ref, &Row)) {
        for e in self.tables[class].rows.iter() {
            f(*e.key(), e.value());
        }
    }

    /// How many rows a class has.
    pub fn count(&self, class: ClassId) -> usize {
        self.tables[class].rows.len()
    }

    /// Writes a server-wide setting durably.
    pub fn put_meta(&self, key: &str, value: Vec<u8>) -> Commit {
        self.store.send(Op::PutMeta(key.to_owned(), value))
    }

    /// Flushes and stops the store writer (at shutdown).
    pub fn close(&self) {
        self.store.close();
    }
}
