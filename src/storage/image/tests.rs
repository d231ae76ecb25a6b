use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use std::path::Path;

use super::*;
use crate::storage::qcow2::header::Header;

mod corrupt;
mod crash;

const K: u64 = 1 << 10;
const M: u64 = 1 << 20;

/// An SR directory removed at the end of the test.
struct TestSr(SrDir);

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

fn sr() -> TestSr {
    let d = std::env::temp_dir().join(format!("xapid-image-{}", uuid::Uuid::new_v4()));
    TestSr(SrDir::open(&d).unwrap())
}

fn run(prog: &str, args: &[&str], cwd: &Path) -> String {
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

fn qemu_img(s: &SrDir, args: &[&str]) -> String {
    run("qemu-img", args, s.root())
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

/// Runs `f` on a thread, failing if it does not finish in time (so that
/// opening a FIFO by mistake fails the test instead of hanging it).
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("did not finish: something outside the SR was opened")
}

#[test]
fn hostile_backing_names_are_refused_unopened() {
    let s = sr();
    let outside = std::env::temp_dir().join(format!("xapid-outside-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&outside).unwrap();
    let fifo = outside.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(&fifo, s.root().join("fifolink")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), s.root().join("secretlink")).unwrap();
    create(&s, "good.raw", Format::Raw, M, None).unwrap();
    let out_name = outside.file_name().unwrap().to_str().unwrap();
    let hostile = [
        "/etc/passwd".to_string(),
        fifo.to_str().unwrap().to_string(),
        format!("../{out_name}/fifo"),
        format!("../{out_name}/secret"),
        s.root().join("good.raw").to_str().unwrap().to_string(),
        "./good.raw".to_string(),
        "fifolink".to_string(),
        "secretlink".to_string(),
        "missing.raw".to_string(),
    ];
    for (i, b) in hostile.iter().enumerate() {
        let name = format!("evil{i}.qcow2");
        create(&s, &name, Format::Qcow2, M, None).unwrap();
        let f = s.open_file(&name, true).unwrap();
        Header::set_backing(&f, Some((b, "raw"))).unwrap();
        let s2 = s.0.clone();
        let (p, o) = within(move || {
            (
                probe(&s2, &name).map(|_| ()),
                Image::open(&s2, &name, &OpenOptions::default()).map(|_| ()),
            )
        });
        let e = p.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{b}: {e}");
        assert!(e.to_string().contains("not allowed"), "{b}: {e}");
        assert_eq!(kind(o), io::ErrorKind::InvalidData, "{b}");
    }
    // One layer down: probing the top is fine, opening the chain is not.
    create(&s, "chain.qcow2", Format::Qcow2, M, None).unwrap();
    let f = s.open_file("chain.qcow2", true).unwrap();
    Header::set_backing(&f, Some(("evil0.qcow2", "qcow2"))).unwrap();
    assert_eq!(
        probe(&s, "chain.qcow2").unwrap().backing.as_deref(),
        Some("evil0.qcow2")
    );
    let e = Image::open(&s, "chain.qcow2", &OpenOptions::default()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("/etc/passwd"), "{e}");
    // Nor can it be used as a backing file.
    assert_eq!(
        kind(create(&s, "x.qcow2", Format::Qcow2, M, Some("evil0.qcow2"))),
        io::ErrorKind::InvalidData
    );
    assert!(!s.root().join("x.qcow2").exists());
    // External data files are names too; imago would open them.
    qemu_img(
        &s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "data_file=data.raw",
            "ext.qcow2",
            "1M",
        ],
    );
    let e = probe(&s, "ext.qcow2").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert_eq!(
        kind(Image::open(&s, "ext.qcow2", &OpenOptions::default())),
        io::ErrorKind::InvalidData
    );
    // A symlink is not an image either.
    assert!(probe(&s, "secretlink").is_err());
    assert!(Image::open(&s, "secretlink", &OpenOptions::default()).is_err());
    std::fs::remove_dir_all(outside).unwrap();
}

#[test]
fn recorded_raw_backing_is_not_probed() {
    // A raw disk whose guest wrote a qcow2 header naming /etc/passwd:
    // as the recorded raw backing of an overlay, it stays raw.
    let s = sr();
    create(&s, "evil.qcow2", Format::Qcow2, M, None).unwrap();
    let f = s.open_file("evil.qcow2", true).unwrap();
    Header::set_backing(&f, Some(("/etc/passwd", "raw"))).unwrap();
    create(&s, "top.qcow2", Format::Qcow2, M, None).unwrap();
    let f = s.open_file("top.qcow2", true).unwrap();
    Header::set_backing(&f, Some(("evil.qcow2", "raw"))).unwrap();
    let img = Image::open(&s, "top.qcow2", &OpenOptions::default()).unwrap();
    assert_eq!(img.layer_format(1).unwrap(), Format::Raw);
    assert_eq!(&read(&img, 0, 0, 4), b"QFI\xfb");
    let raw = Image::open_format(&s, "evil.qcow2", Format::Raw, &OpenOptions::default());
    assert_eq!(raw.unwrap().format(), Format::Raw);
}

#[test]
fn loops_and_deep_chains_are_refused() {
    let s = sr();
    create(&s, "a.qcow2", Format::Qcow2, M, None).unwrap();
    create(&s, "b.qcow2", Format::Qcow2, M, Some("a.qcow2")).unwrap();
    // set_backing refuses to make the loop...
    for (img, b) in [("a.qcow2", "b.qcow2"), ("a.qcow2", "a.qcow2")] {
        assert_eq!(
            kind(set_backing(&s, img, Some(b))),
            io::ErrorKind::InvalidInput
        );
    }
    // ...but a header may have one.
    let f = s.open_file("a.qcow2", true).unwrap();
    Header::set_backing(&f, Some(("b.qcow2", "qcow2"))).unwrap();
    let e = Image::open(&s, "b.qcow2", &OpenOptions::default()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("loop"), "{e}");
    Header::set_backing(&f, Some(("a.qcow2", "qcow2"))).unwrap();
    assert_eq!(
        kind(Image::open(&s, "a.qcow2", &OpenOptions::default())),
        io::ErrorKind::InvalidData
    );

    create(&s, "l0", Format::Raw, M, None).unwrap();
    for i in 1..=MAX_CHAIN {
        create(
            &s,
            &format!("l{i}"),
            Format::Qcow2,
            M,
            Some(&format!("l{}", i - 1)),
        )
        .unwrap();
    }
    let img = Image::open(&s, &format!("l{}", MAX_CHAIN - 1), &OpenOptions::default()).unwrap();
    assert_eq!(img.depth(), MAX_CHAIN);
    let e = Image::open(&s, &format!("l{MAX_CHAIN}"), &OpenOptions::default()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
}

#[test]
fn resize_grows_only() {
    let s = sr();
    create(&s, "r.raw", Format::Raw, M, None).unwrap();
    resize(&s, "r.raw", 2 * M).unwrap();
    assert_eq!(info(&s, "r.raw")["virtual-size"], 2 * M);
    for bad in [M, 2 * M - 512, 2 * M - 1, MAX_SIZE + 1, u64::MAX] {
        assert_eq!(
            kind(resize(&s, "r.raw", bad)),
            io::ErrorKind::InvalidInput,
            "{bad}"
        );
    }
    resize(&s, "r.raw", 2 * M).unwrap();
    // A raw file may have any length.
    resize(&s, "r.raw", 2 * M + 1).unwrap();
    assert_eq!(probe(&s, "r.raw").unwrap().virtual_size, 2 * M + 1);

    create(&s, "q.qcow2", Format::Qcow2, M, None).unwrap();
    {
        let img = Image::open(&s, "q.qcow2", &rw()).unwrap();
        img.write_at(&pattern(1, 100_000), M - 100_000).unwrap();
        img.flush().unwrap();
    }
    resize(&s, "q.qcow2", 3 * M).unwrap();
    assert_eq!(info(&s, "q.qcow2")["virtual-size"], 3 * M);
    check(&s, "q.qcow2");
    assert_eq!(kind(resize(&s, "q.qcow2", M)), io::ErrorKind::InvalidInput);
    assert_eq!(
        kind(resize(&s, "q.qcow2", 4 * M + 1)),
        io::ErrorKind::InvalidInput
    );
    let img = Image::open(&s, "q.qcow2", &OpenOptions::default()).unwrap();
    assert_eq!(img.size(), 3 * M);
    assert_eq!(read(&img, 0, M - 100_000, 100_000), pattern(1, 100_000));
    assert!(read(&img, 0, M, 2 * M).iter().all(|&b| b == 0));

    // An overlay shorter than its backing: the grown range reads as
    // zeroes, not as the backing file (as QEMU does it).
    create(&s, "base.raw", Format::Raw, 4 * M, None).unwrap();
    {
        let b = Image::open(&s, "base.raw", &rw()).unwrap();
        b.write_at(&vec![0x11; 4 * M as usize], 0).unwrap();
        b.flush().unwrap();
    }
    create(&s, "top.qcow2", Format::Qcow2, M + 512, Some("base.raw")).unwrap();
    resize(&s, "top.qcow2", 6 * M).unwrap();
    assert_eq!(info(&s, "top.qcow2")["virtual-size"], 6 * M);
    check(&s, "top.qcow2");
    let mut model = vec![0u8; 6 * M as usize];
    model[..M as usize + 512].fill(0x11);
    compare(&s, "top.qcow2", Format::Qcow2, &model);
    let img = Image::open(&s, "top.qcow2", &OpenOptions::default()).unwrap();
    assert!(read(&img, 0, 0, 6 * M) == model);
    create(&s, "top2.qcow2", Format::Qcow2, M, Some("base.raw")).unwrap();
    resize(&s, "top2.qcow2", 2 * M).unwrap();
    check(&s, "top2.qcow2");
    let mut model = vec![0u8; 2 * M as usize];
    model[..M as usize].fill(0x11);
    compare(&s, "top2.qcow2", Format::Qcow2, &model);
}

#[test]
fn set_backing_rewrites_the_pointer() {
    let s = sr();
    create(&s, "base1.raw", Format::Raw, M, None).unwrap();
    create(&s, "base2.qcow2", Format::Qcow2, M, None).unwrap();
    create(&s, "top.qcow2", Format::Qcow2, M, Some("base1.raw")).unwrap();
    set_backing(&s, "top.qcow2", Some("base2.qcow2")).unwrap();
    let i = info(&s, "top.qcow2");
    assert_eq!(i["backing-filename"], "base2.qcow2", "{i}");
    assert_eq!(i["backing-filename-format"], "qcow2", "{i}");
    check(&s, "top.qcow2");
    let img = Image::open(&s, "top.qcow2", &OpenOptions::default()).unwrap();
    assert_eq!(img.layers(), ["top.qcow2", "base2.qcow2"]);
    drop(img);
    set_backing(&s, "top.qcow2", None).unwrap();
    let i = info(&s, "top.qcow2");
    assert!(i.get("backing-filename").is_none(), "{i}");
    check(&s, "top.qcow2");
    set_backing(&s, "top.qcow2", Some("base1.raw")).unwrap();
    assert_eq!(info(&s, "top.qcow2")["backing-filename-format"], "raw");
    for bad in ["/etc/passwd", "../base1.raw", "missing", "top.qcow2"] {
        assert_eq!(
            kind(set_backing(&s, "top.qcow2", Some(bad))),
            io::ErrorKind::InvalidInput,
            "{bad}"
        );
    }
    assert_eq!(
        kind(set_backing(&s, "base1.raw", Some("base2.qcow2"))),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        probe(&s, "top.qcow2").unwrap().backing.as_deref(),
        Some("base1.raw")
    );
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

#[test]
fn raw_files_of_any_length() {
    use Alloc::*;
    let s = sr();
    // Created (as VDI.copy does for a copy of a 5-byte file), or placed
    // by hand.
    create(&s, "five.raw", Format::Raw, 5, None).unwrap();
    assert_eq!(
        std::fs::metadata(s.root().join("five.raw")).unwrap().len(),
        5
    );
    let p = probe(&s, "five.raw").unwrap();
    assert_eq!((p.format, p.virtual_size), (Format::Raw, 5));
    let img = Image::open(&s, "five.raw", &rw()).unwrap();
    assert_eq!(img.size(), 5);
    assert_eq!(img.status(0, 0, u64::MAX).unwrap(), (5, Zero));
    img.write_at(b"hello", 0).unwrap();
    assert_eq!(read(&img, 0, 0, 5), b"hello");
    assert_eq!(img.status(0, 0, u64::MAX).unwrap(), (5, Data));
    assert_eq!(img.status(0, 3, u64::MAX).unwrap(), (2, Data));
    assert_eq!(img.status(0, 5, u64::MAX).unwrap(), (0, Zero));
    assert_eq!(read(&img, 0, 3, 10), b"lo\0\0\0\0\0\0\0\0");
    img.write_zeroes(1, 3).unwrap();
    assert_eq!(read(&img, 0, 0, 5), b"h\0\0\0o");
    assert_eq!(kind(img.write_at(b"!!", 4)), io::ErrorKind::InvalidInput);
    assert_eq!(kind(img.write_zeroes(0, 6)), io::ErrorKind::InvalidInput);
    img.write_zeroes(0, 5).unwrap();
    img.write_at(b"x", 4).unwrap();
    img.flush().unwrap();
    drop(img);
    assert_eq!(
        std::fs::read(s.root().join("five.raw")).unwrap(),
        b"\0\0\0\0x"
    );

    // Larger, with a partial last block and a hole before it.
    let n = 3 * 65536 + 123;
    std::fs::write(s.root().join("odd.raw"), pattern(7, n as usize)).unwrap();
    let img = Image::open(&s, "odd.raw", &rw()).unwrap();
    assert_eq!(img.size(), n);
    img.write_zeroes(65536, n - 65536).unwrap();
    let mut model = pattern(7, n as usize);
    model[65536..].fill(0);
    img.write_at(b"tail", n - 4).unwrap();
    model[n as usize - 4..].copy_from_slice(b"tail");
    assert!(read(&img, 0, 0, n) == model);
    // Every byte is in some run, and the runs end at the file's end.
    let rs = runs(&img, 0);
    assert_eq!(rs.first().unwrap().0, 0);
    assert_eq!(rs.last().unwrap().1, n);
    assert_eq!(rs.last().unwrap().2, Data);
    img.flush().unwrap();
    drop(img);
    compare(&s, "odd.raw", Format::Raw, &model);

    // Copying one image into another, as a job does.
    create(&s, "copy.raw", Format::Raw, n, None).unwrap();
    let src = Image::open(&s, "odd.raw", &OpenOptions::default()).unwrap();
    let dst = Image::open(&s, "copy.raw", &rw()).unwrap();
    let mut pos = 0;
    while pos < n {
        let (len, a) = src.status(0, pos, 65536).unwrap();
        assert!(len > 0);
        if a == Data {
            let buf = read(&src, 0, pos, len);
            dst.write_at(&buf, pos).unwrap();
        } else {
            dst.write_zeroes(pos, len).unwrap();
        }
        pos += len;
    }
    dst.flush().unwrap();
    assert_eq!(std::fs::read(s.root().join("copy.raw")).unwrap(), model);
}

#[test]
fn raw_backing_of_any_length() {
    use Alloc::*;
    let s = sr();
    for n in [5u64, 1000, 3 * 65536 + 123] {
        let base = format!("base{n}.raw");
        let top = format!("top{n}.qcow2");
        std::fs::write(s.root().join(&base), pattern(n, n as usize)).unwrap();
        let size = (n + 600).next_multiple_of(512);
        create(&s, &top, Format::Qcow2, size, Some(&base)).unwrap();
        let mut model = vec![0u8; size as usize];
        model[..n as usize].copy_from_slice(&pattern(n, n as usize));
        let img = Image::open(&s, &top, &rw()).unwrap();
        assert_eq!(img.layer_size(1).unwrap(), n);
        assert!(read(&img, 0, 0, size) == model, "{n}");
        assert!(read(&img, 1, 0, size) == model, "{n}");
        assert_eq!(img.status(1, n, u64::MAX).unwrap(), (size - n, Zero));
        assert_eq!(img.status(1, 0, u64::MAX).unwrap().1, Data);
        // A write into the cluster holding the backing's end copies
        // the rest of that cluster up from it.
        let at = n.saturating_sub(3);
        img.write_at(b"abcdef", at).unwrap();
        model[at as usize..at as usize + 6].copy_from_slice(b"abcdef");
        assert!(read(&img, 0, 0, size) == model, "{n}");
        img.flush().unwrap();
        drop(img);
        check(&s, &top);
        compare(&s, &top, Format::Qcow2, &model);

        // Growing past the backing's end: as QEMU does, what was not
        // visible before reads as zeroes.
        let grown = size + 4 * 65536;
        resize(&s, &top, grown).unwrap();
        model.resize(grown as usize, 0);
        check(&s, &top);
        compare(&s, &top, Format::Qcow2, &model);
        let img = Image::open(&s, &top, &OpenOptions::default()).unwrap();
        assert!(read(&img, 0, 0, grown) == model, "{n}");
    }
    // An overlay shorter than its odd-sized backing, grown over it.
    let n = 3 * 65536 + 123;
    create(
        &s,
        "short.qcow2",
        Format::Qcow2,
        65536 + 512,
        Some(&format!("base{n}.raw")),
    )
    .unwrap();
    resize(&s, "short.qcow2", 4 * 65536).unwrap();
    let mut model = vec![0u8; 4 * 65536];
    model[..65536 + 512].copy_from_slice(&pattern(n, 65536 + 512));
    check(&s, "short.qcow2");
    compare(&s, "short.qcow2", Format::Qcow2, &model);
}
