//! The safety rules of image files: hostile backing names are refused
//! before anything is opened, a recorded raw backing is never probed, and
//! loops and over-deep chains are refused.

use super::*;

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
        let s2 = (*s).clone();
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
