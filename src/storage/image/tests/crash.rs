//! Crash consistency of qcow2 images written through `Image`: a child
//! process killed while it writes, and every intermediate state of a file
//! copied and checked by `qemu-img check`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;
use crate::storage::qcow2::guarded_file::WRITE_OBSERVER;
use crate::storage::qcow2::ordering::Guard;

/// A registered file: after writes through a guarded imago storage,
/// its bytes are copied and the copy checked by `qemu-img check`.
struct Watch {
    /// Snapshot every metadata write, and every `every`-th other one.
    every: u64,
    others: u64,
    taken: u64,
    tx: std::sync::mpsc::SyncSender<PathBuf>,
}

static WATCHES: std::sync::Mutex<Vec<(PathBuf, Watch)>> = std::sync::Mutex::new(Vec::new());
static WATCHING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The crash-point observer of `GuardedFile`: called after each write it
/// passes on (`meta`: through the guard).
fn after_write(path: &Path, meta: bool) {
    if WATCHING.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut ws = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
    let Some((_, w)) = ws.iter_mut().find(|(p, _)| p == path) else {
        return;
    };
    if !meta {
        w.others += 1;
        if w.others % w.every != 0 {
            return;
        }
    }
    w.taken += 1;
    let snap = path.with_file_name(format!(
        "{}.snap{}",
        path.file_name().unwrap().to_string_lossy(),
        w.taken
    ));
    std::fs::copy(path, &snap).unwrap();
    w.tx.send(snap).unwrap();
}

/// `qemu-img check` of an image as a crash left it: errors (not leaks)
/// are failures.
fn crash_check(path: &Path) -> Result<(), String> {
    let out = Command::new("qemu-img")
        .arg("check")
        .arg(path)
        .output()
        .expect("qemu-img runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0 | 3) if !text.contains("ERROR") => Ok(()),
        c => Err(format!("{}: exit {c:?}\n{text}", path.display())),
    }
}

/// Checks snapshots of `path` on a few threads while a test writes.
struct Watcher {
    path: PathBuf,
    threads: Vec<std::thread::JoinHandle<(u64, Vec<String>)>>,
}

impl Watcher {
    fn start(path: PathBuf, every: u64) -> Watcher {
        let (tx, rx) = std::sync::mpsc::sync_channel::<PathBuf>(16);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let threads = (0..4)
            .map(|_| {
                let rx = Arc::clone(&rx);
                std::thread::spawn(move || {
                    let (mut n, mut bad) = (0, Vec::new());
                    loop {
                        let next = rx.lock().unwrap().recv();
                        let Ok(snap) = next else { break };
                        if let Err(e) = crash_check(&snap) {
                            bad.push(e);
                        }
                        std::fs::remove_file(&snap).unwrap();
                        n += 1;
                    }
                    (n, bad)
                })
            })
            .collect();
        let w = Watch {
            every,
            others: 0,
            taken: 0,
            tx,
        };
        let _ = WRITE_OBSERVER.set(after_write);
        WATCHES.lock().unwrap().push((path.clone(), w));
        WATCHING.fetch_add(1, Ordering::AcqRel);
        Watcher { path, threads }
    }

    /// How many states were checked, and the failures.
    fn finish(self) -> (u64, Vec<String>) {
        {
            let mut ws = WATCHES.lock().unwrap();
            ws.retain(|(p, _)| p != &self.path);
        }
        WATCHING.fetch_sub(1, Ordering::AcqRel);
        let (mut n, mut bad) = (0, Vec::new());
        for t in self.threads {
            let (k, b) = t.join().unwrap();
            n += k;
            bad.extend(b);
        }
        (n, bad)
    }
}

/// `qemu-img create` of a qcow2 with small clusters and wide refcounts,
/// so that few writes need many refblocks and a growing refcount table.
fn small_cluster_qcow2(s: &SrDir, name: &str, size: &str) {
    qemu_img(
        s,
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "cluster_size=512,refcount_bits=64",
            name,
            size,
        ],
    );
}

/// Piece `k` of a crash test round: 16 bytes naming it, then one byte
/// repeated.
fn piece(round: u64, k: u64, len: usize) -> Vec<u8> {
    let mut v = vec![((k * 7 + round * 13) % 251 + 1) as u8; len];
    v[..8].copy_from_slice(&round.to_be_bytes());
    v[8..16].copy_from_slice(&k.to_be_bytes());
    v
}

/// Where the crash tests write: `slots` places `step` bytes apart,
/// each used by successive passes and rounds at `len` bytes apart.
#[derive(Clone, Copy, Debug)]
struct Plan {
    size: u64,
    step: u64,
    len: usize,
    /// Added to every offset (unaligned writes copy on write).
    skew: u64,
    flush_every: u64,
    max: u64,
}

const ROUNDS: u64 = 4;

impl Plan {
    fn of(variant: &str) -> Plan {
        match variant {
            // 64 KiB clusters: a new L2 table every 512 MiB.
            "fresh" => Plan {
                size: 1 << 40,
                step: 512 * M,
                len: 64 << 10,
                skew: 0,
                flush_every: 61,
                max: 40_000,
            },
            "overlay" => Plan {
                size: 1 << 40,
                step: 512 * M,
                len: 64 << 10,
                skew: 4096 + 17,
                flush_every: 61,
                max: 40_000,
            },
            // 512-byte clusters, 64-bit refcounts: a new L2 table every
            // 32 KiB, a new refblock every 64 clusters.
            "small" => Plan {
                size: 256 * M,
                step: 64 * K,
                len: 4096,
                skew: 0,
                flush_every: 97,
                max: 4096 * (64 * K / 4096 / ROUNDS),
            },
            v => panic!("variant {v}"),
        }
    }

    fn offset(&self, round: u64, k: u64) -> u64 {
        let slots = self.size / self.step;
        let (slot, pass) = (k % slots, k / slots);
        let off = slot * self.step + (pass * ROUNDS + round) * self.len as u64 + self.skew;
        assert!(off + self.len as u64 <= (slot + 1) * self.step);
        off
    }
}

/// Run by the crash tests in a process of their own (which they kill):
/// writes the pieces of a round into an image, printing how many have
/// been flushed after each flush.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var("XAPID_CRASH_CHILD") else {
        return;
    };
    let v: Vec<&str> = spec.split('|').collect();
    let (dir, name, variant) = (v[0], v[1], v[2]);
    let (round, max) = (v[3].parse::<u64>().unwrap(), v[4].parse::<u64>().unwrap());
    let plan = Plan::of(variant);
    let s = SrDir::open(Path::new(dir)).unwrap();
    let img = Image::open(&s, name, &rw()).unwrap();
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for k in 0..max {
        img.write_at(&piece(round, k, plan.len), plan.offset(round, k))
            .unwrap();
        if (k + 1) % plan.flush_every == 0 {
            img.flush().unwrap();
            writeln!(out, "flushed {}", k + 1).unwrap();
            out.flush().unwrap();
        }
    }
    img.flush().unwrap();
    writeln!(out, "flushed {max}").unwrap();
}

fn random_u64() -> u64 {
    uuid::Uuid::new_v4().as_u128() as u64
}

/// Checks that pieces `0..n` of `round` read back (through `Image` and
/// through QEMU).
fn check_pieces(s: &SrDir, name: &str, plan: &Plan, round: u64, n: u64) {
    let img = Image::open(s, name, &OpenOptions::default()).unwrap();
    let mut cmds = Vec::new();
    for k in 0..n {
        let off = plan.offset(round, k);
        let want = piece(round, k, plan.len);
        assert!(
            read(&img, 0, off, plan.len as u64) == want,
            "round {round} piece {k} of {n} at {off}"
        );
        if k % 13 == 0 || k + 1 == n {
            cmds.push(format!(
                "read -P {} {} {}",
                want[16],
                off + 16,
                plan.len - 16
            ));
        }
    }
    drop(img);
    for chunk in cmds.chunks(200) {
        let mut args = vec!["-r", "-f", "qcow2"];
        for c in chunk {
            args.extend_from_slice(&["-c", c]);
        }
        args.push(name);
        let out = run("qemu-io", &args, s.root());
        assert!(
            !out.contains("failed") && !out.to_lowercase().contains("error"),
            "qemu-io: {out}"
        );
    }
}

/// Rounds of: a child writes pieces into `name`, flushing now and
/// then, and is SIGKILLed at a random moment; the file must pass
/// `qemu-img check` (leaks allowed) and every piece a flush covered
/// must read back. Then a last round writes into the crashed file
/// without being killed.
fn kill_rounds(s: &SrDir, name: &str, variant: &str) {
    use std::io::BufRead;
    let plan = Plan::of(variant);
    let path = s.path(name).unwrap();
    let mut flushed = Vec::new();
    for round in 0..ROUNDS {
        let last = round + 1 == ROUNDS;
        // The last round, not killed, is shorter.
        let max = if last { plan.max.min(3000) } else { plan.max };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "storage::image::tests::crash::crash_child",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(
                "XAPID_CRASH_CHILD",
                format!("{}|{name}|{variant}|{round}|{max}", s.root().display()),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // The harness prints its own words first.
        for l in lines.by_ref() {
            if l.unwrap().ends_with("ready") {
                break;
            }
        }
        if !last {
            std::thread::sleep(Duration::from_micros(1000 + random_u64() % 250_000));
            // SAFETY: signalling our own child, by its pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        }
        let mut n = 0;
        for l in lines {
            if let Some(k) = l.unwrap().strip_prefix("flushed ") {
                n = k.parse().unwrap();
            }
        }
        let status = child.wait().unwrap();
        assert_eq!(
            status.success(),
            last,
            "{variant} round {round}: {status:?}"
        );
        if let Err(e) = crash_check(&path) {
            panic!("{variant} round {round}, killed after {n} flushed pieces: {e}");
        }
        flushed.push(n);
        for (r, &n) in flushed.iter().enumerate() {
            check_pieces(s, name, &plan, r as u64, n);
        }
    }
    assert_eq!(flushed[ROUNDS as usize - 1], plan.max.min(3000));
    assert!(
        flushed[..ROUNDS as usize - 1].iter().any(|&n| n < plan.max),
        "no round was killed mid-way: {flushed:?}"
    );
}

#[test]
fn killed_writer_leaves_consistent_qcow2() {
    let s = sr();
    create(&s, "t.qcow2", Format::Qcow2, 1 << 40, None).unwrap();
    kill_rounds(&s, "t.qcow2", "fresh");
}

#[test]
fn killed_writer_leaves_consistent_overlay() {
    let s = sr();
    create(&s, "base.raw", Format::Raw, 1 << 40, None).unwrap();
    {
        let b = Image::open(&s, "base.raw", &rw()).unwrap();
        for i in 0..64u64 {
            b.write_at(&pattern(i, 256 * K as usize), i * (1 << 34))
                .unwrap();
        }
        b.flush().unwrap();
    }
    create(&s, "t.qcow2", Format::Qcow2, 1 << 40, Some("base.raw")).unwrap();
    kill_rounds(&s, "t.qcow2", "overlay");
    // Copy-on-write kept the base's bytes around the pieces.
    let img = Image::open(&s, "t.qcow2", &OpenOptions::default()).unwrap();
    assert_eq!(read(&img, 0, 0, 4096), pattern(0, 256 * K as usize)[..4096]);
}

#[test]
fn killed_writer_leaves_consistent_small_cluster_qcow2() {
    let s = sr();
    small_cluster_qcow2(&s, "t.qcow2", "256M");
    kill_rounds(&s, "t.qcow2", "small");
}

/// Every state the file passes through (after each metadata write and
/// a sample of the others) passes `qemu-img check`, while an image is
/// written without flushing, with flushes, zeroed, overwritten and
/// grown; at the end, after a flush, it is clean and holds the data.
fn every_state_is_consistent(s: &SrDir, name: &str, plan: &Plan, pieces: u64, grow: u64) -> bool {
    let path = s.path(name).unwrap();
    let roots = || Guard::load(File::open(&path).unwrap()).unwrap().roots;
    let start = roots();
    let w = Watcher::start(path.clone(), 7);
    let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    {
        let img = Image::open(s, name, &rw()).unwrap();
        for k in 0..pieces {
            let (off, data) = (plan.offset(0, k), piece(0, k, plan.len));
            img.write_at(&data, off).unwrap();
            model.insert(off, data);
            if k == pieces / 2 {
                img.flush().unwrap();
            }
        }
        // Zeroing frees clusters; new writes reuse them.
        for k in (0..pieces).step_by(5) {
            let off = plan.offset(0, k);
            img.write_zeroes(off, plan.len as u64).unwrap();
            model.insert(off, vec![0; plan.len]);
        }
        for k in (0..pieces).step_by(3) {
            let (off, data) = (plan.offset(1, k), piece(1, k, plan.len));
            img.write_at(&data, off).unwrap();
            model.insert(off, data);
        }
        img.flush().unwrap();
    }
    let written = roots();
    // Growing moves the L1 table.
    resize(s, name, grow).unwrap();
    let grown = roots();
    assert_ne!(grown.l1_offset, written.l1_offset, "the L1 table moved");
    {
        let img = Image::open(s, name, &rw()).unwrap();
        for k in 0..pieces.min(64) {
            let off = plan.size + k * ((grow - plan.size) / 64);
            let data = piece(2, k, plan.len);
            img.write_at(&data, off).unwrap();
            model.insert(off, data);
        }
        img.flush().unwrap();
    }
    let (n, bad) = w.finish();
    assert!(
        bad.is_empty(),
        "{} of {n} states corrupt:\n{}",
        bad.len(),
        bad[0]
    );
    assert!(n > pieces, "only {n} states checked");
    // Whether the refcount table had to grow (and move).
    let rt_moved = written.rt_offset != start.rt_offset;
    // A clean close: no leaks either.
    check(s, name);
    let img = Image::open(s, name, &OpenOptions::default()).unwrap();
    for (&off, data) in &model {
        assert!(&read(&img, 0, off, data.len() as u64) == data, "at {off}");
    }
    drop(img);
    let cmds: Vec<String> = model
        .iter()
        .step_by(7)
        .map(|(off, d)| format!("read -P {} {} {}", d[16], off + 16, d.len() - 16))
        .collect();
    let mut args = vec!["-r", "-f", "qcow2"];
    for c in &cmds {
        args.extend_from_slice(&["-c", c]);
    }
    args.push(name);
    let out = run("qemu-io", &args, s.root());
    assert!(!out.contains("failed"), "qemu-io: {out}");
    rt_moved
}

#[test]
fn every_intermediate_state_passes_check() {
    let s = sr();
    create(&s, "t.qcow2", Format::Qcow2, 1 << 40, None).unwrap();
    let plan = Plan {
        step: 16 << 30,
        ..Plan::of("fresh")
    };
    every_state_is_consistent(&s, "t.qcow2", &plan, 60, 4 << 40);
}

#[test]
fn every_intermediate_state_passes_check_small_clusters() {
    let s = sr();
    small_cluster_qcow2(&s, "t.qcow2", "64M");
    let plan = Plan {
        size: 64 * M,
        ..Plan::of("small")
    };
    // Over 4096 clusters allocated: the refcount table grows.
    assert!(every_state_is_consistent(
        &s,
        "t.qcow2",
        &plan,
        520,
        1 << 30
    ));
}

#[test]
fn long_unflushed_sequence_then_flush_is_clean() {
    let s = sr();
    create(&s, "base.raw", Format::Raw, 64 << 30, None).unwrap();
    create(&s, "t.qcow2", Format::Qcow2, 64 << 30, None).unwrap();
    create(&s, "o.qcow2", Format::Qcow2, 64 << 30, Some("base.raw")).unwrap();
    for name in ["t.qcow2", "o.qcow2"] {
        let mut model = Vec::new();
        {
            let img = Image::open(&s, name, &rw()).unwrap();
            for k in 0..128u64 {
                let off = k * 512 * M + (k % 3) * 1000;
                let data = piece(0, k, 64 << 10);
                img.write_at(&data, off).unwrap();
                model.push((off, data));
            }
            img.flush().unwrap();
        }
        let out = Command::new("qemu-img")
            .args(["check", name])
            .current_dir(s.root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let img = Image::open(&s, name, &OpenOptions::default()).unwrap();
        for (off, data) in &model {
            assert!(
                &read(&img, 0, *off, data.len() as u64) == data,
                "{name} at {off}"
            );
        }
        let mut args = vec!["-r".to_string(), "-f".into(), "qcow2".into()];
        for (off, d) in &model {
            args.push("-c".into());
            args.push(format!("read -P {} {} {}", d[16], off + 16, d.len() - 16));
        }
        args.push(name.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run("qemu-io", &args, s.root());
        assert!(!out.contains("failed"), "qemu-io: {out}");
    }
}
