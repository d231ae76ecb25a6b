//! Counters of work that leaves no object behind to count at a scrape:
//! bytes the block jobs copied, jobs concluded and how long they ran, NBD
//! connections. Plain atomics (and one
//! small lock at a job's end), read by `GET /metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::{Histogram, HistogramSnapshot, JOB_BOUNDS};

/// The counters.
#[derive(Debug)]
pub struct Stats {
    /// Bytes of data block jobs (and so copies and clones) copied.
    pub job_bytes: AtomicU64,
    /// NBD connections open now.
    pub nbd_open: AtomicU64,
    /// NBD connections accepted since the start.
    pub nbd_accepted: AtomicU64,
    /// Block jobs concluded, by (type, result).
    concluded: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// How long concluded block jobs ran, by type.
    durations: Mutex<BTreeMap<&'static str, Arc<Histogram>>>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            job_bytes: AtomicU64::new(0),
            nbd_open: AtomicU64::new(0),
            nbd_accepted: AtomicU64::new(0),
            concluded: Mutex::new(BTreeMap::new()),
            durations: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Stats {
    /// A block job of type `ty` concluded with `result` (`success`,
    /// `cancelled` or `failure`) after running `ran`.
    pub fn job_concluded(&self, ty: &'static str, result: &'static str, ran: Duration) {
        if let Ok(mut m) = self.concluded.lock() {
            *m.entry((ty, result)).or_default() += 1;
        }
        let h = match self.durations.lock() {
            Ok(mut m) => m
                .entry(ty)
                .or_insert_with(|| Arc::new(Histogram::new(JOB_BOUNDS)))
                .clone(),
            Err(_) => return,
        };
        h.observe(ran);
    }

    /// Block jobs concluded so far, by (type, result).
    pub fn concluded(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.concluded
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    /// How long concluded block jobs ran, by type.
    pub fn durations(&self) -> Vec<(&'static str, HistogramSnapshot)> {
        self.durations
            .lock()
            .map(|m| m.iter().map(|(k, h)| (*k, h.snapshot())).collect())
            .unwrap_or_default()
    }

    /// Adds `n` bytes to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
