//! Estimating when a task will finish from how its progress has moved.
//!
//! The rate is an exponentially weighted moving average of the observed
//! progress per second (time constant [`TAU`]), seeded with, and for the
//! first [`TAU`] seconds replaced by, the average rate since the first
//! observation. A steady job therefore gets a steady estimate from its
//! first seconds (no "12 hours left" then "10 seconds" swings), and a job
//! whose speed changes is followed within a few time constants.

use std::time::Instant;

/// Smoothing time constant, in seconds.
pub const TAU: f64 = 8.0;

/// Samples closer together than this are merged (progress still moves; the
/// rate is re-estimated only when enough time has passed).
const MIN_SAMPLE_SECS: f64 = 0.2;

/// The estimator state of one task.
#[derive(Clone, Debug)]
pub struct Eta {
    first_at: Instant,
    first_progress: f64,
    last_at: Instant,
    last_progress: f64,
    /// Smoothed rate, fraction per second; `None` until two samples.
    rate: Option<f64>,
}

impl Eta {
    /// Starts estimating from a first observation.
    pub fn new(now: Instant, progress: f64) -> Eta {
        Eta {
            first_at: now,
            first_progress: progress,
            last_at: now,
            last_progress: progress,
            rate: None,
        }
    }

    /// Records an observation; returns the estimated seconds until 1.0, if
    /// a rate is known.
    pub fn observe(&mut self, now: Instant, progress: f64) -> Option<f64> {
        let dt = now.saturating_duration_since(self.last_at).as_secs_f64();
        if dt >= MIN_SAMPLE_SECS {
            let since_first = now.saturating_duration_since(self.first_at).as_secs_f64();
            let average = (progress - self.first_progress) / since_first;
            let rate = if since_first <= TAU {
                average
            } else {
                let instant = (progress - self.last_progress) / dt;
                let prev = self.rate.unwrap_or(average);
                let alpha = 1.0 - (-dt / TAU).exp();
                prev + alpha * (instant - prev)
            };
            self.rate = Some(rate.max(0.0));
            self.last_at = now;
            self.last_progress = progress;
        }
        let rate = self.rate?;
        (rate > 1e-12).then(|| ((1.0 - progress).max(0.0) / rate).min(1e9))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn steady_progress_gives_a_steady_estimate() {
        let t0 = Instant::now();
        let mut e = Eta::new(t0, 0.0);
        // 1% per second: 100 s in all.
        let mut estimates = Vec::new();
        for i in 1..=50u64 {
            let now = t0 + Duration::from_millis(500 * i);
            let p = i as f64 * 0.005;
            let left = e.observe(now, p).unwrap();
            estimates.push((now - t0).as_secs_f64() + left);
        }
        for total in estimates {
            assert!((total - 100.0).abs() < 0.5, "{total}");
        }
    }

    #[test]
    fn follows_a_speed_change() {
        let t0 = Instant::now();
        let mut e = Eta::new(t0, 0.0);
        let mut p = 0.0;
        let mut left = 0.0;
        for i in 1..=200u64 {
            // 0.1%/s for 20 s, then 1%/s.
            p += if i <= 40 { 0.0005 } else { 0.005 };
            if p >= 1.0 {
                break;
            }
            left = e.observe(t0 + Duration::from_millis(500 * i), p).unwrap();
        }
        let true_left = (1.0 - p) / 0.01;
        assert!(
            (left - true_left).abs() / true_left.max(1.0) < 0.5,
            "{left} vs {true_left}"
        );
    }

    #[test]
    fn no_estimate_without_movement() {
        let t0 = Instant::now();
        let mut e = Eta::new(t0, 0.3);
        assert_eq!(e.observe(t0 + Duration::from_secs(1), 0.3), None);
        assert_eq!(e.observe(t0 + Duration::from_millis(1050), 0.4), None);
    }
}
