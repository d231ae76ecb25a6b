//! A running job's progress as clients see it: `current_progress`,
//! `total_progress` and `rate` of its object, and its task's progress and
//! ETA, published by the coordinator every tick.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::clock::now;
use super::job::Job;
use crate::domain::tasks;
use crate::model::schema::block_job;
use crate::model::RowExt;
use crate::registry::Write;

/// The window over which `rate` is measured.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// Every how many ticks progress is written durably.
const DURABLE_EVERY: u64 = 50;

/// Bytes copied over the last [`RATE_WINDOW`].
#[derive(Default)]
pub(super) struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
    ticks: u64,
}

impl RateMeter {
    fn observe(&mut self, now: Instant, copied: u64) -> u64 {
        self.samples.push_back((now, copied));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
        let (t0, c0) = self.samples.front().copied().unwrap_or((now, copied));
        let dt = now.duration_since(t0).as_secs_f64();
        if dt < 0.05 {
            return 0;
        }
        ((copied - c0) as f64 / dt) as u64
    }
}

pub(super) fn publish_progress(job: &Job, rate: &mut RateMeter) {
    let server = job.domain();
    let cur = job.current.load(Ordering::Relaxed);
    let total = job.total.load(Ordering::Relaxed).max(cur);
    let r = rate.observe(now(), job.copied.load(Ordering::Relaxed));
    // Every few seconds the progress reaches the disk too, so a job
    // interrupted by a crash shows how far it got.
    let write = if rate.ticks.is_multiple_of(DURABLE_EVERY) {
        Write::Durable
    } else {
        Write::Volatile
    };
    rate.ticks += 1;
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let updated = server.registry.update(block_job::CLASS, job.r, write, |f| {
        f.set(block_job::CURRENT_PROGRESS, int(cur));
        f.set(block_job::TOTAL_PROGRESS, int(total));
        f.set(block_job::RATE, int(r));
        Ok(())
    });
    match updated {
        // Not awaited: progress is advisory, and the ticks must not wait
        // for the disk; the store writes it in order all the same.
        Ok(((), commit)) => drop(commit),
        Err(e) => tracing::warn!(job = %job.id, error = %e, "could not record the job's progress"),
    }
    if total > 0 {
        tasks::set_progress_volatile(server, job.task, cur as f64 / total as f64);
    }
}
