//! The change log behind `event.from`/`event.next`: every change to a row
//! of a class that emits events, in generation order, in a bounded ring;
//! and a watch that wakes waiters when the generation moves.
//!
//! The generation of a change is taken under the log's lock, so the log is
//! in generation order whatever threads make the changes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use crate::model::ClassId;
use crate::wire::Ref;

/// What happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Created.
    Add,
    /// Changed.
    Mod,
    /// Deleted.
    Del,
}

impl Op {
    /// The event's `operation`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Mod => "mod",
            Op::Del => "del",
        }
    }
}

/// One change.
#[derive(Clone, Copy, Debug)]
pub struct Change {
    /// Its generation.
    pub gen: u64,
    /// The row's class.
    pub class: ClassId,
    /// The row.
    pub r: Ref,
    /// What happened.
    pub op: Op,
    /// The generation that created the row.
    pub created: u64,
}

/// How many changes the log keeps (older tokens fall back to a scan).
pub const CAPACITY: usize = 1 << 20;

#[derive(Default)]
struct Ring {
    changes: VecDeque<Change>,
    /// The generation of the newest change dropped from the ring.
    lost: u64,
}

/// The log.
pub struct EventLog {
    ring: Mutex<Ring>,
    capacity: std::sync::atomic::AtomicUsize,
    generation: AtomicU64,
    tx: watch::Sender<u64>,
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            ring: Mutex::new(Ring::default()),
            capacity: std::sync::atomic::AtomicUsize::new(CAPACITY),
            generation: AtomicU64::new(0),
            tx: watch::channel(0).0,
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl EventLog {
    /// Sets how many changes the log keeps.
    pub fn set_capacity(&self, n: usize) {
        self.capacity.store(n.max(1), Ordering::Relaxed);
    }

    /// The latest generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A new generation for a change that emits no event.
    pub fn bump(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Records a change; returns its generation. `created == 0` means the
    /// change created the row (its own generation).
    pub fn record(&self, class: ClassId, r: Ref, op: Op, created: u64) -> u64 {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let gen = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let created = if created == 0 { gen } else { created };
        let cap = self.capacity.load(Ordering::Relaxed).max(1);
        while ring.changes.len() >= cap {
            if let Some(c) = ring.changes.pop_front() {
                ring.lost = c.gen;
            }
        }
        ring.changes.push_back(Change {
            gen,
            class,
            r,
            op,
            created,
        });
        drop(ring);
        self.tx.send_replace(gen);
        gen
    }

    /// The changes after generation `since`, or `None` if the log no longer
    /// reaches back that far.
    pub fn since(&self, since: u64, mut keep: impl FnMut(&Change) -> bool) -> Option<Vec<Change>> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if since < ring.lost {
            return None;
        }
        let start = ring.changes.partition_point(|c| c.gen <= since);
        Some(
            ring.changes
                .range(start..)
                .filter(|c| keep(c))
                .copied()
                .collect(),
        )
    }

    /// Bumps the generation on behalf of a change made while loading.
    pub fn set_generation(&self, g: u64) {
        self.generation.store(g, Ordering::Release);
        self.tx.send_replace(g);
    }

    /// Wakes every watcher without a change (for what they check besides
    /// the generation: their session, [`EventLog::is_closed`]). The
    /// watched value is left as it is: watchers compare
    /// [`EventLog::generation`], which is always current.
    pub fn poke(&self) {
        self.tx.send_modify(|_| {});
    }

    /// The server is stopping: watchers should answer now and not wait
    /// again.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.poke();
    }

    /// Whether [`EventLog::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Wakes on every change (and [`EventLog::poke`]). A watcher marks the
    /// receiver seen, then compares [`EventLog::generation`], then waits:
    /// the watched value itself may lag when two changes race.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// How many waiters are subscribed now (event.from and event.next
    /// calls waiting for a change).
    pub fn waiters(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_come_back_in_order_after_a_token() {
        let log = EventLog::default();
        let a = Ref::new();
        let g1 = log.record(0, a, Op::Add, 0);
        let g2 = log.record(0, a, Op::Mod, g1);
        let g3 = log.bump();
        let g4 = log.record(1, Ref::new(), Op::Add, 0);
        assert!(g1 < g2 && g2 < g3 && g3 < g4);
        let all = log.since(0, |_| true).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].created, g1);
        let after = log.since(g2, |c| c.class == 1).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].gen, g4);
        assert!(log.since(g4, |_| true).unwrap().is_empty());
    }
}
