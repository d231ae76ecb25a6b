use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use std::path::Path;

use super::*;
use crate::storage::qcow2::header::Header;
use crate::storage::test_sr::{self, qemu_img, run, TestSr};

mod corrupt;
mod crash;
mod ops;
mod safety;

const K: u64 = 1 << 10;
const M: u64 = 1 << 20;

fn sr() -> TestSr {
    test_sr::sr("image")
}

/// `qemu-io -f fmt -c cmd... name`.
fn qemu_io(s: &SrDir, fmt: &str, name: &str, cmds: &[&str]) {
    let mut args = vec!["-f", fmt];
    for c in cmds {
        args.extend_from_slice(&["-c", c]);
    }
    args.push(name);
    let out = run("qemu-io", &args, s.root());
    assert!(!out.to_lowercase().contains("error"), "qemu-io: {out}");
}

fn info(s: &SrDir, name: &str) -> serde_json::Value {
    serde_json::from_str(&qemu_img(s, &["info", "--output=json", "-U", name])).unwrap()
}

fn check(s: &SrDir, name: &str) {
    qemu_img(s, &["check", "-q", name]);
}

/// `qemu-img compare` of an image with a raw file holding `model`.
fn compare(s: &SrDir, name: &str, fmt: Format, model: &[u8]) {
    let r = format!("ref-{}", uuid::Uuid::new_v4());
    std::fs::write(s.root().join(&r), model).unwrap();
    qemu_img(
        s,
        &["compare", "-q", "-f", fmt.name(), "-F", "raw", name, &r],
    );
    std::fs::remove_file(s.root().join(&r)).unwrap();
}

/// What QEMU reads from an image (`qemu-img convert -O raw`).
fn qemu_contents(s: &SrDir, name: &str) -> Vec<u8> {
    let r = format!("conv-{}", uuid::Uuid::new_v4());
    qemu_img(s, &["convert", "-O", "raw", name, &r]);
    let data = std::fs::read(s.root().join(&r)).unwrap();
    std::fs::remove_file(s.root().join(&r)).unwrap();
    data
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn rw() -> OpenOptions {
    OpenOptions {
        write: true,
        ..Default::default()
    }
}

fn read(img: &Image, layer: usize, offset: u64, len: u64) -> Vec<u8> {
    let mut buf = vec![0xeeu8; len as usize];
    img.read_at(layer, &mut buf, offset).unwrap();
    buf
}

/// Every run of `status` of a layer, as `(start, end, state)`.
fn runs(img: &Image, layer: usize) -> Vec<(u64, u64, Alloc)> {
    let mut out: Vec<(u64, u64, Alloc)> = Vec::new();
    let mut pos = 0;
    while pos < img.size() {
        let (n, a) = img.status(layer, pos, u64::MAX).unwrap();
        assert!(n > 0, "empty run at {pos}");
        if let Some(last) = out.last() {
            assert_ne!(last.2, a, "runs are maximal: {out:?} then {a:?} at {pos}");
        }
        out.push((pos, pos + n, a));
        pos += n;
    }
    out
}

fn kind<T: fmt::Debug>(r: io::Result<T>) -> io::ErrorKind {
    r.unwrap_err().kind()
}

#[test]
fn image_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Image>();
}

#[test]
fn format_names() {
    for f in [Format::Raw, Format::Qcow2] {
        assert_eq!(Format::from_name(f.name()), Some(f));
    }
    assert_eq!(Format::from_name("vmdk"), None);
}

#[test]
fn created_images_are_what_qemu_img_sees() {
    let s = sr();
    create(&s, "a.raw", Format::Raw, 10 * M, None).unwrap();
    create(&s, "b.qcow2", Format::Qcow2, 64 * M, None).unwrap();
    create(&s, "c.qcow2", Format::Qcow2, 64 * M, Some("a.raw")).unwrap();
    create(&s, "d.qcow2", Format::Qcow2, 32 * M + 512, Some("b.qcow2")).unwrap();
    let cases = [
        ("a.raw", "raw", 10 * M, None),
        ("b.qcow2", "qcow2", 64 * M, None),
        ("c.qcow2", "qcow2", 64 * M, Some(("a.raw", "raw"))),
        ("d.qcow2", "qcow2", 32 * M + 512, Some(("b.qcow2", "qcow2"))),
    ];
    for (name, fmt, size, backing) in cases {
        let i = info(&s, name);
        assert_eq!(i["format"], fmt, "{name}: {i}");
        assert_eq!(i["virtual-size"], size, "{name}: {i}");
        match backing {
            Some((b, bf)) => {
                assert_eq!(i["backing-filename"], b, "{name}: {i}");
                assert_eq!(i["backing-filename-format"], bf, "{name}: {i}");
            }
            None => assert!(i.get("backing-filename").is_none(), "{name}: {i}"),
        }
        let p = probe(&s, name).unwrap();
        assert_eq!(p.format.name(), fmt);
        assert_eq!(p.virtual_size, size);
        assert_eq!(p.backing.as_deref(), backing.map(|b| b.0));
        assert_eq!(p.backing_format.map(Format::name), backing.map(|b| b.1));
        assert!(p.physical_utilisation < M, "{name}: {p:?}");
        if fmt == "qcow2" {
            assert_eq!(i["cluster-size"], 65536, "{i}");
            assert_eq!(i["format-specific"]["data"]["compat"], "1.1", "{i}");
            check(&s, name);
        }
    }
    // The largest size works for qcow2 (a raw file that large may not
    // fit the file system, but then nothing is left behind).
    create(&s, "max.qcow2", Format::Qcow2, MAX_SIZE, None).unwrap();
    assert_eq!(info(&s, "max.qcow2")["virtual-size"], MAX_SIZE);
    check(&s, "max.qcow2");
    if create(&s, "max.raw", Format::Raw, MAX_SIZE, None).is_err() {
        assert!(!s.root().join("max.raw").exists());
    }
}

#[test]
fn create_refuses_bad_requests() {
    let s = sr();
    create(&s, "a.raw", Format::Raw, M, None).unwrap();
    for size in [MAX_SIZE + 1, MAX_SIZE + 512, u64::MAX, u64::MAX - 511] {
        for f in [Format::Raw, Format::Qcow2] {
            assert_eq!(
                kind(create(&s, "n", f, size, None)),
                io::ErrorKind::InvalidInput,
                "{size}"
            );
        }
    }
    // A qcow2's size is whole sectors; a raw file's is any.
    for size in [1, 1000, M + 511] {
        assert_eq!(
            kind(create(&s, "n", Format::Qcow2, size, None)),
            io::ErrorKind::InvalidInput,
            "{size}"
        );
    }
    for f in [Format::Raw, Format::Qcow2] {
        assert_eq!(
            kind(create(&s, "a.raw", f, 2 * M, None)),
            io::ErrorKind::AlreadyExists
        );
    }
    assert_eq!(std::fs::metadata(s.root().join("a.raw")).unwrap().len(), M);
    for bad in ["../x", "a/b", ".hidden", "", "/etc/x"] {
        assert_eq!(
            kind(create(&s, bad, Format::Raw, M, None)),
            io::ErrorKind::InvalidInput,
            "{bad:?}"
        );
    }
    std::os::unix::fs::symlink("/etc/passwd", s.root().join("link")).unwrap();
    for bad in ["/etc/passwd", "../a.raw", "missing", "link", "n.qcow2"] {
        assert_eq!(
            kind(create(&s, "n.qcow2", Format::Qcow2, M, Some(bad))),
            io::ErrorKind::InvalidInput,
            "{bad:?}"
        );
    }
    assert_eq!(
        kind(create(&s, "n.raw", Format::Raw, M, Some("a.raw"))),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(s.list().unwrap(), vec!["a.raw".to_string()]);
}

#[test]
fn unaligned_writes_read_back_as_qemu_sees_them() {
    let s = sr();
    create(&s, "base.raw", Format::Raw, 4 * M, None).unwrap();
    {
        let b = Image::open(&s, "base.raw", &rw()).unwrap();
        b.write_at(&pattern(99, 4 * M as usize), 0).unwrap();
        b.flush().unwrap();
    }
    create(&s, "over.qcow2", Format::Qcow2, 4 * M, Some("base.raw")).unwrap();
    create(&s, "img.qcow2", Format::Qcow2, 4 * M, None).unwrap();
    create(&s, "img.raw", Format::Raw, 4 * M, None).unwrap();
    let writes: [(u64, u64); 9] = [
        (0, 1),
        (511, 3),
        (65535, 2),
        (65536 - 100, 200),
        (100_000, 70_000),
        (M + 7, 300_000),
        (2 * M, 128 * K),
        (3 * M - 1, 65536 * 3 + 2),
        (4 * M - 5, 5),
    ];
    for (name, fmt) in [
        ("img.qcow2", Format::Qcow2),
        ("img.raw", Format::Raw),
        ("over.qcow2", Format::Qcow2),
    ] {
        let mut model = if name == "over.qcow2" {
            pattern(99, 4 * M as usize)
        } else {
            vec![0u8; 4 * M as usize]
        };
        let img = Image::open(&s, name, &rw()).unwrap();
        assert_eq!((img.format(), img.size()), (fmt, 4 * M));
        for (i, &(off, len)) in writes.iter().enumerate() {
            let data = pattern(i as u64, len as usize);
            img.write_at(&data, off).unwrap();
            model[off as usize..(off + len) as usize].copy_from_slice(&data);
        }
        for &(off, len) in &[(0, 4 * M), (3, 1), (65530, 20), (M - 1, M + 2)] {
            assert!(
                read(&img, 0, off, len) == model[off as usize..(off + len) as usize],
                "{name} at {off}+{len}"
            );
        }
        // Past the end: zeroes; writing there: refused.
        let tail = read(&img, 0, 4 * M - 50, 100);
        assert_eq!(&tail[..50], &model[4 * M as usize - 50..]);
        assert!(tail[50..].iter().all(|&b| b == 0));
        assert!(read(&img, 0, u64::MAX - 10, 10).iter().all(|&b| b == 0));
        assert_eq!(
            kind(img.write_at(b"xy", 4 * M - 1)),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(img.write_at(b"xy", u64::MAX)),
            io::ErrorKind::InvalidInput
        );
        img.flush().unwrap();
        drop(img);
        compare(&s, name, fmt, &model);
        if fmt == Format::Qcow2 {
            check(&s, name);
        }
        let ro = Image::open(&s, name, &OpenOptions::default()).unwrap();
        assert!(read(&ro, 0, 0, 4 * M) == model, "{name} reopened");
        assert_eq!(kind(ro.write_at(b"x", 0)), io::ErrorKind::PermissionDenied);
    }
}

/// base.raw <- mid.qcow2 <- top.qcow2, written by qemu-io.
fn qemu_chain(s: &SrDir) {
    qemu_img(s, &["create", "-q", "-f", "raw", "base.raw", "1M"]);
    qemu_io(s, "raw", "base.raw", &["write -P 0x11 0 512k"]);
    qemu_img(
        s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "mid.qcow2",
        ],
    );
    qemu_io(
        s,
        "qcow2",
        "mid.qcow2",
        &[
            "write -P 0x22 64k 64k",
            "write -z 256k 64k",
            "write -c -P 0x44 512k 64k",
        ],
    );
    qemu_img(
        s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "mid.qcow2",
            "-F",
            "qcow2",
            "top.qcow2",
            "2M",
        ],
    );
    qemu_io(s, "qcow2", "top.qcow2", &["write -P 0x33 128k 64k"]);
}

#[test]
fn chain_status_and_reads_per_layer() {
    use Alloc::*;
    let s = sr();
    qemu_chain(&s);
    let img = Image::open(&s, "top.qcow2", &OpenOptions::default()).unwrap();
    assert_eq!(img.layers(), ["top.qcow2", "mid.qcow2", "base.raw"]);
    assert_eq!(img.size(), 2 * M);
    assert_eq!(img.layer_size(1).unwrap(), M);
    assert_eq!(img.layer_format(2).unwrap(), Format::Raw);
    assert_eq!(
        runs(&img, 0),
        [
            (0, 128 * K, Unallocated),
            (128 * K, 192 * K, Data),
            (192 * K, 2 * M, Unallocated)
        ]
    );
    assert_eq!(
        runs(&img, 1),
        [
            (0, 64 * K, Unallocated),
            (64 * K, 128 * K, Data),
            (128 * K, 256 * K, Unallocated),
            (256 * K, 320 * K, Zero),
            (320 * K, 512 * K, Unallocated),
            (512 * K, 576 * K, Data),
            (576 * K, M, Unallocated),
            (M, 2 * M, Zero),
        ]
    );
    assert_eq!(runs(&img, 2), [(0, 512 * K, Data), (512 * K, 2 * M, Zero)]);
    // Limits.
    assert_eq!(img.status(0, 1000, 10).unwrap(), (10, Unallocated));
    assert_eq!(
        img.status(1, 64 * K + 5, u64::MAX).unwrap(),
        (64 * K - 5, Data)
    );
    assert_eq!(img.status(1, M - 512, 4096).unwrap(), (512, Unallocated));
    assert_eq!(img.status(2, 600 * K, 10).unwrap(), (10, Zero));
    assert_eq!(img.status(0, 2 * M, 1).unwrap(), (0, Zero));
    assert_eq!(img.status(0, 0, 0).unwrap(), (0, Zero));
    assert_eq!(kind(img.status(3, 0, 1)), io::ErrorKind::InvalidInput);
    // What each layer sees.
    let fill = |b: u8, n: u64| vec![b; n as usize];
    assert_eq!(read(&img, 0, 0, 64 * K), fill(0x11, 64 * K));
    assert_eq!(read(&img, 0, 64 * K, 64 * K), fill(0x22, 64 * K));
    assert_eq!(read(&img, 0, 128 * K, 64 * K), fill(0x33, 64 * K));
    assert_eq!(read(&img, 0, 256 * K, 64 * K), fill(0, 64 * K));
    assert_eq!(read(&img, 0, 512 * K + 1, 100), fill(0x44, 100));
    assert_eq!(read(&img, 1, 128 * K, 64 * K), fill(0x11, 64 * K));
    assert_eq!(read(&img, 1, 64 * K, 64 * K), fill(0x22, 64 * K));
    assert_eq!(read(&img, 2, 64 * K, 64 * K), fill(0x11, 64 * K));
    assert_eq!(read(&img, 2, 256 * K, 64 * K), fill(0x11, 64 * K));
    assert_eq!(read(&img, 2, M - 10, 20), fill(0, 20));
    let top = read(&img, 0, 0, 2 * M);
    assert!(top == qemu_contents(&s, "top.qcow2"));
    let mid = read(&img, 1, 0, M);
    assert!(mid == qemu_contents(&s, "mid.qcow2"));
    assert_eq!(
        kind(img.read_at(3, &mut [0], 0)),
        io::ErrorKind::InvalidInput
    );
    drop(img);

    // Writing into the top copies on write from the chain.
    let img = Image::open(&s, "top.qcow2", &rw()).unwrap();
    let mut model = top;
    img.write_at(b"hello", 300 * K).unwrap();
    model[300 * K as usize..300 * K as usize + 5].copy_from_slice(b"hello");
    img.write_at(b"world", 520 * K).unwrap();
    model[520 * K as usize..520 * K as usize + 5].copy_from_slice(b"world");
    assert!(read(&img, 0, 0, 2 * M) == model);
    assert_eq!(img.status(0, 256 * K, u64::MAX).unwrap(), (64 * K, Data));
    img.flush().unwrap();
    drop(img);
    check(&s, "top.qcow2");
    compare(&s, "top.qcow2", Format::Qcow2, &model);
}

#[test]
fn qcow2_without_backing_has_no_unallocated() {
    use Alloc::*;
    let s = sr();
    create(&s, "q.qcow2", Format::Qcow2, M, None).unwrap();
    qemu_io(
        &s,
        "qcow2",
        "q.qcow2",
        &[
            "write -P 1 64k 128k",
            "write -z 128k 64k",
            "write -z 512k 64k",
        ],
    );
    let img = Image::open(&s, "q.qcow2", &OpenOptions::default()).unwrap();
    assert_eq!(
        runs(&img, 0),
        [
            (0, 64 * K, Zero),
            (64 * K, 128 * K, Data),
            (128 * K, M, Zero)
        ]
    );
    assert_eq!(
        read(&img, 0, 100 * K, 60 * K)[..28 * K as usize],
        vec![1; 28 * K as usize]
    );
    assert!(read(&img, 0, 128 * K, 64 * K).iter().all(|&b| b == 0));
}

#[test]
fn raw_holes_and_write_zeroes() {
    use Alloc::*;
    let s = sr();
    create(&s, "r.raw", Format::Raw, 8 * M, None).unwrap();
    let img = Image::open(&s, "r.raw", &rw()).unwrap();
    img.write_at(&vec![0xaa; M as usize], M).unwrap();
    img.flush().unwrap();
    assert_eq!(
        runs(&img, 0),
        [(0, M, Zero), (M, 2 * M, Data), (2 * M, 8 * M, Zero)]
    );
    let blocks = || std::fs::metadata(s.root().join("r.raw")).unwrap().blocks();
    let before = blocks();
    img.write_zeroes(M + 4 * K, 512 * K).unwrap();
    img.flush().unwrap();
    assert!(
        before - blocks() >= 512 * K / 512,
        "{before} -> {}",
        blocks()
    );
    assert!(read(&img, 0, M + 4 * K, 512 * K).iter().all(|&b| b == 0));
    assert_eq!(img.status(0, M + 4 * K, u64::MAX).unwrap(), (512 * K, Zero));
    assert_eq!(img.status(0, M, u64::MAX).unwrap(), (4 * K, Data));
    // Unaligned: the neighbours stay.
    img.write_zeroes(M + 600 * K + 100, 1000).unwrap();
    let r = read(&img, 0, M + 600 * K, 2 * K);
    assert!(r[..100].iter().all(|&b| b == 0xaa));
    assert!(r[100..1100].iter().all(|&b| b == 0));
    assert!(r[1100..].iter().all(|&b| b == 0xaa));
    assert_eq!(
        kind(img.write_zeroes(8 * M - 1, 2)),
        io::ErrorKind::InvalidInput
    );
    img.write_zeroes(0, 0).unwrap();
}

#[test]
fn qcow2_write_zeroes_hides_the_backing() {
    let s = sr();
    create(&s, "base.raw", Format::Raw, 4 * M, None).unwrap();
    {
        let b = Image::open(&s, "base.raw", &rw()).unwrap();
        b.write_at(&vec![0x11; 4 * M as usize], 0).unwrap();
        b.flush().unwrap();
    }
    create(&s, "top.qcow2", Format::Qcow2, 4 * M, Some("base.raw")).unwrap();
    let img = Image::open(&s, "top.qcow2", &rw()).unwrap();
    let mut model = vec![0x11u8; 4 * M as usize];
    img.write_at(&vec![0x22; 256 * K as usize], 0).unwrap();
    model[..256 * K as usize].fill(0x22);
    for (off, len) in [(1000, 200_000), (M, M), (3 * M + 1, 1)] {
        img.write_zeroes(off, len).unwrap();
        model[off as usize..(off + len) as usize].fill(0);
    }
    assert!(read(&img, 0, 0, 4 * M) == model);
    assert_eq!(img.status(0, M, u64::MAX).unwrap(), (M, Alloc::Zero));
    img.flush().unwrap();
    drop(img);
    check(&s, "top.qcow2");
    compare(&s, "top.qcow2", Format::Qcow2, &model);

    // qcow2 v2 has no zero clusters: zeroes are written.
    qemu_img(
        &s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "compat=0.10",
            "v2.qcow2",
            "1M",
        ],
    );
    let img = Image::open(&s, "v2.qcow2", &rw()).unwrap();
    img.write_at(&vec![7; 256 * K as usize], 0).unwrap();
    img.write_zeroes(5, 64 * K + 3).unwrap();
    let r = read(&img, 0, 0, 256 * K);
    assert!(r[..5].iter().all(|&b| b == 7));
    assert!(r[5..64 * K as usize + 8].iter().all(|&b| b == 0));
    assert!(r[64 * K as usize + 8..].iter().all(|&b| b == 7));
    img.flush().unwrap();
    drop(img);
    check(&s, "v2.qcow2");
}

#[test]
fn lower_layers_can_be_written_for_commit() {
    let s = sr();
    create(&s, "base.qcow2", Format::Qcow2, M, None).unwrap();
    create(&s, "top.qcow2", Format::Qcow2, M, Some("base.qcow2")).unwrap();
    let opts = OpenOptions {
        write: false,
        write_layers: vec!["base.qcow2".into()],
    };
    let img = Image::open(&s, "top.qcow2", &opts).unwrap();
    assert!(!img.layer_writable(0).unwrap() && img.layer_writable(1).unwrap());
    assert_eq!(kind(img.write_at(b"x", 0)), io::ErrorKind::PermissionDenied);
    img.write_layer_at(1, &pattern(5, 70_000), 1000).unwrap();
    img.write_zeroes_layer(1, 2000, 10).unwrap();
    let mut want = pattern(5, 70_000);
    want[1000..1010].fill(0);
    assert_eq!(read(&img, 0, 1000, 70_000), want);
    assert_eq!(img.status(1, 0, u64::MAX).unwrap(), (128 * K, Alloc::Data));
    assert_eq!(img.status(0, 0, u64::MAX).unwrap(), (M, Alloc::Unallocated));
    img.flush().unwrap();
    drop(img);
    check(&s, "base.qcow2");
    check(&s, "top.qcow2");
    let bad = OpenOptions {
        write: true,
        write_layers: vec!["other".into()],
    };
    assert_eq!(
        kind(Image::open(&s, "top.qcow2", &bad)),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn injected_faults_reach_callers() {
    fault::enable();
    let s = sr();
    create(&s, "q.qcow2", Format::Qcow2, M, None).unwrap();
    create(&s, "r.raw", Format::Raw, M, None).unwrap();
    for name in ["q.qcow2", "r.raw"] {
        let img = Image::open(&s, name, &rw()).unwrap();
        let path = s.path(name).unwrap();
        fault::set(&path, Some(fault::parse("read:EIO@0x10000*1").unwrap()));
        let mut buf = vec![0u8; 4096];
        img.read_at(0, &mut buf, 0).unwrap();
        let e = img.read_at(0, &mut buf, 65536 - 10).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO), "{name}");
        img.read_at(0, &mut buf, 65536).unwrap();
        fault::set(&path, Some(fault::parse("write:ENOSPC").unwrap()));
        let e = img.write_at(b"x", 5).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{name}");
        let e = img.write_zeroes(0, 512).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{name}");
        fault::set(&path, None);
        img.write_at(b"x", 5).unwrap();
        img.flush().unwrap();
    }
}

/// Writes and reads back a pattern through a shared image.
fn exercise(img: &Image, seed: u64, offset: u64, len: usize) {
    let data = pattern(seed, len);
    for (i, chunk) in data.chunks(64 * 1024 + 13).enumerate() {
        img.write_at(chunk, offset + (i * (64 * 1024 + 13)) as u64)
            .unwrap();
    }
    assert!(read(img, 0, offset, len as u64) == data);
}

#[test]
fn works_from_threads_and_inside_tokio() {
    let s = sr();
    create(&s, "q.qcow2", Format::Qcow2, 8 * M, None).unwrap();
    let img = Arc::new(Image::open(&s, "q.qcow2", &rw()).unwrap());
    // Plain threads, concurrently.
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let img = Arc::clone(&img);
            std::thread::spawn(move || exercise(&img, t, t * 2 * M, 2 * M as usize - 7))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // tokio's blocking threads, and (blocking, but not panicking) a
    // runtime's own thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let i2 = Arc::clone(&img);
    rt.block_on(async move {
        let tasks: Vec<_> = (0..2u64)
            .map(|t| {
                let img = Arc::clone(&i2);
                tokio::task::spawn_blocking(move || {
                    exercise(&img, 10 + t, t * 4 * M + 12345, M as usize)
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        exercise(&i2, 20, 7 * M, 1000);
    });
    let i3 = Arc::clone(&img);
    let local = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    local.block_on(async move {
        tokio::spawn(async move { exercise(&i3, 21, 7 * M + 5000, 1000) })
            .await
            .unwrap()
    });
    img.flush().unwrap();
    let img = Arc::into_inner(img).unwrap();
    drop(img);
    check(&s, "q.qcow2");
    let img = Image::open(&s, "q.qcow2", &OpenOptions::default()).unwrap();
    assert_eq!(read(&img, 0, 7 * M + 5000, 1000), pattern(21, 1000));
}
