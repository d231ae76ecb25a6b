//! Test fixtures shared by the storage tests: a throw-away SR directory and
//! running qemu-img (the oracle) in it.

use std::path::Path;
use std::process::Command;

use super::path::SrDir;

/// An SR directory removed at the end of the test.
pub(crate) struct TestSr(SrDir);

impl std::ops::Deref for TestSr {
    type Target = SrDir;
    fn deref(&self) -> &SrDir {
        &self.0
    }
}

impl Drop for TestSr {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.root());
    }
}

/// A fresh SR directory under the temp dir, named after `tag`.
pub(crate) fn sr(tag: &str) -> TestSr {
    let d = std::env::temp_dir().join(format!("xapid-{tag}-{}", uuid::Uuid::new_v4()));
    TestSr(SrDir::open(&d).unwrap())
}

/// Runs `prog` in `cwd`, failing the test (with its output) unless it
/// succeeds; returns what it printed.
pub(crate) fn run(prog: &str, args: &[&str], cwd: &Path) -> String {
    let out = Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{prog} runs: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `qemu-img ARGS` in the SR's directory.
pub(crate) fn qemu_img(s: &SrDir, args: &[&str]) -> String {
    run("qemu-img", args, s.root())
}
