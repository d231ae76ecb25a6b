use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

use super::*;
use crate::storage::image::{Image, OpenOptions};
use crate::storage::test_sr::{self, qemu_img, TestSr};

fn sr() -> TestSr {
    test_sr::sr("files")
}

const SIZE: u64 = 4 << 20;

/// A VDI file `name` of `format` with data in some places and holes in
/// others, and `orig.<format>`, a copy of it to compare with.
fn vdi(s: &SrDir, name: &str, format: Format) {
    image::create(s, name, format, SIZE, None).unwrap();
    let rw = OpenOptions {
        write: true,
        ..Default::default()
    };
    let img = Image::open_format(s, name, format, &rw).unwrap();
    for k in 0..16u64 {
        let data: Vec<u8> = (0..40_000u64).map(|i| ((i * 31 + k) % 251) as u8).collect();
        img.write_at(&data, k * (SIZE / 16) + 1000).unwrap();
    }
    img.flush().unwrap();
    drop(img);
    std::fs::copy(
        s.path(name).unwrap(),
        s.path(&format!("orig.{format}")).unwrap(),
    )
    .unwrap();
}

/// `cur`, read as `format` (through its backing chain), holds exactly the
/// original bytes; every qcow2 involved passes `qemu-img check`.
fn intact(s: &SrDir, cur: &str, format: Format, orig: Format) {
    if format == Format::Qcow2 {
        qemu_img(s, &["check", "-q", cur]);
    }
    // As xapid reads it, too.
    let whole = |name: &str, f: Format| {
        let img = Image::open_format(s, name, f, &OpenOptions::default()).unwrap();
        let mut buf = vec![0u8; SIZE as usize];
        img.read_at(0, &mut buf, 0).unwrap();
        buf
    };
    assert!(
        whole(cur, format) == whole(&format!("orig.{orig}"), orig),
        "{cur} as {format}"
    );
    let o = format!("orig.{orig}");
    qemu_img(
        s,
        &[
            "compare",
            "-q",
            "-f",
            format.name(),
            "-F",
            orig.name(),
            cur,
            &o,
        ],
    );
}

fn partials(s: &SrDir) -> usize {
    s.list()
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(PARTIAL))
        .count()
}

#[test]
fn fs_size_of_a_directory() {
    let s = sr();
    assert!(fs_size(s.root()) > 0);
    assert_eq!(fs_size(Path::new("/no/such/directory/here")), 0);
}

#[test]
fn remove_and_sweep() {
    let s = sr();
    image::create(&s, "a.raw", Format::Raw, 4096, None).unwrap();
    // What a killed store of its bitmaps may have left goes with it.
    let intent = image::intent_path(&s, "a.raw").unwrap();
    std::fs::write(&intent, "x").unwrap();
    std::fs::write(format!("{}.tmp", intent.display()), "x").unwrap();
    remove_image(&s, "a.raw").unwrap();
    assert!(s.list().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(s.root()).unwrap().count(), 0);
    remove_image(&s, "a.raw").unwrap();
    assert_eq!(
        remove_image(&s, "../a.raw").unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    for n in ["x", "y"] {
        s.create_file(&format!("{n}{PARTIAL}")).unwrap();
    }
    s.create_file("keep.qcow2").unwrap();
    // The torn intent of a store of keep.qcow2's bitmaps (killed before its
    // rename; found by bench/torture) goes too; a settled one's file stays.
    let intent = image::intent_path(&s, "keep.qcow2").unwrap();
    std::fs::write(format!("{}.tmp", intent.display()), "x").unwrap();
    assert_eq!(sweep_partials(&s).unwrap(), 3);
    assert_eq!(sweep_partials(&s).unwrap(), 0);
    assert_eq!(s.list().unwrap(), vec!["keep.qcow2".to_string()]);
    assert_eq!(std::fs::read_dir(s.root()).unwrap().count(), 1);
}

#[test]
fn take_drop_and_undo() {
    for format in [Format::Raw, Format::Qcow2] {
        let s = sr();
        let cur = format!("v.{format}");
        vdi(&s, &cur, format);
        assert_eq!(
            snapshot_state(&s, &cur, "s").unwrap(),
            SnapshotState::Absent
        );
        take_snapshot(&s, &cur, "s", SIZE, fmt_of(&cur)).unwrap();
        assert_eq!(
            snapshot_state(&s, &cur, "s").unwrap(),
            SnapshotState::Switched
        );
        assert_eq!(partials(&s), 0);
        intact(&s, &cur, Format::Qcow2, format);
        intact(&s, "s", format, format);
        // The snapshot holds data of its own: never dropped.
        assert!(!drop_snapshot_link(&s, &cur, "s").unwrap());
        // Unrelated files are not a snapshot.
        assert_eq!(
            snapshot_state(&s, &cur, &format!("orig.{format}")).unwrap(),
            SnapshotState::Other
        );
        undo_snapshot(&s, &cur, "s").unwrap();
        assert_eq!(
            snapshot_state(&s, &cur, "s").unwrap(),
            SnapshotState::Absent
        );
        intact(&s, &cur, format, format);
    }
}

#[test]
fn a_failed_take_leaves_nothing_behind() {
    let s = sr();
    vdi(&s, "v.raw", Format::Raw);
    // The overlay cannot be created (its size is not a multiple of 512):
    // the link goes again.
    let e = take_snapshot(&s, "v.raw", "s", SIZE + 1, fmt_of("v.raw")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        snapshot_state(&s, "v.raw", "s").unwrap(),
        SnapshotState::Absent
    );
    assert_eq!(partials(&s), 0);
    // An existing snapshot name is an error, and is left alone.
    std::fs::write(s.path("s").unwrap(), b"mine").unwrap();
    let e = take_snapshot(&s, "v.raw", "s", SIZE, fmt_of("v.raw")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(s.path("s").unwrap()).unwrap(), b"mine");
    assert_eq!(
        snapshot_state(&s, "v.raw", "s").unwrap(),
        SnapshotState::Other
    );
    assert!(!drop_snapshot_link(&s, "v.raw", "s").unwrap());
    assert!(take_snapshot(&s, "v.raw", "v.raw", SIZE, fmt_of("v.raw")).is_err());
    assert!(take_snapshot(&s, "v.raw", "../s", SIZE, fmt_of("v.raw")).is_err());
    intact(&s, "v.raw", Format::Raw, Format::Raw);
}

#[test]
fn a_linked_snapshot_can_be_dropped() {
    let s = sr();
    vdi(&s, "v.raw", Format::Raw);
    std::fs::hard_link(s.path("v.raw").unwrap(), s.path("s").unwrap()).unwrap();
    assert_eq!(
        snapshot_state(&s, "v.raw", "s").unwrap(),
        SnapshotState::Linked
    );
    assert!(!drop_snapshot_link(&s, "v.raw", "v.raw").unwrap());
    assert!(drop_snapshot_link(&s, "v.raw", "s").unwrap());
    assert!(!drop_snapshot_link(&s, "v.raw", "s").unwrap());
    intact(&s, "v.raw", Format::Raw, Format::Raw);
}

// Crash safety: a child process runs `take_snapshot` or `undo_snapshot`
// and is SIGKILLed after one of its steps; the files must then be in a
// state recovery knows, holding every byte.

/// Steps of `take_snapshot`, then of `undo_snapshot`, and the states a
/// crash right after each may leave.
const STEPS: &[(&str, SnapshotState)] = &[
    ("take:linked", SnapshotState::Linked),
    ("take:synced", SnapshotState::Linked),
    ("take:overlay", SnapshotState::Linked),
    ("take:renamed", SnapshotState::Switched),
    ("take:done", SnapshotState::Switched),
    ("undo:renamed", SnapshotState::Absent),
    ("undo:done", SnapshotState::Absent),
];

/// The step the child stops at (set once, before the child's call).
static STOP_AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The child's observer: at its step, says so and waits to be killed.
fn stop_here(step: &'static str) {
    if STOP_AT.get().is_some_and(|s| s == step) {
        let mut out = std::io::stdout().lock();
        writeln!(out, "\nSTEP {step}").unwrap();
        out.flush().unwrap();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}

/// Run by [`killed_at_every_step`] in a process of its own, which it kills.
#[test]
fn snapshot_child() {
    let Ok(spec) = std::env::var("XAPID_SNAPSHOT_CHILD") else {
        return;
    };
    let v: Vec<&str> = spec.split('|').collect();
    let (dir, cur, step) = (v[0], v[1], v[2]);
    let s = SrDir::open(Path::new(dir)).unwrap();
    STOP_AT.set(step.to_owned()).unwrap();
    *STEP_OBSERVER.lock().unwrap() = Some(stop_here);
    if step.starts_with("take:") {
        take_snapshot(&s, cur, "s", SIZE, fmt_of(cur)).unwrap();
    } else {
        undo_snapshot(&s, cur, "s").unwrap();
    }
    panic!("step {step} was never reached");
}

/// Runs the child until it reports `step`, then SIGKILLs it.
fn kill_at(s: &SrDir, cur: &str, step: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "storage::files::tests::snapshot_child",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(
            "XAPID_SNAPSHOT_CHILD",
            format!("{}|{cur}|{step}", s.root().display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut reached = false;
    for l in lines {
        if l.unwrap().trim_end() == format!("STEP {step}") {
            reached = true;
            break;
        }
    }
    // SAFETY: signalling our own child, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(reached, "{cur}: the child did not reach {step}: {status:?}");
}

/// After a kill at `step`: the state is the expected one, the data is
/// intact, and recovery as the domain layer does it loses nothing.
fn check_after_kill(s: &SrDir, cur: &str, format: Format, step: &str, want: SnapshotState) {
    let state = snapshot_state(s, cur, "s").unwrap();
    assert_eq!(state, want, "{cur} killed after {step}");
    // An overlay left under its temporary name is a sound qcow2 (checked
    // while the name it is backed by still exists).
    for p in s.list().unwrap().iter().filter(|n| n.ends_with(PARTIAL)) {
        qemu_img(s, &["check", "-q", p]);
    }
    match state {
        SnapshotState::Linked => {
            intact(s, cur, format, format);
            assert!(drop_snapshot_link(s, cur, "s").unwrap());
            assert_eq!(snapshot_state(s, cur, "s").unwrap(), SnapshotState::Absent);
        }
        SnapshotState::Switched => {
            intact(s, cur, Format::Qcow2, format);
            intact(s, "s", format, format);
            assert!(!drop_snapshot_link(s, cur, "s").unwrap());
            intact(s, cur, Format::Qcow2, format);
        }
        SnapshotState::Absent => {}
        SnapshotState::Other => unreachable!(),
    }
    // The overlay exists under its temporary name only between its
    // creation and the rename.
    let expect_partial = step == "take:overlay";
    assert_eq!(partials(s), usize::from(expect_partial), "after {step}");
    assert_eq!(sweep_partials(s).unwrap(), usize::from(expect_partial));
    let now = if state == SnapshotState::Switched {
        Format::Qcow2
    } else {
        format
    };
    intact(s, cur, now, format);
}

#[test]
fn killed_at_every_step() {
    for format in [Format::Raw, Format::Qcow2] {
        for &(step, want) in STEPS {
            let s = sr();
            let cur = format!("v.{format}");
            vdi(&s, &cur, format);
            if step.starts_with("undo:") {
                take_snapshot(&s, &cur, "s", SIZE, fmt_of(&cur)).unwrap();
            }
            kill_at(&s, &cur, step);
            check_after_kill(&s, &cur, format, step, want);
        }
    }
}

/// The format of a test image, from its name.
fn fmt_of(name: &str) -> Format {
    if name.ends_with(".qcow2") {
        Format::Qcow2
    } else {
        Format::Raw
    }
}

#[test]
fn the_overlay_of_a_raw_disk_says_raw_whatever_the_disk_holds() {
    // A guest wrote a qcow2 header (naming another file of the SR) into its
    // raw disk: the snapshot's overlay must still read it as raw data.
    let s = sr();
    std::fs::write(s.root().join("other.raw"), vec![7u8; 4096]).unwrap();
    qemu_img(
        &s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "other.raw",
            "-F",
            "raw",
            "v.raw",
            "1M",
        ],
    );
    let size = std::fs::metadata(s.root().join("v.raw")).unwrap().len();
    take_snapshot(&s, "v.raw", "s", size.next_multiple_of(512), Format::Raw).unwrap();
    let h = Header::read(&std::fs::File::open(s.root().join("v.raw")).unwrap()).unwrap();
    assert_eq!(h.backing_file.as_deref(), Some("s"));
    assert_eq!(h.backing_format.as_deref(), Some("raw"));
}
