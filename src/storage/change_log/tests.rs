use super::*;

/// A fresh directory (removed when dropped).
struct Dir(PathBuf);

impl Dir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir() -> Dir {
    let d = std::env::temp_dir().join(format!("xapid-cbt-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

const U: &str = "0b5e2c1a-1111-4222-8333-944455556666";

#[test]
fn bits_are_msb_first_one_per_64k() {
    let d = dir();
    write(d.path(), U, &[]).unwrap();
    let mut log = ChangeLog::open(d.path(), U).unwrap().unwrap();
    log.mark(0, 1).unwrap();
    assert_eq!(log.bits(), &[0x80]);
    // Two bytes across a 64 KiB boundary dirty two blocks.
    log.mark(3 * GRANULARITY - 1, 2).unwrap();
    assert_eq!(log.bits(), &[0x80 | 0x20 | 0x10]);
    log.mark(9 * GRANULARITY, GRANULARITY).unwrap();
    assert_eq!(log.bits(), &[0xb0, 0x40]);
    // An empty write marks nothing.
    log.mark(100 * GRANULARITY, 0).unwrap();
    assert_eq!(log.bits().len(), 2);
    assert_eq!(read(d.path(), U).unwrap().unwrap(), vec![0xb0, 0x40]);
}

#[test]
fn marks_are_on_disk_and_grow_the_file_where_needed() {
    let d = dir();
    write(d.path(), U, &[]).unwrap();
    let mut log = ChangeLog::open(d.path(), U).unwrap().unwrap();
    log.mark(1 << 30, 4 << 20).unwrap();
    drop(log);
    let bits = read(d.path(), U).unwrap().unwrap();
    let first = (1u64 << 30) / GRANULARITY;
    for b in 0..bits.len() as u64 * 8 {
        let set = bits[(b / 8) as usize] & (0x80 >> (b % 8)) != 0;
        assert_eq!(set, (first..first + 64).contains(&b), "block {b}");
    }
}

#[test]
fn a_missing_log_is_none_and_names_must_be_uuids() {
    let d = dir();
    assert!(read(d.path(), U).unwrap().is_none());
    assert!(ChangeLog::open(d.path(), U).unwrap().is_none());
    assert!(write(d.path(), "../x", &[]).is_err());
    assert!(write(d.path(), "", &[]).is_err());
}

#[test]
fn damaged_logs_are_errors_not_empty_sets() {
    let d = dir();
    std::fs::write(d.path().join(format!("{U}.cbtlog")), b"XAPIDCB").unwrap();
    assert!(read(d.path(), U).is_err());
    std::fs::write(d.path().join(format!("{U}.cbtlog")), [0u8; 40]).unwrap();
    assert!(read(d.path(), U).is_err());
}

#[test]
fn rename_remove_list_and_or() {
    let d = dir();
    let v = "aaaaaaaa-0000-4000-8000-000000000001";
    write(d.path(), U, &[1, 2]).unwrap();
    rename(d.path(), U, v).unwrap();
    assert!(!exists(d.path(), U).unwrap());
    assert_eq!(read(d.path(), v).unwrap().unwrap(), vec![1, 2]);
    std::fs::write(d.path().join(format!("{v}.cbtlog.tmp")), b"x").unwrap();
    assert_eq!(list(d.path()).unwrap(), vec![v.to_string()]);
    assert!(remove(d.path(), v).unwrap());
    assert!(!remove(d.path(), v).unwrap());
    let mut a = vec![0x0f];
    assert!(or_into(&mut a, &[0xf0, 0x01]));
    assert_eq!(a, vec![0xff, 0x01]);
    assert!(!or_into(&mut a, &[0x01]));
    assert_eq!(bytes_for(0), 0);
    assert_eq!(bytes_for(1), 1);
    assert_eq!(bytes_for(8 * GRANULARITY), 1);
    assert_eq!(bytes_for(8 * GRANULARITY + 1), 2);
}

#[test]
fn merge_ors_in_place_and_durably() {
    let d = dir();
    write(d.path(), U, &[0x80]).unwrap();
    let mut log = ChangeLog::open(d.path(), U).unwrap().unwrap();
    log.merge(&[0x01, 0x00, 0x40]).unwrap();
    assert_eq!(log.bits(), &[0x81, 0x00, 0x40]);
    log.merge(&[0x80]).unwrap();
    drop(log);
    assert_eq!(read(d.path(), U).unwrap().unwrap(), vec![0x81, 0x00, 0x40]);
}
