//! Fault injection for tests of error policies: a process-global table of
//! rules "fail reads (or writes) of this file that touch `[offset, ..)` with
//! this errno, this many times". Off by default; [`enable`] is called at
//! start-up only when the configuration allows it, and until then
//! [`check`] costs one relaxed atomic load.
//!
//! Rules are keyed by the file's path (the canonical SR directory joined
//! with the file name, as [`SrDir::path`](super::path::SrDir::path) gives
//! it) and by operation: a file can have one read rule and one write rule.
//!
//! Spec syntax, as [`parse`] reads it: `op:ERRNO[@offset][*count]`, e.g.
//! `read:EIO`, `write:ENOSPC`, `write:EIO@1048576`, `read:EIO@0x100000*3`.
//! `ERRNO` may also be `SLOW[=MS]`: the I/O succeeds, but only after MS
//! milliseconds (default 100), so a test can catch a job half-way (as
//! QEMU's tests throttle or suspend a blkdebug device).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Which kind of I/O a rule fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Reads (of data, by the image layer).
    Read,
    /// Writes and write-zeroes.
    Write,
}

/// One injected fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The operation that fails.
    pub op: Op,
    /// The error returned (`libc::EIO` or `libc::ENOSPC`); 0 for a rule
    /// that only delays.
    pub errno: i32,
    /// How long a matching I/O waits before it fails or (errno 0) goes on.
    pub delay_ms: u32,
    /// Only I/O that touches `[offset, ..)` fails.
    pub offset: u64,
    /// Fail this many times, then the rule is removed; `None`: until
    /// removed with [`set`].
    pub count: Option<u32>,
}

static ENABLED: AtomicBool = AtomicBool::new(false);

type Table = HashMap<(PathBuf, Op), Rule>;

fn table() -> MutexGuard<'static, Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE
        .get_or_init(Default::default)
        .lock()
        // The table stays consistent even if a holder panicked.
        .unwrap_or_else(|e| e.into_inner())
}

/// Turns fault injection on for the rest of the process's life.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether [`enable`] has been called.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs `rule` for `path` (replacing the rule for the same operation),
/// or, with `None`, removes every rule for `path`. Rules may be set before
/// [`enable`], but only take effect once it has been called.
pub fn set(path: &Path, rule: Option<Rule>) {
    let mut t = table();
    match rule {
        Some(r) if r.count == Some(0) => {
            t.remove(&(path.to_path_buf(), r.op));
        }
        Some(r) => {
            t.insert((path.to_path_buf(), r.op), r);
        }
        None => {
            t.remove(&(path.to_path_buf(), Op::Read));
            t.remove(&(path.to_path_buf(), Op::Write));
        }
    }
}

/// The rules currently installed for `path` (read rule first).
pub fn rules(path: &Path) -> Vec<Rule> {
    let t = table();
    [Op::Read, Op::Write]
        .into_iter()
        .filter_map(|op| t.get(&(path.to_path_buf(), op)).cloned())
        .collect()
}

fn errno_by_name(name: &str) -> Option<i32> {
    match name.to_ascii_uppercase().as_str() {
        "EIO" => Some(libc::EIO),
        "ENOSPC" => Some(libc::ENOSPC),
        _ => None,
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses `op:ERRNO[@offset][*count]`: `op` is `read` or `write`, `ERRNO`
/// is `EIO`, `ENOSPC` or `SLOW[=MS]` (delay, at most a minute), `offset`
/// (default 0) is decimal or `0x` hex, `count` (default: unlimited) is a
/// positive decimal number.
pub fn parse(spec: &str) -> Result<Rule, String> {
    let spec = spec.trim();
    let (op, rest) = spec
        .split_once(':')
        .ok_or_else(|| format!("fault spec {spec:?}: expected op:ERRNO[@offset][*count]"))?;
    let op = match op.to_ascii_lowercase().as_str() {
        "read" => Op::Read,
        "write" => Op::Write,
        _ => return Err(format!("fault spec {spec:?}: op must be read or write")),
    };
    let (rest, count) = match rest.split_once('*') {
        Some((r, c)) => {
            let n: u32 = c
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("fault spec {spec:?}: bad count {c:?}"))?;
            (r, Some(n))
        }
        None => (rest, None),
    };
    let (errno, offset) = match rest.split_once('@') {
        Some((e, o)) => {
            let o = parse_u64(o).ok_or_else(|| format!("fault spec {spec:?}: bad offset {o:?}"))?;
            (e, o)
        }
        None => (rest, 0),
    };
    let bad = || format!("fault spec {spec:?}: errno must be EIO, ENOSPC or SLOW[=MS]");
    let (errno, delay_ms) = match errno.to_ascii_uppercase().strip_prefix("SLOW") {
        Some("") => (0, 100),
        Some(ms) => {
            let ms: u32 = ms
                .strip_prefix('=')
                .and_then(|m| m.parse().ok())
                .filter(|&m| m <= 60_000)
                .ok_or_else(bad)?;
            (0, ms)
        }
        None => (errno_by_name(errno).ok_or_else(bad)?, 0),
    };
    Ok(Rule {
        op,
        errno,
        delay_ms,
        offset,
        count,
    })
}

/// Fails I/O of `len` bytes at `offset` on `path` if an enabled rule
/// matches it (counting the failure against the rule's count). Costs one
/// relaxed atomic load while fault injection is not enabled.
#[inline]
pub fn check(path: &Path, op: Op, offset: u64, len: u64) -> io::Result<()> {
    if !ENABLED.load(Ordering::Relaxed) {
        return Ok(());
    }
    check_rules(path, op, offset, len)
}

#[cold]
fn check_rules(path: &Path, op: Op, offset: u64, len: u64) -> io::Result<()> {
    let mut t = table();
    if t.is_empty() {
        return Ok(());
    }
    let key = (path.to_path_buf(), op);
    let Some(rule) = t.get_mut(&key) else {
        return Ok(());
    };
    // [offset, offset + len) touches [rule.offset, ..); an empty request
    // touches its offset.
    let end = offset.saturating_add(len.max(1));
    if end <= rule.offset {
        return Ok(());
    }
    let (errno, delay_ms) = (rule.errno, rule.delay_ms);
    if let Some(n) = rule.count.as_mut() {
        *n -= 1;
        if *n == 0 {
            t.remove(&key);
        }
    }
    drop(t);
    if delay_ms > 0 {
        // Only job threads do image I/O; the table is not held meanwhile.
        std::thread::sleep(std::time::Duration::from_millis(delay_ms.into()));
    }
    match errno {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

#[cfg(test)]
mod tests;
