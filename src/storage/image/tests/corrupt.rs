//! Corrupt qcow2 metadata is an error, never data: a table or data cluster
//! that a pointer places past the end of the file (where the file system
//! would read zeroes) fails the read or status call with an I/O error,
//! as QEMU refuses such an image as corrupt.

use std::os::unix::fs::FileExt;

use super::*;

/// The COPIED flag of L1 and L2 entries (refcount exactly one).
const COPIED: u64 = 1 << 63;
/// Far past the end of any test file, cluster-aligned.
const FAR: u64 = 1 << 40;

fn be64_at(s: &SrDir, name: &str, at: u64) -> u64 {
    let mut b = [0u8; 8];
    File::open(s.path(name).unwrap())
        .unwrap()
        .read_exact_at(&mut b, at)
        .unwrap();
    u64::from_be_bytes(b)
}

fn put64_at(s: &SrDir, name: &str, at: u64, v: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(s.path(name).unwrap())
        .unwrap();
    f.write_all_at(&v.to_be_bytes(), at).unwrap();
    f.sync_all().unwrap();
}

/// `(where L1[0] is, where L2[0] of that table is)` in a qcow2 with data
/// at guest offset 0.
fn first_entries(s: &SrDir, name: &str) -> (u64, u64) {
    let l1 = be64_at(s, name, 40);
    let l2 = be64_at(s, name, l1) & 0x00ff_ffff_ffff_fe00;
    assert_ne!(l2, 0, "guest offset 0 is mapped");
    (l1, l2)
}

/// Reading and asking the status of guest offset 0 both fail.
fn refused(s: &SrDir, name: &str, what: &str) {
    let img = Image::open(s, name, &OpenOptions::default()).unwrap();
    let mut buf = vec![0u8; 4096];
    let r = img.read_at(0, &mut buf, 0);
    assert!(r.is_err(), "{what}: read served {:?}...", &buf[..8]);
    let r = img.status(0, 0, 4096);
    assert!(r.is_err(), "{what}: status said {r:?}");
    let r = img.chain_status(0, img.depth(), 0, 4096);
    assert!(r.is_err(), "{what}: chain status said {r:?}");
}

fn corrupt_both_ways(s: &SrDir, name: &str) {
    let (l1, l2) = first_entries(s, name);
    let l1_entry = be64_at(s, name, l1);
    // The L1 entry points the L2 table past the end of the file.
    put64_at(s, name, l1, FAR | COPIED);
    refused(s, name, "L2 table past EOF");
    put64_at(s, name, l1, l1_entry);
    // The L2 entry points the data cluster past the end of the file.
    put64_at(s, name, l2, FAR | COPIED);
    refused(s, name, "data cluster past EOF");
}

#[test]
fn pointers_past_the_end_of_the_file_are_errors() {
    let s = sr();
    qemu_img(&s, &["create", "-q", "-f", "qcow2", "t.qcow2", "1M"]);
    qemu_io(&s, "qcow2", "t.qcow2", &["write -P 0x5a 0 128k"]);
    corrupt_both_ways(&s, "t.qcow2");
}

#[test]
fn pointers_past_the_end_do_not_fall_through_to_the_backing_file() {
    let s = sr();
    qemu_img(&s, &["create", "-q", "-f", "raw", "base.raw", "1M"]);
    qemu_io(&s, "raw", "base.raw", &["write -P 0x11 0 1M"]);
    qemu_img(
        &s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "top.qcow2",
        ],
    );
    qemu_io(&s, "qcow2", "top.qcow2", &["write -P 0x22 0 64k"]);
    corrupt_both_ways(&s, "top.qcow2");
}

/// What a qcow2 holds near the end of its file stays readable: images
/// whose file ends right after their last table or data cluster, with and
/// without a backing file, compressed clusters included.
#[test]
fn data_at_the_end_of_the_file_is_served() {
    let s = sr();
    qemu_img(&s, &["create", "-q", "-f", "raw", "base.raw", "3M"]);
    qemu_io(&s, "raw", "base.raw", &["write -P 0x11 0 3M"]);
    qemu_img(&s, &["create", "-q", "-f", "qcow2", "empty.qcow2", "1M"]);
    qemu_img(
        &s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "over.qcow2",
        ],
    );
    qemu_io(&s, "qcow2", "over.qcow2", &["write -P 0x22 1M 512"]);
    qemu_img(
        &s,
        &[
            "convert",
            "-q",
            "-c",
            "-O",
            "qcow2",
            "base.raw",
            "comp.qcow2",
        ],
    );
    for (name, want) in [
        ("empty.qcow2", 0x00),
        ("over.qcow2", 0x11),
        ("comp.qcow2", 0x11),
    ] {
        let img = Image::open(&s, name, &OpenOptions::default()).unwrap();
        let model = qemu_contents(&s, name);
        let mut got = vec![0u8; model.len()];
        img.read_at(0, &mut got, 0).unwrap();
        assert!(got == model, "{name}");
        assert_eq!(got[0], want, "{name}");
        let mut pos = 0;
        while pos < img.size() {
            pos += img.chain_status(0, img.depth(), pos, u64::MAX).unwrap().0;
        }
    }
}

/// The header's own table pointers past the end: the image does not open
/// (read-only for the L1 table; writable for the refcount table, which
/// only a writer reads).
#[test]
fn tables_past_the_end_of_the_file_do_not_open() {
    let s = sr();
    for (at, write) in [(40, false), (48, true)] {
        let name = format!("t{at}.qcow2");
        qemu_img(&s, &["create", "-q", "-f", "qcow2", &name, "1M"]);
        qemu_io(&s, "qcow2", &name, &["write -P 0x5a 0 128k"]);
        put64_at(&s, &name, at, FAR);
        let opts = OpenOptions {
            write,
            ..Default::default()
        };
        let r = Image::open(&s, &name, &opts);
        assert!(r.is_err(), "header offset {at}: {r:?}");
    }
}
