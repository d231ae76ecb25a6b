use super::*;

fn unique_path() -> PathBuf {
    std::env::temp_dir().join(format!("xapid-fault-{}", uuid::Uuid::new_v4()))
}

#[test]
fn parses_specs() {
    assert_eq!(
        parse("read:EIO"),
        Ok(Rule {
            op: Op::Read,
            errno: libc::EIO,
            delay_ms: 0,
            offset: 0,
            count: None
        })
    );
    assert_eq!(
        parse("write:ENOSPC"),
        Ok(Rule {
            op: Op::Write,
            errno: libc::ENOSPC,
            delay_ms: 0,
            offset: 0,
            count: None
        })
    );
    assert_eq!(
        parse("write:EIO@1048576"),
        Ok(Rule {
            op: Op::Write,
            errno: libc::EIO,
            delay_ms: 0,
            offset: 1 << 20,
            count: None
        })
    );
    assert_eq!(
        parse("read:EIO@0x100000*3"),
        Ok(Rule {
            op: Op::Read,
            errno: libc::EIO,
            delay_ms: 0,
            offset: 1 << 20,
            count: Some(3)
        })
    );
    assert_eq!(parse(" Write:enospc*1 ").unwrap().count, Some(1));
    let slow = parse("read:SLOW").unwrap();
    assert_eq!((slow.errno, slow.delay_ms), (0, 100));
    let slow = parse("read:slow=250@4096*2").unwrap();
    assert_eq!((slow.errno, slow.delay_ms, slow.offset), (0, 250, 4096));
    for bad in [
        "",
        "read",
        "read:",
        "read:EPERM",
        "erase:EIO",
        "read:EIO@",
        "read:EIO@x",
        "read:EIO@-1",
        "read:EIO*0",
        "read:EIO*-1",
        "read:EIO*",
        "read:EIO@0x",
        "read:EIO@99999999999999999999999",
        "read:SLOW=",
        "read:SLOW=x",
        "read:SLOW=60001",
        "read:SLOWER",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn rules_match_range_op_and_count() {
    enable();
    let p = unique_path();
    let other = unique_path();
    set(&p, Some(parse("read:EIO@4096*2").unwrap()));
    set(&p, Some(parse("write:ENOSPC").unwrap()));
    assert_eq!(rules(&p).len(), 2);
    // Below the offset, other files: fine.
    check(&p, Op::Read, 0, 4096).unwrap();
    check(&other, Op::Read, 4096, 1).unwrap();
    // Touching it: fails twice, then the rule is gone.
    let e = check(&p, Op::Read, 4000, 100).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    assert_eq!(rules(&p)[0].count, Some(1));
    let e = check(&p, Op::Read, 1 << 30, 1).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    check(&p, Op::Read, 4096, 1).unwrap();
    assert_eq!(rules(&p).len(), 1);
    // The write rule is unlimited.
    for _ in 0..5 {
        let e = check(&p, Op::Write, 0, 1).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    }
    set(&p, None);
    check(&p, Op::Write, 0, 1).unwrap();
    assert!(rules(&p).is_empty());
}

#[test]
fn slow_rules_delay_and_succeed() {
    enable();
    let p = unique_path();
    set(&p, Some(parse("read:SLOW=30@4096*1").unwrap()));
    let t = std::time::Instant::now();
    check(&p, Op::Read, 0, 4096).unwrap(); // before the offset: at once
    check(&p, Op::Read, 4096, 1).unwrap(); // delayed, then fine
    assert!(t.elapsed() >= std::time::Duration::from_millis(30));
    assert!(rules(&p).is_empty(), "counted once");
}

/// Run by `disabled_by_default` in a process of its own, where nothing
/// has called `enable()`.
#[test]
fn disabled_child() {
    if std::env::var_os("XAPID_FAULT_CHILD").is_none() {
        return;
    }
    assert!(!enabled());
    let p = unique_path();
    set(&p, Some(parse("read:EIO").unwrap()));
    check(&p, Op::Read, 0, 1).unwrap();
    enable();
    assert!(check(&p, Op::Read, 0, 1).is_err());
}

#[test]
fn disabled_by_default() {
    // Other tests enable injection process-wide, so the default is
    // checked in a fresh process running only `disabled_child`.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "storage::fault::tests::disabled_child",
            "--test-threads=1",
        ])
        .env("XAPID_FAULT_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
