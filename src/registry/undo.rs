//! Undoing the changes the store refused.
//!
//! A durable change is made in memory first and sent to the store while the
//! row is locked; the caller answers once the commit is acknowledged. When a
//! commit fails (a full or read-only state directory, an I/O error), its
//! changes were told to their callers as refused, so they must not stay in
//! memory either: a refused value would be read back, and the row's next
//! successful write (which writes the whole row) would make it durable.
//!
//! So every durable change carries an [`Undo`]. On a failed commit the
//! store's writer stops new changes (it holds the [gate](super::store)),
//! refuses every change still queued behind the failed batch (each was
//! made on top of memory that held a refused change), and undoes them all
//! here, newest first, before it tells their callers. Memory then holds
//! exactly what is on disk plus the volatile changes made meanwhile:
//!
//! - an insert is removed;
//! - a removed row comes back;
//! - a changed field gets its old value back, if it still holds the value
//!   the refused change gave it (a later volatile change of the same field,
//!   such as a running task's progress, wins).
//!
//! Each undo is logged as a change, so `event.from` watchers see it.

use std::sync::Arc;

use super::events::Op as Ev;
use super::{Core, Row};
use crate::model::ClassId;
use crate::wire::{Ref, Value};

/// How to take one durable change back.
#[derive(Debug)]
pub enum Undo {
    /// The row was added: remove it.
    Insert {
        /// Its class.
        class: ClassId,
        /// Its reference.
        r: Ref,
    },
    /// Fields of the row changed: `(field, before, after)`.
    Update {
        /// Its class.
        class: ClassId,
        /// Its reference.
        r: Ref,
        /// The fields the change set, with their values before and after.
        changed: Vec<(usize, Value, Value)>,
    },
    /// The row was removed: put it back.
    Remove {
        /// Its class.
        class: ClassId,
        /// Its reference.
        r: Ref,
        /// The row as it was.
        row: Box<Row>,
    },
}

/// The fields `f` changed, with their old and new values.
pub fn diff(before: &[Value], after: &[Value]) -> Vec<(usize, Value, Value)> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (b, a))| b != a)
        .map(|(i, (b, a))| (i, b.clone(), a.clone()))
        .collect()
}

/// Takes back `undos` (in the order the changes were made), newest first.
pub(crate) fn apply(core: &Arc<Core>, undos: Vec<Undo>) {
    let n = undos.len();
    for u in undos.into_iter().rev() {
        match u {
            Undo::Insert { class, r } => {
                let t = &core.tables[class];
                if let Some((_, row)) = t.rows.remove(&r) {
                    if let Some(id) = super::row_uuid(&row.fields) {
                        t.by_uuid.remove(&id);
                    }
                    core.change(class, r, Ev::Del, row.created);
                }
            }
            Undo::Remove { class, r, row } => {
                let t = &core.tables[class];
                // Logged while the entry is held, as an insert is: a
                // watcher that sees the event finds the row.
                if let dashmap::Entry::Vacant(slot) = t.rows.entry(r) {
                    if let Some(id) = super::row_uuid(&row.fields) {
                        t.by_uuid.insert(id, r);
                    }
                    let g = core.change(class, r, Ev::Add, 0);
                    slot.insert(Row {
                        fields: row.fields,
                        created: g,
                        modified: g,
                    });
                }
            }
            Undo::Update { class, r, changed } => {
                if let Some(mut row) = core.tables[class].rows.get_mut(&r) {
                    let mut any = false;
                    for (i, before, after) in changed {
                        if row.fields[i] == after {
                            row.fields[i] = before;
                            any = true;
                        }
                    }
                    if any {
                        row.modified = core.change(class, r, Ev::Mod, row.created);
                    }
                }
            }
        }
    }
    if n > 0 {
        tracing::warn!(
            changes = n,
            "durable store: refused changes taken back from memory"
        );
    }
}

#[cfg(test)]
mod tests;
