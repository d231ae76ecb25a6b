//! Operations on image files: growing, rewriting the backing pointer, and
//! raw files (and raw backing files) of any length.

use super::*;

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
