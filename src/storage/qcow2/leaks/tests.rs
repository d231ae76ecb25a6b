use std::process::Command;

use super::*;
use crate::storage::path::SrDir;
use crate::storage::test_sr::{self, qemu_img};

fn open_rw(s: &SrDir, name: &str) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(s.path(name).unwrap())
        .unwrap()
}

/// `qemu-img check`: (corruptions + check errors, leaks).
fn check(s: &SrDir, name: &str) -> (u64, u64) {
    let out = Command::new("qemu-img")
        .args(["check", "--output=json", name])
        .current_dir(s.root())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("check: {}", String::from_utf8_lossy(&out.stderr)));
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    (n("corruptions") + n("check-errors"), n("leaks"))
}

fn qemu_io(s: &SrDir, name: &str, cmd: &str) {
    let out = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", cmd, name])
        .current_dir(s.root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An image with data, zeroes and a persistent bitmap.
fn image(s: &SrDir, name: &str) {
    qemu_img(s, &["create", "-q", "-f", "qcow2", name, "8M"]);
    qemu_io(s, name, "write -P 0x5a 0 1M");
    qemu_io(s, name, "write -P 0xa5 5M 64k");
    qemu_io(s, name, "write -z 6M 1M");
    qemu_img(s, &["bitmap", "--add", name, "b0"]);
    qemu_io(s, name, "write -P 0x11 7M 4k");
}

/// `n` clusters given a refcount and no user, as a killed writer leaves
/// them; returns the first one's offset.
fn leak(s: &SrDir, name: &str, n: u64) -> u64 {
    let f = open_rw(s, name);
    let h = Header::read(&f).unwrap();
    let mut first = vec![0u8; h.cluster_size()];
    read_up_to(&f, &mut first, 0).unwrap();
    let mut rc = Refcounts::load(&f, &first, h.cluster_bits).unwrap();
    let at = rc.alloc(n).unwrap();
    rc.write().unwrap();
    // Written, as a data cluster would be (qemu-img check counts only
    // clusters inside the file).
    let c = h.cluster_size() as u64;
    std::os::unix::fs::FileExt::write_all_at(&f, &vec![0u8; (n * c) as usize], at).unwrap();
    at
}

fn data(s: &SrDir, name: &str) -> Vec<u8> {
    let out = s.root().join(format!("{name}.raw"));
    qemu_img(s, &["convert", "-O", "raw", name, out.to_str().unwrap()]);
    std::fs::read(out).unwrap()
}

#[test]
fn a_clean_image_is_left_clean() {
    let s = test_sr::sr("leaks-clean");
    image(&s, "a.qcow2");
    assert_eq!(check(&s, "a.qcow2"), (0, 0));
    let before = std::fs::read(s.path("a.qcow2").unwrap()).unwrap();
    assert_eq!(repair(&open_rw(&s, "a.qcow2")).unwrap(), Repair::Freed(0));
    assert_eq!(std::fs::read(s.path("a.qcow2").unwrap()).unwrap(), before);
}

#[test]
fn leaked_clusters_are_freed_and_the_data_and_bitmaps_kept() {
    let s = test_sr::sr("leaks-freed");
    image(&s, "a.qcow2");
    let want = data(&s, "a.qcow2");
    leak(&s, "a.qcow2", 3);
    assert_eq!(check(&s, "a.qcow2"), (0, 3));
    assert_eq!(repair(&open_rw(&s, "a.qcow2")).unwrap(), Repair::Freed(3));
    assert_eq!(check(&s, "a.qcow2"), (0, 0));
    assert_eq!(data(&s, "a.qcow2"), want);
    let f = open_rw(&s, "a.qcow2");
    assert_eq!(bitmaps::list(&f).unwrap().len(), 1);
    // A second pass finds nothing.
    assert_eq!(repair(&f).unwrap(), Repair::Freed(0));
}

#[test]
fn a_data_cluster_written_but_never_mapped_is_freed() {
    // What the torture run found: a killed import's data cluster, with its
    // refcount and its bytes, but no L2 entry.
    let s = test_sr::sr("leaks-unmapped");
    qemu_img(&s, &["create", "-q", "-f", "qcow2", "a.qcow2", "2M"]);
    let at = leak(&s, "a.qcow2", 1);
    let f = open_rw(&s, "a.qcow2");
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xcd; 4096], at + 0xc000).unwrap();
    assert_eq!(check(&s, "a.qcow2"), (0, 1));
    assert_eq!(repair(&f).unwrap(), Repair::Freed(1));
    assert_eq!(check(&s, "a.qcow2"), (0, 0));
    assert_eq!(data(&s, "a.qcow2"), vec![0u8; 2 << 20]);
}

#[test]
fn files_it_does_not_follow_are_left_alone() {
    let s = test_sr::sr("leaks-skipped");
    qemu_img(&s, &["create", "-q", "-f", "qcow2", "a.qcow2", "4M"]);
    qemu_io(&s, "a.qcow2", "write -P 1 0 64k");
    qemu_img(&s, &["snapshot", "-c", "snap", "a.qcow2"]);
    leak(&s, "a.qcow2", 1);
    assert_eq!(
        repair(&open_rw(&s, "a.qcow2")).unwrap(),
        Repair::Skipped("internal snapshots")
    );
    qemu_img(&s, &["create", "-q", "-f", "qcow2", "c.qcow2", "4M"]);
    qemu_io(&s, "c.qcow2", "write -P 1 0 64k");
    let src = s.root().join("c.qcow2");
    let dst = s.root().join("z.qcow2");
    qemu_img(
        &s,
        &[
            "convert",
            "-c",
            "-O",
            "qcow2",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ],
    );
    leak(&s, "z.qcow2", 1);
    assert_eq!(
        repair(&open_rw(&s, "z.qcow2")).unwrap(),
        Repair::Skipped("compressed clusters")
    );
    assert_eq!(check(&s, "z.qcow2"), (0, 1));
}

#[test]
fn a_refcount_below_its_users_writes_nothing() {
    let s = test_sr::sr("leaks-corrupt");
    image(&s, "a.qcow2");
    leak(&s, "a.qcow2", 1);
    // Drop the L1 table's refcount to 0: a corrupt image.
    let f = open_rw(&s, "a.qcow2");
    let mut first = vec![0u8; 65536];
    read_up_to(&f, &mut first, 0).unwrap();
    let l1 = be64(&first, HDR_L1_OFFSET).unwrap();
    let mut rc = Refcounts::load(&f, &first, 16).unwrap();
    rc.free(l1, 1).unwrap();
    rc.write().unwrap();
    let before = std::fs::read(s.path("a.qcow2").unwrap()).unwrap();
    assert_eq!(
        repair(&f).unwrap(),
        Repair::Skipped("a refcount below its users")
    );
    assert_eq!(std::fs::read(s.path("a.qcow2").unwrap()).unwrap(), before);
}

#[test]
fn a_huge_refcount_is_lowered_in_one_step() {
    // Found by the qcow2_bitmaps fuzz target: the repair dropped one
    // reference at a time, so a 64-bit count of 2^64 - 1 never ended.
    let s = test_sr::sr("leaks-huge");
    qemu_img(
        &s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "refcount_bits=64",
            "a.qcow2",
            "8M",
        ],
    );
    qemu_io(&s, "a.qcow2", "write -P 0x5a 0 1M");
    let want = data(&s, "a.qcow2");
    let at = leak(&s, "a.qcow2", 1);
    let f = open_rw(&s, "a.qcow2");
    let mut first = vec![0u8; 65536];
    read_up_to(&f, &mut first, 0).unwrap();
    let table = be64(&first, HDR_RT_OFFSET).unwrap();
    let mut entry = [0u8; 8];
    read_up_to(&f, &mut entry, table).unwrap();
    let block = u64::from_be_bytes(entry);
    let c = at >> 16;
    assert!(
        c < 65536 / 8,
        "the leaked cluster is described by the first block"
    );
    std::os::unix::fs::FileExt::write_all_at(&f, &u64::MAX.to_be_bytes(), block + c * 8).unwrap();
    assert_eq!(repair(&f).unwrap(), Repair::Freed(u64::MAX));
    assert_eq!(check(&s, "a.qcow2"), (0, 0));
    assert_eq!(data(&s, "a.qcow2"), want);
    assert_eq!(repair(&f).unwrap(), Repair::Freed(0));
}
