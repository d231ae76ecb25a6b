//! The parts of a qcow2 header xapid reads and writes itself: the virtual
//! size and the backing-file pointer (name and format).
//!
//! Headers come from files clients may have placed in an SR, so parsing
//! trusts nothing: every offset and length is bounds-checked, and nothing
//! here opens the backing file a header names (the storage layer decides
//! whether a name is acceptable). Rewriting the backing pointer is what
//! `qemu-img rebase -u` does, and what stream and commit need at their end
//! (imago cannot do it): the header cluster is rebuilt with every header
//! extension kept but the backing-format one, the new backing-format
//! extension and name are placed after them, and the cluster is written
//! back in one write and synced.
//!
//! Layout (big-endian; `docs/interop/qcow2.txt` in QEMU):
//!
//! ```text
//! 0 magic "QFI\xfb" | 4 version | 8 backing_file_offset u64 | 16 backing_file_size u32
//! 20 cluster_bits | 24 size u64 | ... | v3: 100 header_length u32
//! then extensions: (type u32, length u32, data padded to 8) ... type 0 ends
//! then, usually, the backing file name (at most 1023 bytes, in cluster 0)
//! ```

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The qcow2 magic, `QFI\xfb`.
pub const MAGIC: u32 = 0x5146_49fb;
/// Header extension: backing file format name.
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
/// Header extension: end of the list.
const EXT_END: u32 = 0;
/// Longest backing file name QEMU accepts.
pub const MAX_BACKING_NAME: usize = 1023;

/// What xapid needs from a qcow2 header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// log2 of the cluster size.
    pub cluster_bits: u32,
    /// Virtual size in bytes.
    pub size: u64,
    /// The backing file name as written in the header (not opened).
    pub backing_file: Option<String>,
    /// The backing format from the header extension, if any.
    pub backing_format: Option<String>,
    /// Where the fixed header ends and extensions begin.
    header_length: u32,
    /// The header extensions other than the backing format, as raw
    /// `(type, data)`, in order.
    other_extensions: Vec<(u32, Vec<u8>)>,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("qcow2 header: {msg}"))
}

fn be32(b: &[u8], at: usize) -> io::Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| invalid("truncated"))
}

fn be64(b: &[u8], at: usize) -> io::Result<u64> {
    b.get(at..at + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        })
        .ok_or_else(|| invalid("truncated"))
}

/// Whether the bytes start like a qcow2 image.
pub fn is_qcow2(first_bytes: &[u8]) -> bool {
    be32(first_bytes, 0).is_ok_and(|m| m == MAGIC)
}

impl Header {
    /// Parses a header from the first cluster of an image (or at least its
    /// first few KiB: the extensions and name must lie within `cluster`).
    pub fn parse(cluster: &[u8]) -> io::Result<Header> {
        if be32(cluster, 0)? != MAGIC {
            return Err(invalid("not a qcow2 image"));
        }
        let version = be32(cluster, 4)?;
        if version != 2 && version != 3 {
            return Err(invalid("unsupported version"));
        }
        let backing_offset = be64(cluster, 8)?;
        let backing_size = be32(cluster, 16)? as usize;
        let cluster_bits = be32(cluster, 20)?;
        if !(9..=21).contains(&cluster_bits) {
            return Err(invalid("bad cluster size"));
        }
        let size = be64(cluster, 24)?;
        let header_length = if version == 2 {
            72
        } else {
            let l = be32(cluster, 100)?;
            if l < 104 || l % 8 != 0 || l as usize > cluster.len() {
                return Err(invalid("bad header length"));
            }
            l
        };
        // Extensions.
        let mut at = header_length as usize;
        let mut backing_format = None;
        let mut other_extensions = Vec::new();
        loop {
            let ty = be32(cluster, at)?;
            let len = be32(cluster, at + 4)? as usize;
            if ty == EXT_END {
                break;
            }
            let data = cluster
                .get(at + 8..at + 8 + len)
                .ok_or_else(|| invalid("extension out of bounds"))?;
            if ty == EXT_BACKING_FORMAT {
                let name = std::str::from_utf8(data).map_err(|_| invalid("bad backing format"))?;
                backing_format = Some(name.to_owned());
            } else {
                other_extensions.push((ty, data.to_vec()));
            }
            at += 8 + len.div_ceil(8) * 8;
            if other_extensions.len() > 64 {
                return Err(invalid("too many extensions"));
            }
        }
        let backing_file = if backing_offset == 0 {
            None
        } else {
            if backing_size == 0 || backing_size > MAX_BACKING_NAME {
                return Err(invalid("bad backing file name length"));
            }
            let start = usize::try_from(backing_offset).map_err(|_| invalid("bad offset"))?;
            let name = cluster
                .get(start..start + backing_size)
                .ok_or_else(|| invalid("backing file name out of bounds"))?;
            let name =
                std::str::from_utf8(name).map_err(|_| invalid("backing file name is not UTF-8"))?;
            Some(name.to_owned())
        };
        Ok(Header {
            version,
            cluster_bits,
            size,
            backing_file,
            backing_format,
            header_length,
            other_extensions,
        })
    }

    /// Reads and parses the header of an open image.
    pub fn read(file: &File) -> io::Result<Header> {
        let mut first = vec![0u8; 4096];
        let n = read_up_to(file, &mut first, 0)?;
        first.truncate(n);
        let cluster_bits = be32(&first, 20).unwrap_or(16);
        let cluster = 1usize << cluster_bits.clamp(9, 21);
        if cluster > first.len() && n == 4096 {
            let mut whole = vec![0u8; cluster];
            let n = read_up_to(file, &mut whole, 0)?;
            whole.truncate(n);
            return Header::parse(&whole);
        }
        Header::parse(&first)
    }

    /// The cluster size in bytes.
    pub fn cluster_size(&self) -> usize {
        1 << self.cluster_bits
    }

    /// Points the image at another backing file (or at none), as
    /// `qemu-img rebase -u` does: only the header changes, never data.
    pub fn set_backing(file: &File, backing: Option<(&str, &str)>) -> io::Result<Header> {
        let mut h = Header::read(file)?;
        let cluster = h.cluster_size();
        let mut buf = vec![0u8; cluster];
        let n = read_up_to(file, &mut buf, 0)?;
        if n < h.header_length as usize {
            return Err(invalid("truncated"));
        }
        if let Some((name, fmt)) = backing {
            if name.is_empty() || name.len() > MAX_BACKING_NAME || name.contains('\0') {
                return Err(invalid("bad backing file name"));
            }
            if fmt.is_empty() || fmt.len() > 16 || !fmt.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(invalid("bad backing format"));
            }
        }
        // Rebuild everything after the fixed header.
        let mut at = h.header_length as usize;
        let mut tail = Vec::new();
        let mut push_ext = |ty: u32, data: &[u8]| {
            tail.extend_from_slice(&ty.to_be_bytes());
            tail.extend_from_slice(&(data.len() as u32).to_be_bytes());
            tail.extend_from_slice(data);
            tail.resize(tail.len().div_ceil(8) * 8, 0);
        };
        if let Some((_, fmt)) = backing {
            push_ext(EXT_BACKING_FORMAT, fmt.as_bytes());
        }
        for (ty, data) in &h.other_extensions {
            push_ext(*ty, data);
        }
        tail.extend_from_slice(&EXT_END.to_be_bytes());
        tail.extend_from_slice(&0u32.to_be_bytes());
        let (offset, size) = match backing {
            Some((name, _)) => {
                let off = at + tail.len();
                tail.extend_from_slice(name.as_bytes());
                (off as u64, name.len() as u32)
            }
            None => (0, 0),
        };
        if at + tail.len() > cluster {
            return Err(invalid("header extensions do not fit in the first cluster"));
        }
        // Zero what the old extensions and name occupied, then lay out anew.
        buf[at..].iter_mut().for_each(|b| *b = 0);
        buf[at..at + tail.len()].copy_from_slice(&tail);
        at = 8;
        buf[at..at + 8].copy_from_slice(&offset.to_be_bytes());
        buf[16..20].copy_from_slice(&size.to_be_bytes());
        // Only the bytes up to the end of the old or new content change.
        file.write_all_at(
            &buf[..n.max(h.header_length as usize + tail.len()).min(cluster)],
            0,
        )?;
        file.sync_all()?;
        h.backing_file = backing.map(|(n, _)| n.to_owned());
        h.backing_format = backing.map(|(_, f)| f.to_owned());
        Ok(h)
    }
}

fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
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
}
