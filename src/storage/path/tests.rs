use super::*;

fn sr() -> SrDir {
    let d = std::env::temp_dir().join(format!("xapid-sr-{}", uuid::Uuid::new_v4()));
    SrDir::open(&d).unwrap()
}

#[test]
fn only_plain_names() {
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "/etc/passwd",
        ".hidden",
        "a\0b",
        "a\nb",
        "x\\y",
    ] {
        assert_eq!(check_name(bad), Err(NameError::NotPlain), "{bad:?}");
    }
    for good in ["disk.qcow2", "5e4c-uuid.raw", "ünïcode img"] {
        assert_eq!(check_name(good), Ok(()), "{good:?}");
    }
    assert!(check_name(&"a".repeat(256)).is_err());
}

#[test]
fn symlinks_are_not_followed() {
    let s = sr();
    std::os::unix::fs::symlink("/etc/passwd", s.root().join("link")).unwrap();
    assert!(s.open_file("link", false).is_err());
    assert!(!s.backing_allowed("link"));
    assert!(s.list().unwrap().is_empty(), "symlinks are not listed");
    std::fs::remove_dir_all(s.root()).unwrap();
}

#[test]
fn backing_names_stay_in_the_sr() {
    let s = sr();
    s.create_file("base.qcow2").unwrap();
    assert!(s.backing_allowed("base.qcow2"));
    assert!(!s.backing_allowed("/etc/passwd"));
    assert!(!s.backing_allowed("../base.qcow2"));
    assert!(!s.backing_allowed("missing.qcow2"));
    assert!(s.create_file("base.qcow2").is_err(), "never overwrites");
    std::fs::create_dir(s.root().join("sub")).unwrap();
    assert!(!s.backing_allowed("sub"));
    assert_eq!(s.list().unwrap(), vec!["base.qcow2".to_string()]);
    std::fs::remove_dir_all(s.root()).unwrap();
}
