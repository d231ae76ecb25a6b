//! Image formats, and telling a file's format from its content
//! ([`probe`]) without opening any other file.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;

use super::{context, invalid_data};
use crate::storage::path::SrDir;
use crate::storage::qcow2::header::{self, Header, HDR_INCOMPATIBLE, INCOMPAT_EXTERNAL_DATA};
use crate::storage::read_up_to;

/// An image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Raw: the file is the disk.
    Raw,
    /// qcow2 (version 2 or 3).
    Qcow2,
}

impl Format {
    /// The name QEMU uses: `raw` or `qcow2`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }

    /// The format named `s` (`raw` or `qcow2`).
    pub fn from_name(s: &str) -> Option<Format> {
        match s {
            "raw" => Some(Format::Raw),
            "qcow2" => Some(Format::Qcow2),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`probe`] finds out about an image file without opening any other
/// file.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The format, by content.
    pub format: Format,
    /// Virtual size in bytes (a raw file's length).
    pub virtual_size: u64,
    /// Bytes allocated on disk (`st_blocks * 512`).
    pub physical_utilisation: u64,
    /// The backing file (a plain name of the same SR), qcow2 only.
    pub backing: Option<String>,
    /// The backing file's format as the header records it (`None`: not
    /// recorded, to be probed).
    pub backing_format: Option<Format>,
}

/// Tells a file's format and reads what a qcow2 header says, checking its
/// backing name (and refusing external data files, which imago would have
/// to open). With `as_raw`, the content is not looked at (the overlay
/// recorded `raw`).
pub(super) fn probe_file(sr: &SrDir, name: &str, file: &File, as_raw: bool) -> io::Result<Probe> {
    let meta = file.metadata()?;
    let physical_utilisation = meta.blocks().saturating_mul(512);
    let mut first = [0u8; 104];
    let n = if as_raw {
        0
    } else {
        read_up_to(file, &mut first, 0)?
    };
    if !header::is_qcow2(&first[..n]) {
        return Ok(Probe {
            format: Format::Raw,
            virtual_size: meta.len(),
            physical_utilisation,
            backing: None,
            backing_format: None,
        });
    }
    let h = Header::read(file).map_err(|e| context(e, name))?;
    if h.version >= 3 && n >= HDR_INCOMPATIBLE + 8 {
        let incompatible = header::be64(&first, HDR_INCOMPATIBLE)?;
        if incompatible & INCOMPAT_EXTERNAL_DATA != 0 {
            return Err(invalid_data(format!(
                "{name}: qcow2 external data files are not supported"
            )));
        }
    }
    let backing = match h.backing_file {
        None => None,
        Some(b) if sr.backing_allowed(&b) => Some(b),
        Some(b) => {
            return Err(invalid_data(format!(
                "{name}: backing file {b:?} is not allowed: \
                 only a plain regular file of the same SR may back an image"
            )))
        }
    };
    let backing_format = match (&backing, h.backing_format.as_deref()) {
        (None, _) | (Some(_), None) => None,
        (Some(_), Some("raw" | "file")) => Some(Format::Raw),
        (Some(_), Some("qcow2")) => Some(Format::Qcow2),
        (Some(_), Some(f)) => {
            return Err(invalid_data(format!(
                "{name}: unsupported backing format {f:?}"
            )))
        }
    };
    Ok(Probe {
        format: Format::Qcow2,
        virtual_size: h.size,
        physical_utilisation,
        backing,
        backing_format,
    })
}

/// Identifies an image file by content (qcow2 magic: qcow2, else raw),
/// without opening any backing file. A qcow2 naming a backing file that
/// [`SrDir::backing_allowed`] refuses is an `InvalidData` error saying so.
/// Never follows symlinks.
pub fn probe(sr: &SrDir, name: &str) -> io::Result<Probe> {
    let file = sr.open_file(name, false)?;
    probe_file(sr, name, &file, false)
}

/// Probes the file of a VDI whose format is known. A raw disk is never
/// looked at as anything else (a guest may have written a qcow2 header into
/// it): its size is the file's length. A qcow2 that no longer is one is an
/// error.
pub fn probe_known(sr: &SrDir, name: &str, format: Format) -> io::Result<Probe> {
    use std::os::unix::fs::MetadataExt;
    match format {
        Format::Raw => {
            let m = sr.open_file(name, false)?.metadata()?;
            Ok(Probe {
                format: Format::Raw,
                virtual_size: m.len(),
                physical_utilisation: m.blocks().saturating_mul(512),
                backing: None,
                backing_format: None,
            })
        }
        Format::Qcow2 => {
            let p = probe(sr, name)?;
            if p.format != Format::Qcow2 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file of a qcow2 VDI is no longer a qcow2 image",
                ));
            }
            Ok(p)
        }
    }
}

/// The cluster size of the qcow2 image `name` (`None`: not a qcow2).
pub fn cluster_size(sr: &SrDir, name: &str) -> io::Result<Option<u64>> {
    let file = sr.open_file(name, false)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&file, &mut magic, 0)?;
    if !header::is_qcow2(&magic[..n]) {
        return Ok(None);
    }
    Ok(Some(header::Header::read(&file)?.cluster_size() as u64))
}

/// A dirty bitmap found in a qcow2 image (QEMU's persistent bitmaps).
#[derive(Clone, Debug)]
pub struct FoundBitmap {
    /// Its name.
    pub name: String,
    /// Bytes per bit.
    pub granularity: u64,
    /// Recording (QEMU's `auto`).
    pub recording: bool,
    /// The set blocks, most significant bit first (`None`: the bitmap is
    /// in use, i.e. inconsistent).
    pub bits: Option<Vec<u8>>,
}

/// The persistent dirty bitmaps of the qcow2 image `name` (none for raw,
/// or when the extension is absent or stale).
pub fn qcow2_bitmaps(sr: &SrDir, name: &str) -> io::Result<Vec<FoundBitmap>> {
    use crate::storage::qcow2::bitmaps;
    let file = sr.open_file(name, false)?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&file, &mut magic, 0)?;
    if !header::is_qcow2(&magic[..n]) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for info in bitmaps::list(&file)? {
        let bits = if info.in_use {
            None
        } else {
            let b = bitmaps::load(&file, &info.name)?;
            let mut v = vec![0u8; b.len().div_ceil(8) as usize];
            for i in 0..b.len() {
                if b.get(i) {
                    v[(i / 8) as usize] |= 0x80 >> (i % 8);
                }
            }
            Some(v)
        };
        out.push(FoundBitmap {
            name: info.name,
            granularity: info.granularity,
            recording: info.auto,
            bits,
        });
    }
    Ok(out)
}
