//! Metrics in Prometheus' text format: the instruments the layers keep
//! (lock-free [`Histogram`]s and plain atomics) and the page a scrape
//! reads ([`Page`]), encoded by the `prometheus-client` crate.
//!
//! A leaf: it uses nothing of the crate. Each layer owns its instruments
//! (the RPC calls in `api`, the store's commits in `registry`, the jobs'
//! bytes in `domain`); `GET /metrics` (`http::metrics`) reads them and the
//! objects' tables into a [`Page`] at each scrape. Nothing is computed on
//! a timer.

mod page;

pub use page::{Labels, Page};
pub use prometheus_client::metrics::MetricType;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket bounds (seconds) for calls and commits: 50 µs to 60 s.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Bucket bounds (seconds) for block jobs: 100 ms to 3 hours.
pub const JOB_BOUNDS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0,
];

/// A histogram of durations with fixed bounds: one atomic add per bucket,
/// count and sum (in nanoseconds) per observation, no lock.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then the overflow (+Inf) bucket; not cumulative.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// What a histogram holds at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Sum of the observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
    /// Each upper bound with the observations in its bucket alone (not
    /// cumulative), the last one `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// An empty histogram over `bounds` (increasing, in seconds).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < secs);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The histogram now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        // The count is the sum of the buckets read, so the page is always
        // consistent (+Inf == count) even while observations go on.
        let count = buckets.iter().map(|(_, n)| n).sum();
        if let Some(last) = buckets.last_mut() {
            last.0 = f64::INFINITY;
        }
        HistogramSnapshot {
            sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count,
            buckets,
        }
    }

    /// How many observations it holds.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
