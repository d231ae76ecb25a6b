use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;

use super::*;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("xapid-qcow2-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn qemu_img(args: &[&str], cwd: &Path) -> String {
    let out = Command::new("qemu-img")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("qemu-img runs (qemu-utils is installed by tests/run.sh)");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn info(path: &Path) -> serde_json::Value {
    let s = qemu_img(
        &["info", "--output=json", "-U", path.to_str().unwrap()],
        path.parent().unwrap(),
    );
    serde_json::from_str(&s).unwrap()
}

/// `qemu-img create -f qcow2 [extra] -b backing -F fmt name [size]`.
fn overlay(d: &Path, name: &str, backing: &str, fmt: &str, extra: &[&str], size: Option<&str>) {
    let mut args = vec!["create", "-q", "-f", "qcow2"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-b", backing, "-F", fmt, name]);
    args.extend(size);
    qemu_img(&args, d);
}

#[test]
fn reads_what_qemu_img_writes() {
    let d = dir();
    qemu_img(&["create", "-q", "-f", "qcow2", "base.qcow2", "64M"], &d);
    overlay(&d, "top.qcow2", "base.qcow2", "qcow2", &[], None);
    let h = Header::read(&File::open(d.join("top.qcow2")).unwrap()).unwrap();
    assert_eq!(h.size, 64 << 20);
    assert_eq!(h.backing_file.as_deref(), Some("base.qcow2"));
    assert_eq!(h.backing_format.as_deref(), Some("qcow2"));
    let b = Header::read(&File::open(d.join("base.qcow2")).unwrap()).unwrap();
    assert_eq!(b.backing_file, None);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn rebase_unsafe_as_qemu_img_sees_it() {
    let d = dir();
    qemu_img(&["create", "-q", "-f", "qcow2", "base.qcow2", "64M"], &d);
    qemu_img(&["create", "-q", "-f", "raw", "other.raw", "64M"], &d);
    overlay(&d, "top.qcow2", "base.qcow2", "qcow2", &[], None);
    overlay(
        &d,
        "v2.qcow2",
        "base.qcow2",
        "qcow2",
        &["-o", "compat=0.10"],
        None,
    );
    for img in ["top.qcow2", "v2.qcow2"] {
        let p = d.join(img);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        Header::set_backing(&f, Some(("other.raw", "raw"))).unwrap();
        let i = info(&p);
        assert_eq!(i["backing-filename"], "other.raw", "{img}");
        assert_eq!(i["backing-filename-format"], "raw", "{img}");
        qemu_img(&["check", "-q", img], &d);
        Header::set_backing(&f, None).unwrap();
        let i = info(&p);
        assert!(i.get("backing-filename").is_none(), "{img}: {i}");
        qemu_img(&["check", "-q", img], &d);
        let h = Header::read(&f).unwrap();
        assert_eq!((h.backing_file, h.backing_format), (None, None));
        assert_eq!(h.size, 64 << 20);
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_hostile_backing_name_is_read_not_followed() {
    let d = dir();
    // With a size given, qemu-img does not open the backing file either.
    overlay(&d, "evil.qcow2", "/etc/passwd", "raw", &[], Some("1M"));
    let h = Header::read(&File::open(d.join("evil.qcow2")).unwrap()).unwrap();
    assert_eq!(h.backing_file.as_deref(), Some("/etc/passwd"));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn rejects_bad_headers() {
    let mut b = vec![0u8; 512];
    assert!(Header::parse(&b).is_err());
    b[..4].copy_from_slice(&MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&3u32.to_be_bytes());
    b[20..24].copy_from_slice(&16u32.to_be_bytes());
    b[100..104].copy_from_slice(&4000u32.to_be_bytes());
    assert!(Header::parse(&b).is_err(), "header length beyond the data");
    b[100..104].copy_from_slice(&104u32.to_be_bytes());
    assert!(Header::parse(&b).is_ok());
    b[8..16].copy_from_slice(&100_000u64.to_be_bytes());
    b[16..20].copy_from_slice(&10u32.to_be_bytes());
    assert!(Header::parse(&b).is_err(), "name beyond the data");
}

proptest! {
    #[test]
    fn never_panics_on_garbage(mut bytes in proptest::collection::vec(any::<u8>(), 0..2048), v3 in any::<bool>()) {
        if bytes.len() >= 8 {
            bytes[..4].copy_from_slice(&MAGIC.to_be_bytes());
            bytes[4..8].copy_from_slice(&(if v3 { 3u32 } else { 2 }).to_be_bytes());
        }
        let _ = Header::parse(&bytes);
    }
}
