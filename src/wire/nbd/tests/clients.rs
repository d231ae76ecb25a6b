//! Real clients against a TCP test server: nbdinfo and nbdcopy (libnbd),
//! qemu-img. A test is skipped, saying why, when its tool is missing.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::support::*;

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        eprintln!("skipped: {tool} is not installed");
    }
    ok
}

pub async fn run(cmd: &'static str, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(cmd).args(&args).output().unwrap())
        .await
        .unwrap()
}

pub fn ok(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xapid-nbd-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 16 blocks of 64 KiB; data in blocks 0, 3, 4 and 15.
pub fn image() -> std::sync::Arc<Mem> {
    Mem::new("disk", 16, &[0, 3, 4, 15])
}

#[tokio::test(flavor = "multi_thread")]
async fn nbdinfo_list_shows_the_export() {
    if !have("nbdinfo") {
        return;
    }
    let addr = tcp_server(image()).await;
    let out = ok(&run("nbdinfo", vec!["--list".into(), format!("nbd://{addr}")]).await);
    assert!(out.contains("export=\"disk\""), "{out}");
    assert!(out.contains("export-size: 1048576"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nbdinfo_lists_an_empty_export_list() {
    if !have("nbdinfo") {
        return;
    }
    let mut m = Mem::new("disk", 1, &[]);
    std::sync::Arc::get_mut(&mut m).unwrap().list.clear();
    let addr = tcp_server(m).await;
    let o = run(
        "nbdinfo",
        vec!["--list".into(), "--json".into(), format!("nbd://{addr}")],
    )
    .await;
    let out = ok(&o);
    assert!(
        out.contains("\"exports\": [") || out.contains("\"exports\":["),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nbdinfo_shows_size_contexts_and_block_sizes() {
    if !have("nbdinfo") {
        return;
    }
    let addr = tcp_server(image()).await;
    let out = ok(&run("nbdinfo", vec![format!("nbd://{addr}/disk")]).await);
    for want in [
        "export-size: 1048576",
        "base:allocation",
        "qemu:dirty-bitmap:b1",
        "is_read_only: true",
        "can_multi_conn: true",
        "block_size_maximum: 33554432",
        "block_size_preferred: 4096",
    ] {
        assert!(out.contains(want), "{want} missing from {out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nbdinfo_map_reports_holes_and_data() {
    if !have("nbdinfo") {
        return;
    }
    let addr = tcp_server(image()).await;
    let out = ok(&run(
        "nbdinfo",
        vec!["--map".into(), format!("nbd://{addr}/disk")],
    )
    .await);
    let rows: Vec<(u64, u64, u32)> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    let b = BLOCK as u64;
    assert_eq!(
        rows,
        vec![
            (0, b, 0),
            (b, 2 * b, 3),
            (3 * b, 2 * b, 0),
            (5 * b, 10 * b, 3),
            (15 * b, b, 0)
        ],
        "{out}"
    );
    let out = ok(&run(
        "nbdinfo",
        vec![
            "--map=qemu:dirty-bitmap:b1".into(),
            format!("nbd://{addr}/disk"),
        ],
    )
    .await);
    let rows: Vec<(u64, u64, u32)> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![(0, b, 1), (b, 15 * b, 0)], "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nbdinfo_unknown_export_fails_cleanly() {
    if !have("nbdinfo") {
        return;
    }
    let addr = tcp_server(image()).await;
    let o = run("nbdinfo", vec![format!("nbd://{addr}/nope")]).await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("opt_go") && err.contains("nope"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nbdcopy_copies_the_image() {
    if !have("nbdcopy") {
        return;
    }
    let mem = image();
    let addr = tcp_server(mem.clone()).await;
    let d = scratch("copy");
    let out = d.join("out.raw");
    ok(&run(
        "nbdcopy",
        vec![format!("nbd://{addr}/disk"), out.display().to_string()],
    )
    .await);
    assert_eq!(std::fs::read(&out).unwrap(), mem.bytes);
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn qemu_img_compare_and_info() {
    if !have("qemu-img") {
        return;
    }
    let mem = image();
    let addr = tcp_server(mem.clone()).await;
    let d = scratch("qemu");
    let f = d.join("src.raw");
    std::fs::write(&f, &mem.bytes).unwrap();
    ok(&run(
        "qemu-img",
        vec![
            "compare".into(),
            "-f".into(),
            "raw".into(),
            "-F".into(),
            "raw".into(),
            f.display().to_string(),
            format!("nbd://{addr}/disk"),
        ],
    )
    .await);
    let (host, port) = (addr.ip(), addr.port());
    let out = ok(&run(
        "qemu-img",
        vec!["info".into(), format!("nbd:{host}:{port}:exportname=disk")],
    )
    .await);
    assert!(out.contains("1 MiB") || out.contains("1048576"), "{out}");
    let out = ok(&run(
        "qemu-img",
        vec![
            "map".into(),
            "--output=json".into(),
            format!("nbd://{addr}/disk"),
        ],
    )
    .await);
    assert!(
        out.contains("\"zero\": true") && out.contains("\"data\": true"),
        "{out}"
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn qemu_img_reads_a_dirty_bitmap() {
    if !have("qemu-img") {
        return;
    }
    let addr = tcp_server(image()).await;
    let opts = format!(
        "driver=nbd,server.type=inet,server.host={},server.port={},export=disk,x-dirty-bitmap=qemu:dirty-bitmap:b1",
        addr.ip(),
        addr.port()
    );
    let out = ok(&run(
        "qemu-img",
        vec![
            "map".into(),
            "--output=json".into(),
            "--image-opts".into(),
            opts,
        ],
    )
    .await);
    // x-dirty-bitmap reports dirty as "data": false.
    assert!(out.contains("\"start\": 0, \"length\": 65536"), "{out}");
    assert!(
        out.contains("\"start\": 65536, \"length\": 983040"),
        "{out}"
    );
}
