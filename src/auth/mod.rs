//! Users, password checks and login throttling; TLS server certificates
//! ([`tls`]: xapi's checks, the self-signed one, the served one).
//!
//! `root` is xapi's local superuser; its password hash lives in the durable
//! store and is held here. Local users' hashes are kept by the domain (on
//! their subject) and handed in with each check. Checks run on blocking
//! threads (argon2 is
//! deliberately slow) and failures are answered late: each user name has a
//! lock that a failed attempt holds for a delay that doubles with every
//! further consecutive failure, so failures for one account come out one per
//! delay however many connections guess at once, while successful logins,
//! other users and every other call go on unhindered.

pub mod password;
pub mod tls;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// The local superuser.
pub const ROOT: &str = "root";

/// The throttling bucket for every name that is not a user: unknown names
/// share one, so random names cannot grow the table.
const UNKNOWN_USER: &str = "";

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// Wrong user name or password.
    Denied,
    /// The check itself could not run.
    Internal(String),
}

/// What the caller knows about the user whose password is checked.
#[derive(Debug, Clone)]
pub enum Stored {
    /// The local superuser: checked against root's hash.
    Root,
    /// A known user with this hash (empty: no password set, never matches).
    Hash(String),
    /// No such user: the check costs the same and fails.
    Unknown,
}

/// The failure state of one user name.
#[derive(Default)]
struct Bucket {
    /// Consecutive failures.
    fails: AtomicU32,
    /// Held by a failed attempt while it waits out its delay.
    penalty: tokio::sync::Mutex<()>,
}

/// How long [`Auth::check_remembered`] remembers a success.
pub const REMEMBER: Duration = Duration::from_secs(60);

/// How many successes it remembers at most.
const REMEMBERED_MAX: usize = 256;

/// Password state and throttling.
pub struct Auth {
    root_hash: RwLock<String>,
    failures: DashMap<String, Arc<Bucket>>,
    /// Recent successes of [`Auth::check_remembered`]: a digest of (user,
    /// password, stored hash) and when it was checked.
    remembered: DashMap<[u8; 32], Instant>,
    /// Password checks running at once (each takes argon2's memory, 19 MiB,
    /// and a core): a flood of logins queues here instead of growing the
    /// server by that much per login.
    hashing: tokio::sync::Semaphore,
    base_delay: Duration,
    max_delay: Duration,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").finish_non_exhaustive()
    }
}

impl Auth {
    /// Starts with root's password hash.
    pub fn new(root_hash: String, base_delay: Duration, max_delay: Duration) -> Auth {
        Auth {
            root_hash: RwLock::new(root_hash),
            failures: DashMap::new(),
            remembered: DashMap::new(),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            base_delay,
            max_delay,
        }
    }

    fn bucket(&self, key: &str) -> Arc<Bucket> {
        if let Some(b) = self.failures.get(key) {
            return b.clone();
        }
        self.failures.entry(key.to_owned()).or_default().clone()
    }

    /// Checks a user's password against what is stored for it. A failure
    /// is returned only after the user's current penalty delay (unknown
    /// names share one penalty, so guessing names cannot grow the table).
    pub async fn check(
        &self,
        user: &str,
        password: &str,
        stored: Stored,
    ) -> Result<(), AuthFailure> {
        let root = || {
            self.root_hash
                .read()
                .map(|h| h.clone())
                .map_err(|_| AuthFailure::Internal("password lock poisoned".into()))
        };
        // Unknown users, and users without a password, still pay for a
        // full hash check, so timing does not tell which names exist.
        let (key, hash, can_match) = match stored {
            Stored::Root => (ROOT, root()?, true),
            Stored::Hash(h) if !h.is_empty() => (user, h, true),
            Stored::Hash(_) => (user, root()?, false),
            Stored::Unknown => (UNKNOWN_USER, root()?, false),
        };
        let bucket = self.bucket(key);
        let pw = password.to_owned();
        let slot = self
            .hashing
            .acquire()
            .await
            .map_err(|e| AuthFailure::Internal(e.to_string()))?;
        let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash) && can_match)
            .await
            .map_err(|e| AuthFailure::Internal(e.to_string()))?;
        drop(slot);
        if ok {
            bucket.fails.store(0, Ordering::Relaxed);
            return Ok(());
        }
        // Failures of one user wait their turn, so guesses come back one
        // per delay however many run at once.
        let _turn = bucket.penalty.lock().await;
        let fails = bucket
            .fails
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let factor = 1u32 << (fails - 1).min(16);
        let delay = self.base_delay.saturating_mul(factor).min(self.max_delay);
        tokio::time::sleep(delay).await;
        Err(AuthFailure::Denied)
    }

    /// [`Auth::check`] for a caller that sends its password with every
    /// request (HTTP basic auth of a scraper): a success is remembered for
    /// [`REMEMBER`], keyed by a digest of the user, the password and the
    /// stored hash, so a changed password or hash is checked afresh and the
    /// password hash is not paid at every scrape. Only digests are kept.
    pub async fn check_remembered(
        &self,
        user: &str,
        password: &str,
        stored: Stored,
    ) -> Result<(), AuthFailure> {
        let current = match &stored {
            Stored::Root => self.root_hash.read().map(|h| h.clone()).unwrap_or_default(),
            Stored::Hash(h) => h.clone(),
            Stored::Unknown => String::new(),
        };
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [user, password, current.as_str()] {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part.as_bytes());
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        if self
            .remembered
            .get(&key)
            .is_some_and(|t| t.elapsed() < REMEMBER)
        {
            return Ok(());
        }
        self.check(user, password, stored).await?;
        if self.remembered.len() >= REMEMBERED_MAX {
            self.remembered.retain(|_, t| t.elapsed() < REMEMBER);
            if self.remembered.len() >= REMEMBERED_MAX {
                self.remembered.clear();
            }
        }
        self.remembered.insert(key, Instant::now());
        Ok(())
    }

    /// Replaces root's hash (after `change_password` persisted it).
    pub fn set_root_hash(&self, hash: String) {
        if let Ok(mut h) = self.root_hash.write() {
            *h = hash;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_are_delayed_per_user_and_reset_on_success() {
        let h = tokio::task::spawn_blocking(|| password::hash("pw").unwrap())
            .await
            .unwrap();
        let a = Auth::new(h, Duration::from_millis(50), Duration::from_millis(120));
        let root = || Stored::Root;
        assert_eq!(a.check("root", "pw", root()).await, Ok(()));
        let t = std::time::Instant::now();
        assert_eq!(
            a.check("root", "bad", root()).await,
            Err(AuthFailure::Denied)
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert_eq!(
            a.check("root", "bad", root()).await,
            Err(AuthFailure::Denied)
        );
        assert_eq!(a.bucket("root").fails.load(Ordering::Relaxed), 2);
        // The root password is not anyone else's.
        assert_eq!(
            a.check("alice", "pw", Stored::Unknown).await,
            Err(AuthFailure::Denied)
        );
        assert_eq!(
            a.check("bob", "pw", Stored::Hash(String::new())).await,
            Err(AuthFailure::Denied)
        );
        assert_eq!(a.check("root", "pw", root()).await, Ok(()));
        assert_eq!(a.bucket("root").fails.load(Ordering::Relaxed), 0);
        assert_eq!(a.failures.len(), 3);
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_guesses_are_answered_one_per_delay() {
        let h = tokio::task::spawn_blocking(|| password::hash("pw").unwrap())
            .await
            .unwrap();
        let a = Arc::new(Auth::new(
            h,
            Duration::from_millis(100),
            Duration::from_millis(100),
        ));
        let t = std::time::Instant::now();
        let guesses: Vec<_> = (0..4)
            .map(|_| {
                let a = a.clone();
                tokio::spawn(async move { a.check("root", "bad", Stored::Root).await })
            })
            .collect();
        for g in guesses {
            assert_eq!(g.await.unwrap(), Err(AuthFailure::Denied));
        }
        assert!(t.elapsed() >= Duration::from_millis(400));
    }
}
