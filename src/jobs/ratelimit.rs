//! Speed limiting as QEMU's block jobs do it: time is cut into 100 ms
//! slices, each with a quota of `speed / 10` bytes; going over the quota is
//! allowed and paid back by waiting until the slice, stretched in
//! proportion to the excess, is over. A speed of 0 means unlimited, and a
//! new speed applies from the next accounting (a sleeping job re-computes
//! its delay when woken).

use std::time::{Duration, Instant};

/// QEMU's `BLOCK_JOB_SLICE_TIME`.
pub const SLICE: Duration = Duration::from_millis(100);

/// One job's limiter.
#[derive(Clone, Debug)]
pub struct RateLimit {
    /// Bytes per slice; 0 = unlimited.
    quota: u64,
    slice_start: Instant,
    slice_end: Instant,
    dispatched: u64,
}

impl RateLimit {
    /// A limiter at `speed` bytes per second (0 = unlimited).
    pub fn new(speed: u64, now: Instant) -> RateLimit {
        let mut r = RateLimit {
            quota: 0,
            slice_start: now,
            slice_end: now,
            dispatched: 0,
        };
        r.set_speed(speed);
        r
    }

    /// Changes the speed (bytes per second, 0 = unlimited).
    pub fn set_speed(&mut self, speed: u64) {
        self.quota = if speed == 0 {
            0
        } else {
            // speed * 0.1 s, at least one byte per slice.
            (u128::from(speed) * SLICE.as_nanos() / 1_000_000_000).max(1) as u64
        };
    }

    /// Whether the limiter is off.
    pub fn unlimited(&self) -> bool {
        self.quota == 0
    }

    /// Accounts `n` bytes at `now`; returns how long to wait before going on
    /// (zero while the slice's quota is not used up). Call with `n = 0` to
    /// re-compute the wait after a wake-up.
    pub fn account(&mut self, n: u64, now: Instant) -> Duration {
        if self.quota == 0 {
            return Duration::ZERO;
        }
        if now > self.slice_end {
            // The previous (possibly stretched) slice is over.
            self.slice_start = now;
            self.slice_end = now + SLICE;
            self.dispatched = 0;
        }
        self.dispatched = self.dispatched.saturating_add(n);
        if self.dispatched < self.quota {
            return Duration::ZERO;
        }
        // Over the quota: stretch the slice in proportion and wait for it.
        let slices = self.dispatched as f64 / self.quota as f64;
        self.slice_end = self.slice_start + SLICE.mul_f64(slices);
        self.slice_end.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// Copies `chunk`-byte pieces for `secs` simulated seconds, sleeping as
    /// told; returns bytes copied.
    fn simulate(r: &mut RateLimit, chunk: u64, secs: f64, mut now: Instant) -> (u64, Instant) {
        let end = now + Duration::from_secs_f64(secs);
        let mut copied = 0;
        while now < end {
            copied += chunk;
            let mut wait = r.account(chunk, now);
            while !wait.is_zero() {
                now += wait;
                wait = r.account(0, now);
            }
            // Copying itself takes a little time.
            now += Duration::from_micros(50);
        }
        (copied, now)
    }

    #[test]
    fn holds_the_rate_within_two_percent() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(32 * MIB, t0);
        let (copied, _) = simulate(&mut r, MIB, 10.0, t0);
        let rate = copied as f64 / 10.0;
        assert!((rate / (32.0 * MIB as f64) - 1.0).abs() < 0.02, "{rate}");
    }

    #[test]
    fn zero_is_unlimited() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(0, t0);
        assert!(r.unlimited());
        assert_eq!(r.account(u64::MAX / 2, t0), Duration::ZERO);
    }

    #[test]
    fn a_new_speed_applies_at_once() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(4 * MIB, t0);
        let (_, t1) = simulate(&mut r, MIB / 4, 2.0, t0);
        r.set_speed(64 * MIB);
        let (copied, t2) = simulate(&mut r, MIB / 4, 1.0, t1);
        let rate = copied as f64 / (t2 - t1).as_secs_f64();
        assert!(rate > 50.0 * MIB as f64, "{rate}");
        r.set_speed(0);
        assert_eq!(r.account(MIB * 1000, t2), Duration::ZERO);
    }

    #[test]
    fn tiny_speeds_still_move() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(1, t0);
        let wait = r.account(1, t0);
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
    }
}
