use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

use super::*;
use crate::storage::path::SrDir;
use crate::storage::test_sr::{self, qemu_img, run, TestSr};

fn sr() -> TestSr {
    test_sr::sr("bitmaps")
}

fn open_rw(s: &SrDir, name: &str) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(s.path(name).unwrap())
        .unwrap()
}

fn create(s: &SrDir, name: &str, size: &str, cluster: &str) {
    let o = format!("cluster_size={cluster}");
    qemu_img(s, &["create", "-q", "-f", "qcow2", "-o", &o, name, size]);
}

/// `qemu-img info` as JSON.
fn info(s: &SrDir, name: &str) -> serde_json::Value {
    serde_json::from_str(&qemu_img(s, &["info", "--output=json", "-U", name])).unwrap()
}

/// QEMU's view of the bitmaps: (name, granularity, flags).
fn qemu_bitmaps(s: &SrDir, name: &str) -> Vec<(String, u64, Vec<String>)> {
    let i = info(s, name);
    let Some(list) = i["format-specific"]["data"]["bitmaps"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_owned(),
                b["granularity"].as_u64().unwrap(),
                b["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
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

fn clean(s: &SrDir, name: &str) {
    assert_eq!(check(s, name), (0, 0), "qemu-img check {name}");
}

fn set_bits(b: &Bitmap) -> Vec<u64> {
    (0..b.len()).filter(|&n| b.get(n)).collect()
}

#[test]
fn bits_are_lsb_first_in_each_byte() {
    let mut b = Bitmap::new(64 << 16, 1 << 16).unwrap();
    assert_eq!(b.len(), 64);
    b.set(0, true);
    b.set(9, true);
    b.set(63, true);
    assert_eq!(b.to_bytes(), [1, 2, 0, 0, 0, 0, 0, 0x80]);
    let mut c = Bitmap::new(64 << 16, 1 << 16).unwrap();
    c.fill_from(&b.to_bytes());
    assert_eq!(b, c);
    assert_eq!(c.count(), 3);
    // Bits past the end never come from the bytes.
    let mut d = Bitmap::new(3 << 16, 1 << 16).unwrap();
    d.fill_from(&[0xff]);
    assert_eq!(d.count(), 3);
    assert_eq!(d.to_bytes(), [7]);
    // mark() covers every bit the range touches.
    let mut m = Bitmap::new(10 << 16, 1 << 16).unwrap();
    m.mark(65535, 2);
    m.mark(9 << 16, 1 << 20);
    assert_eq!(set_bits(&m), [0, 1, 9]);
    assert!(Bitmap::new(1 << 20, 256).is_err());
    assert!(Bitmap::new(1 << 20, 3 << 12).is_err());
}

#[test]
fn reads_what_qemu_io_recorded() {
    let s = sr();
    create(&s, "a.qcow2", "4M", "64k");
    qemu_img(&s, &["bitmap", "--add", "-g", "65536", "a.qcow2", "b0"]);
    qemu_img(&s, &["bitmap", "--add", "-g", "4096", "a.qcow2", "fine"]);
    qemu_img(&s, &["bitmap", "--add", "--disable", "a.qcow2", "off"]);
    let io = |cmd: &str| run("qemu-io", &["-f", "qcow2", "-c", cmd, "a.qcow2"], s.root());
    io("write -P 1 0 64k");
    io("write -P 2 1M 100k");
    io("write -P 3 4000k 1");
    let f = open_rw(&s, "a.qcow2");
    let l = list(&f).unwrap();
    let names: Vec<&str> = l.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["b0", "fine", "off"]);
    assert_eq!(l[0].granularity, 65536);
    assert!(l[0].auto && !l[0].in_use);
    assert!(!l[2].auto);
    assert_eq!(l[2].count, Some(0));
    let b0 = load(&f, "b0").unwrap();
    assert_eq!(set_bits(&b0), [0, 16, 17, 62]);
    assert_eq!(l[0].count, Some(4));
    let fine = load(&f, "fine").unwrap();
    let mut want: Vec<u64> = (0..16).collect();
    want.extend(256..256 + 25);
    want.push(4000 * 1024 / 4096);
    assert_eq!(set_bits(&fine), want);
    assert!(load(&f, "none").is_err());
}

#[test]
fn qemu_reads_what_xapid_stored() {
    let s = sr();
    create(&s, "a.qcow2", "8M", "64k");
    let f = open_rw(&s, "a.qcow2");
    let mut b0 = Bitmap::new(8 << 20, 65536).unwrap();
    for n in [0, 3, 17, 63, 64, 127] {
        b0.set(n, true);
    }
    let mut b1 = Bitmap::new(8 << 20, 4096).unwrap();
    b1.mark(1 << 20, 1 << 20);
    store(&f, &[("b0", &b0, true), ("b1", &b1, false)]).unwrap();
    assert_eq!(
        qemu_bitmaps(&s, "a.qcow2"),
        [
            ("b0".to_owned(), 65536, vec!["auto".to_owned()]),
            ("b1".to_owned(), 4096, vec![]),
        ]
    );
    clean(&s, "a.qcow2");
    assert_eq!(load(&f, "b0").unwrap(), b0);
    assert_eq!(load(&f, "b1").unwrap(), b1);
    // QEMU reads our data: it merges b0 into a bitmap of its own.
    qemu_img(&s, &["bitmap", "--add", "a.qcow2", "q"]);
    qemu_img(&s, &["bitmap", "--merge", "b0", "a.qcow2", "q"]);
    qemu_img(&s, &["bitmap", "--remove", "a.qcow2", "b1"]);
    clean(&s, "a.qcow2");
    let l = list(&f).unwrap();
    let names: Vec<&str> = l.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["b0", "q"]);
    assert_eq!(load(&f, "q").unwrap(), b0);
    // And writes through QEMU still land in our auto bitmap.
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write 7M 4k", "a.qcow2"],
        s.root(),
    );
    let mut want = b0.clone();
    want.set(112, true);
    assert_eq!(load(&f, "b0").unwrap(), want);
}

#[test]
fn store_replaces_the_set_and_frees_the_old_one() {
    let s = sr();
    // Small clusters: tables and directories of several clusters, and
    // refcount blocks that must be created past the end of the file.
    create(&s, "a.qcow2", "8M", "512");
    let f = open_rw(&s, "a.qcow2");
    let mut b = Bitmap::new(8 << 20, 512).unwrap();
    for n in (0..b.len()).step_by(7) {
        b.set(n, true);
    }
    let mut ones = Bitmap::new(8 << 20, 65536).unwrap();
    ones.mark(0, 8 << 20);
    let long = "n".repeat(MAX_NAME);
    store(&f, &[("x", &b, true), (long.as_str(), &ones, true)]).unwrap();
    clean(&s, "a.qcow2");
    assert_eq!(load(&f, "x").unwrap(), b);
    assert_eq!(load(&f, &long).unwrap(), ones);
    assert_eq!(qemu_bitmaps(&s, "a.qcow2").len(), 2);
    let size1 = f.metadata().unwrap().len();
    // Replacing the set reuses what the old one freed: the file stays
    // about the same size.
    for _ in 0..3 {
        store(&f, &[("x", &b, true), (long.as_str(), &ones, true)]).unwrap();
        clean(&s, "a.qcow2");
    }
    assert!(f.metadata().unwrap().len() <= size1 * 2 + (1 << 20));
    store(&f, &[("y", &ones, false)]).unwrap();
    clean(&s, "a.qcow2");
    assert_eq!(list(&f).unwrap().len(), 1);
    // The empty set removes the extension.
    store(&f, &[]).unwrap();
    clean(&s, "a.qcow2");
    assert!(list(&f).unwrap().is_empty());
    assert!(qemu_bitmaps(&s, "a.qcow2").is_empty());
    // Data written by QEMU is intact.
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -P 9 0 1M", "a.qcow2"],
        s.root(),
    );
    store(&f, &[("z", &b, true)]).unwrap();
    clean(&s, "a.qcow2");
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "read -P 9 0 1M", "a.qcow2"],
        s.root(),
    );
}

#[test]
fn store_refuses_bad_sets() {
    let s = sr();
    create(&s, "a.qcow2", "1M", "64k");
    let f = open_rw(&s, "a.qcow2");
    let b = Bitmap::new(1 << 20, 65536).unwrap();
    let wrong = Bitmap::new(2 << 20, 65536).unwrap();
    assert!(store(&f, &[("", &b, true)]).is_err());
    assert!(store(&f, &[("a", &b, true), ("a", &b, true)]).is_err());
    assert!(store(&f, &[("a", &wrong, true)]).is_err());
    let long = "n".repeat(MAX_NAME + 1);
    assert!(store(&f, &[(long.as_str(), &b, true)]).is_err());
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
    assert!(store(&open_rw(&s, "v2.qcow2"), &[("a", &b, true)]).is_err());
    clean(&s, "a.qcow2");
}

#[test]
fn an_overlay_keeps_its_backing_file() {
    let s = sr();
    create(&s, "base.qcow2", "1M", "64k");
    qemu_img(
        &s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "base.qcow2",
            "-F",
            "qcow2",
            "top.qcow2",
        ],
    );
    let f = open_rw(&s, "top.qcow2");
    let mut b = Bitmap::new(1 << 20, 65536).unwrap();
    b.set(2, true);
    store(&f, &[("b", &b, true)]).unwrap();
    let i = info(&s, "top.qcow2");
    assert_eq!(i["backing-filename"], "base.qcow2");
    assert_eq!(i["backing-filename-format"], "qcow2");
    clean(&s, "top.qcow2");
    store(&f, &[]).unwrap();
    assert_eq!(info(&s, "top.qcow2")["backing-filename"], "base.qcow2");
    clean(&s, "top.qcow2");
}

/// imago, opening an image for writing, clears the autoclear bits (which
/// would leave the bitmaps stale and their clusters leaked): the set is
/// taken out before, and stored again only once the writer has gone.
#[test]
fn a_write_open_takes_the_bitmaps_out_until_stored_again() {
    use crate::storage::image::{store_bitmaps, Format, Image, OpenOptions};
    use crate::storage::image::{PersistentBitmap, Stored};
    let s = sr();
    create(&s, "a.qcow2", "1M", "64k");
    let f = open_rw(&s, "a.qcow2");
    let b = Bitmap::new(1 << 20, 65536).unwrap();
    store(&f, &[("b", &b, true)]).unwrap();
    let rw = OpenOptions {
        write: true,
        ..Default::default()
    };
    let img = Image::open_format(&s, "a.qcow2", Format::Qcow2, &rw).unwrap();
    // Out, with no leak, while the writer has the file.
    assert!(list(&f).unwrap().is_empty());
    assert!(qemu_bitmaps(&s, "a.qcow2").is_empty());
    let set = vec![
        PersistentBitmap {
            name: "b".into(),
            granularity: 65536,
            recording: true,
            inconsistent: false,
            bits: vec![0x80, 0x01, 0xff],
        },
        PersistentBitmap {
            name: "bad".into(),
            granularity: 4096,
            recording: false,
            inconsistent: true,
            bits: vec![0xff],
        },
    ];
    assert_eq!(
        store_bitmaps(&s, "a.qcow2", &set).unwrap(),
        Stored::WriterOpen
    );
    // A second writer of the same file changes nothing.
    let img2 = Image::open_format(&s, "a.qcow2", Format::Qcow2, &rw).unwrap();
    img.write_at(&[1u8; 512], 0).unwrap();
    img.flush().unwrap();
    drop(img);
    assert_eq!(
        store_bitmaps(&s, "a.qcow2", &set).unwrap(),
        Stored::WriterOpen
    );
    drop(img2);
    clean(&s, "a.qcow2");
    assert_eq!(store_bitmaps(&s, "a.qcow2", &set).unwrap(), Stored::Done);
    clean(&s, "a.qcow2");
    let got = load(&f, "b").unwrap();
    // (Bits past the end of the disk dropped.)
    assert_eq!(set_bits(&got), [0, 15]);
    assert_eq!(
        qemu_bitmaps(&s, "a.qcow2"),
        [
            ("b".to_owned(), 65536, vec!["auto".to_owned()]),
            ("bad".to_owned(), 4096, vec!["in-use".to_owned()]),
        ]
    );
    // A reader opening changes nothing.
    let ro = Image::open_format(&s, "a.qcow2", Format::Qcow2, &OpenOptions::default()).unwrap();
    drop(ro);
    assert_eq!(qemu_bitmaps(&s, "a.qcow2").len(), 2);
    // An empty set removes them; then there is nothing to do.
    assert_eq!(store_bitmaps(&s, "a.qcow2", &[]).unwrap(), Stored::Done);
    assert_eq!(store_bitmaps(&s, "a.qcow2", &[]).unwrap(), Stored::Nothing);
    assert!(qemu_bitmaps(&s, "a.qcow2").is_empty());
    clean(&s, "a.qcow2");
    // Raw files hold none.
    std::fs::write(s.path("r.raw").unwrap(), vec![0u8; 65536]).unwrap();
    assert_eq!(store_bitmaps(&s, "r.raw", &set).unwrap(), Stored::Nothing);
}

#[test]
fn a_stale_extension_holds_no_bitmaps() {
    let s = sr();
    create(&s, "a.qcow2", "1M", "64k");
    qemu_img(&s, &["bitmap", "--add", "a.qcow2", "b0"]);
    let f = open_rw(&s, "a.qcow2");
    assert_eq!(list(&f).unwrap().len(), 1);
    // What a writer that does not know bitmaps does: clear autoclear bit 0.
    let mut h = [0u8; 8];
    f.read_exact_at(&mut h, HDR_AUTOCLEAR as u64).unwrap();
    let v = u64::from_be_bytes(h) & !AUTOCLEAR_BITMAPS;
    f.write_all_at(&v.to_be_bytes(), HDR_AUTOCLEAR as u64)
        .unwrap();
    assert!(list(&f).unwrap().is_empty());
    assert!(load(&f, "b0").is_err());
    // Storing over a stale set works (its clusters are only leaked).
    let b = Bitmap::new(1 << 20, 65536).unwrap();
    store(&f, &[("n", &b, true)]).unwrap();
    assert_eq!(check(&s, "a.qcow2").0, 0);
    assert_eq!(qemu_bitmaps(&s, "a.qcow2").len(), 1);
}

#[test]
fn in_use_is_what_qemu_calls_in_use() {
    let s = sr();
    create(&s, "a.qcow2", "1M", "64k");
    let f = open_rw(&s, "a.qcow2");
    let mut b = Bitmap::new(1 << 20, 65536).unwrap();
    b.set(3, true);
    let set = |in_use| {
        [
            ToStore {
                name: "b0",
                bitmap: &b,
                auto: true,
                in_use,
            },
            ToStore {
                name: "b1",
                bitmap: &b,
                auto: true,
                in_use: false,
            },
        ]
    };
    store_all(&f, &set(true), None).unwrap();
    let q = qemu_bitmaps(&s, "a.qcow2");
    assert_eq!(q[0].2, ["in-use", "auto"]);
    assert_eq!(q[1].2, ["auto"]);
    let l = list(&f).unwrap();
    assert!(l[0].in_use && l[0].count.is_none());
    assert!(load(&f, "b0").is_err());
    assert_eq!(set_bits(&load(&f, "b1").unwrap()), [3]);
    clean(&s, "a.qcow2");
    store_all(&f, &set(false), None).unwrap();
    assert_eq!(qemu_bitmaps(&s, "a.qcow2")[0].2, ["auto"]);
    assert_eq!(set_bits(&load(&f, "b0").unwrap()), [3]);
    clean(&s, "a.qcow2");
}

// Crash safety: a child process runs `store` with a crash point armed
// (`XAPID_CRASH_AT`) and dies there by SIGKILL; the image must then hold
// the old set or the new one, pass `qemu-img check`, and once the intent
// the store left is settled, have no leaked cluster either.

const POINTS: &[(&str, bool)] = &[
    ("qcow2.bitmaps.data", false),
    ("qcow2.bitmaps.intent", false),
    ("qcow2.bitmaps.refcounts", false),
    ("qcow2.bitmaps.header", true),
    ("qcow2.bitmaps.freed", true),
];

fn old_set(size: u64) -> Vec<(String, Bitmap)> {
    let mut a = Bitmap::new(size, 65536).unwrap();
    a.mark(0, 1 << 20);
    vec![("old".to_owned(), a)]
}

fn new_set(size: u64) -> Vec<(String, Bitmap)> {
    let mut a = Bitmap::new(size, 4096).unwrap();
    a.mark(3 << 20, 300_000);
    let mut b = Bitmap::new(size, 65536).unwrap();
    b.set(5, true);
    vec![("new0".to_owned(), a), ("new1".to_owned(), b)]
}

fn store_set(f: &File, set: &[(String, Bitmap)]) {
    let v: Vec<(&str, &Bitmap, bool)> = set.iter().map(|(n, b)| (n.as_str(), b, true)).collect();
    store(f, &v).unwrap();
}

/// Run by [`a_killed_store_leaves_the_old_or_the_new_set`] in a process
/// of its own, which dies at its crash point.
#[test]
fn store_child() {
    let Ok(path) = std::env::var("XAPID_BITMAPS_CHILD") else {
        return;
    };
    crate::storage::fault::enable();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let intent = std::path::PathBuf::from(format!("{path}.intent"));
    if std::env::var("XAPID_BITMAPS_CHILD_OP").as_deref() == Ok("detach") {
        assert!(detach(&f, Some(&intent)).unwrap());
    } else {
        let set = new_set(16 << 20);
        let v: Vec<ToStore<'_>> = set
            .iter()
            .map(|(n, b)| ToStore {
                name: n,
                bitmap: b,
                auto: true,
                in_use: false,
            })
            .collect();
        store_all(&f, &v, Some(&intent)).unwrap();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nSTORED").unwrap();
    out.flush().unwrap();
}

#[test]
fn a_killed_store_leaves_the_old_or_the_new_set() {
    killed_at_each_point("store");
}

/// Taking the set out before a write open (an empty set stored).
#[test]
fn a_killed_detach_leaves_the_set_or_none() {
    killed_at_each_point("detach");
}

fn killed_at_each_point(op: &str) {
    let size = 16u64 << 20;
    let new = |size| {
        if op == "detach" {
            Vec::new()
        } else {
            new_set(size)
        }
    };
    for &(point, committed) in POINTS {
        let s = sr();
        create(&s, "a.qcow2", "16M", "64k");
        run(
            "qemu-io",
            &["-f", "qcow2", "-c", "write -P 5 0 2M", "a.qcow2"],
            s.root(),
        );
        let f = open_rw(&s, "a.qcow2");
        store_set(&f, &old_set(size));
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "storage::qcow2::bitmaps::tests::store_child",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("XAPID_BITMAPS_CHILD", s.path("a.qcow2").unwrap())
            .env("XAPID_BITMAPS_CHILD_OP", op)
            .env(crash::ENV, point)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stored = out
            .stdout
            .lines()
            .any(|l| l.unwrap().trim_end() == "STORED");
        assert!(!stored, "{point}: the child was not killed");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{point}");
        let (corrupt, leaks) = check(&s, "a.qcow2");
        assert_eq!(corrupt, 0, "{point}: qemu-img check finds corruption");
        let want = if committed { new(size) } else { old_set(size) };
        let names: Vec<String> = list(&f).unwrap().into_iter().map(|i| i.name).collect();
        let want_names: Vec<String> = want.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, want_names, "{point}");
        for (n, b) in &want {
            assert_eq!(&load(&f, n).unwrap(), b, "{point}: {n}");
        }
        // Leaks only between the intent and its end; settling it frees
        // them, and changes nothing else.
        let intent = s.root().join("a.qcow2.intent");
        let leak_expected = match op {
            "detach" => point == "qcow2.bitmaps.header",
            _ => point == "qcow2.bitmaps.refcounts" || point == "qcow2.bitmaps.header",
        };
        assert_eq!(leaks > 0, leak_expected, "{point}: {leaks} leaks");
        let left = intent.exists();
        assert_eq!(settle(&f, &intent).unwrap(), left, "{point}");
        assert!(!intent.exists());
        assert_eq!(check(&s, "a.qcow2"), (0, 0), "{point}: after settling");
        let names: Vec<String> = list(&f).unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(names, want_names, "{point}: after settling");
        // QEMU agrees, the data is intact, and the next store works.
        assert_eq!(qemu_bitmaps(&s, "a.qcow2").len(), want.len(), "{point}");
        run(
            "qemu-io",
            &["-f", "qcow2", "-c", "read -P 5 0 2M", "a.qcow2"],
            s.root(),
        );
        store_set(&f, &old_set(size));
        clean(&s, "a.qcow2");
    }
}

#[test]
fn an_intent_round_trips_and_garbage_is_refused() {
    use super::intent::{Intent, MAGIC};
    let i = Intent {
        file: (2049, 77),
        new_dir: 65536,
        old_dir: 0,
        new: vec![(65536, 1), (131072, 3)],
        old: vec![(1 << 20, 2)],
    };
    assert_eq!(Intent::decode(&i.encode()).unwrap(), i);
    assert!(Intent::decode("nope\n").is_err());
    assert!(Intent::decode(&format!("{MAGIC}\nnew 1\n")).is_err());
}
