//! Replays the fuzzers' corpora and the inputs of the crashes they found
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) through the same
//! property checks as the fuzz targets (`tests/fuzz_checks/mod.rs`), so the
//! ordinary test run keeps every one of them passing. docs/reliability.md,
//! "Fuzzing", tells how to run the fuzzers themselves.

#[path = "fuzz_checks/mod.rs"]
mod fuzz_checks;

use std::path::{Path, PathBuf};

#[global_allocator]
static ALLOC: fuzz_checks::LimitAlloc = fuzz_checks::LimitAlloc;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn replay(target: &str) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no corpus for fuzz target {target}");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let r = std::panic::catch_unwind(|| fuzz_checks::run(target, &data));
        assert!(r.is_ok(), "fuzz input {} fails its check", f.display());
    }
}

#[test]
fn every_target_is_replayed() {
    let tested = [
        "xmlrpc",
        "jsonrpc",
        "http_data",
        "qcow2_header",
        "qcow2_bitmaps",
        "nbd",
        "xe_args",
        "config",
    ];
    for (name, _, _) in fuzz_checks::TARGETS {
        assert!(tested.contains(name), "{name} has no replay test");
    }
}

#[test]
fn xmlrpc() {
    replay("xmlrpc");
}

#[test]
fn jsonrpc() {
    replay("jsonrpc");
}

#[test]
fn http_data() {
    replay("http_data");
}

#[test]
fn qcow2_header() {
    replay("qcow2_header");
}

#[test]
fn qcow2_bitmaps() {
    replay("qcow2_bitmaps");
}

#[test]
fn nbd() {
    replay("nbd");
}

#[test]
fn xe_args() {
    replay("xe_args");
}

#[test]
fn config() {
    replay("config");
}
