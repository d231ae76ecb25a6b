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
mod tests {
    use super::*;

    fn unique_path() -> PathBuf {
        std::env::temp_dir().join(format!("xapid-fault-{}", uuid::Uuid::new_v4()))
    }

    #[test]
    fn parses_specs() {
        assert_eq!(
            parse("read:EIO"),
            Ok(Rule {
                op: Op::Read,
                errno: libc::EIO,
                delay_ms: 0,
                offset: 0,
                count: None
            })
        );
        assert_eq!(
            parse("write:ENOSPC"),
            Ok(Rule {
                op: Op::Write,
                errno: libc::ENOSPC,
                delay_ms: 0,
                offset: 0,
                count: None
            })
        );
        assert_eq!(
            parse("write:EIO@1048576"),
            Ok(Rule {
                op: Op::Write,
                errno: libc::EIO,
                delay_ms: 0,
                offset: 1 << 20,
                count: None
            })
        );
        assert_eq!(
            parse("read:EIO@0x100000*3"),
            Ok(Rule {
                op: Op::Read,
                errno: libc::EIO,
                delay_ms: 0,
                offset: 1 << 20,
                count: Some(3)
            })
        );
        assert_eq!(parse(" Write:enospc*1 ").unwrap().count, Some(1));
        let slow = parse("read:SLOW").unwrap();
        assert_eq!((slow.errno, slow.delay_ms), (0, 100));
        let slow = parse("read:slow=250@4096*2").unwrap();
        assert_eq!((slow.errno, slow.delay_ms, slow.offset), (0, 250, 4096));
        for bad in [
            "",
            "read",
            "read:",
            "read:EPERM",
            "erase:EIO",
            "read:EIO@",
            "read:EIO@x",
            "read:EIO@-1",
            "read:EIO*0",
            "read:EIO*-1",
            "read:EIO*",
            "read:EIO@0x",
            "read:EIO@99999999999999999999999",
            "read:SLOW=",
            "read:SLOW=x",
            "read:SLOW=60001",
            "read:SLOWER",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rules_match_range_op_and_count() {
        enable();
        let p = unique_path();
        let other = unique_path();
        set(&p, Some(parse("read:EIO@4096*2").unwrap()));
        set(&p, Some(parse("write:ENOSPC").unwrap()));
        assert_eq!(rules(&p).len(), 2);
        // Below the offset, other files: fine.
        check(&p, Op::Read, 0, 4096).unwrap();
        check(&other, Op::Read, 4096, 1).unwrap();
        // Touching it: fails twice, then the rule is gone.
        let e = check(&p, Op::Read, 4000, 100).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO));
        assert_eq!(rules(&p)[0].count, Some(1));
        let e = check(&p, Op::Read, 1 << 30, 1).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO));
        check(&p, Op::Read, 4096, 1).unwrap();
        assert_eq!(rules(&p).len(), 1);
        // The write rule is unlimited.
        for _ in 0..5 {
            let e = check(&p, Op::Write, 0, 1).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        }
        set(&p, None);
        check(&p, Op::Write, 0, 1).unwrap();
        assert!(rules(&p).is_empty());
    }

    #[test]
    fn slow_rules_delay_and_succeed() {
        enable();
        let p = unique_path();
        set(&p, Some(parse("read:SLOW=30@4096*1").unwrap()));
        let t = std::time::Instant::now();
        check(&p, Op::Read, 0, 4096).unwrap(); // before the offset: at once
        check(&p, Op::Read, 4096, 1).unwrap(); // delayed, then fine
        assert!(t.elapsed() >= std::time::Duration::from_millis(30));
        assert!(rules(&p).is_empty(), "counted once");
    }

    /// Run by `disabled_by_default` in a process of its own, where nothing
    /// has called `enable()`.
    #[test]
    fn disabled_child() {
        if std::env::var_os("XAPID_FAULT_CHILD").is_none() {
            return;
        }
        assert!(!enabled());
        let p = unique_path();
        set(&p, Some(parse("read:EIO").unwrap()));
        check(&p, Op::Read, 0, 1).unwrap();
        enable();
        assert!(check(&p, Op::Read, 0, 1).is_err());
    }

    #[test]
    fn disabled_by_default() {
        // Other tests enable injection process-wide, so the default is
        // checked in a fresh process running only `disabled_child`.
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "storage::fault::tests::disabled_child",
                "--test-threads=1",
            ])
            .env("XAPID_FAULT_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("1 passed"), "{stdout}");
    }
}
