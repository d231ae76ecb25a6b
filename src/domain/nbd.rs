//! VDIs over NBD: which exports exist and what they read (the wire half is
//! `wire::nbd`; the listener is `http::nbd`), and `VDI.get_nbd_info`.
//!
//! An export is named as xapi names it: `/<vdi-uuid>?session_id=<ref>`
//! (the leading `/` optional). The session is checked, with the permission
//! of `GET /export_raw_vdi`, when the client names the export and again
//! when transmission starts; the VDI is then claimed as a reader
//! (`export`) for the connection's life. Exports are read-only, and may be
//! read over several connections at once (`CAN_MULTI_CONN`).
//!
//! Metadata contexts: `base:allocation` (holes and zeroes, down the whole
//! backing chain), `qemu:allocation-depth` (1 = the VDI's own file, 2 =
//! its backing file, ..., 0 = nowhere; holes of the bottom file count as
//! nowhere), and, when the export name carries
//! `&base=<uuid>` (a VDI before this one in its CBT chain),
//! `qemu:dirty-bitmap:<base-uuid>`: dirty where
//! `VDI.list_changed_blocks(base, this)` says a block changed; and
//! `qemu:dirty-bitmap:<name>` for each named dirty bitmap of the VDI
//! (`block_dirty_bitmap`), as it was when the connection began.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::claims::Claim;
use super::sessions::{self, Identity};
use super::{bitmaps, cbt, roles, transfer, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::schema::{block_dirty_bitmap as bm, vdi, VdiType};
use crate::storage::image::{Alloc, Image};
use crate::wire::nbd::consts::{STATE_HOLE, STATE_ZERO, TF_CAN_MULTI_CONN};
use crate::wire::nbd::{Backend, ExportInfo, Exports, Extent, NbdError};
use crate::wire::{Ref, Value};

/// The NBD server as the domain sees it: where it listens.
#[derive(Debug, Default)]
pub struct Nbd {
    bound: RwLock<Vec<SocketAddr>>,
}

impl Nbd {
    /// Records the addresses the listener is bound to (port 0 resolved).
    pub fn set_bound(&self, addrs: Vec<SocketAddr>) {
        *self.bound.write().unwrap_or_else(|p| p.into_inner()) = addrs;
    }

    /// The addresses the listener is bound to (none: the server is off).
    pub fn bound(&self) -> Vec<SocketAddr> {
        self.bound.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The context name of the changes since `base` (a VDI uuid).
pub fn bitmap_context(base: &str) -> String {
    format!("qemu:dirty-bitmap:{base}")
}

/// `VDI.get_nbd_info(self)` for `session`: one `vdi_nbd_server_info` per
/// address the NBD server listens on.
pub fn info(d: &Domain, r: Ref, session: Ref) -> ApiResult<Vec<Value>> {
    let (uuid, kind) = d.registry.read_or(vdi::CLASS, r, |row| {
        (row.get(vdi::UUID), row.get(vdi::TYPE))
    })?;
    if kind == VdiType::CbtMetadata {
        return Err(ApiError::vdi_incompatible_type(r, kind.name()));
    }
    let cert = d.tls.served().current().leaf_pem.clone();
    let subject = super::host::hostname();
    Ok(d.nbd
        .bound()
        .into_iter()
        .map(|a| {
            let ip = if a.ip().is_unspecified() {
                std::net::IpAddr::from([127, 0, 0, 1])
            } else {
                a.ip()
            };
            Value::Struct(vec![
                (
                    "exportname".into(),
                    Value::from(format!("/{uuid}?session_id={session}")),
                ),
                ("address".into(), Value::from(ip.to_string())),
                ("port".into(), Value::Int(i64::from(a.port()))),
                ("cert".into(), Value::from(cert.clone())),
                ("subject".into(), Value::from(subject.clone())),
            ])
        })
        .collect())
}

/// An export name taken apart.
#[derive(Debug, PartialEq, Eq)]
struct Name<'a> {
    vdi: &'a str,
    session: &'a str,
    base: Option<&'a str>,
}

fn parse(name: &str) -> Option<Name<'_>> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let (vdi, query) = name.split_once('?')?;
    let (mut session, mut base) = (None, None);
    for kv in query.split('&') {
        match kv.split_once('=')? {
            ("session_id", v) if session.is_none() => session = Some(v),
            ("base", v) if base.is_none() => base = Some(v),
            _ => return None,
        }
    }
    Some(Name {
        vdi,
        session: session?,
        base,
    })
}

/// What a checked export name names.
struct Resolved {
    vdi: Ref,
    who: Arc<Identity>,
    base: Option<(Ref, String)>,
    info: ExportInfo,
}

fn unknown(name: &str) -> NbdError {
    // Never echo the name: it holds a session reference.
    let _ = name;
    NbdError::UnknownExport("no such export".into())
}

fn resolve(d: &Domain, name: &str) -> Result<Resolved, NbdError> {
    let n = parse(name).ok_or_else(|| unknown(name))?;
    let who = sessions::check(d, &Value::from(n.session))
        .map_err(|_| NbdError::Denied("invalid session".into()))?;
    roles::check_http(d, &who, "get_export_raw_vdi")
        .map_err(|_| NbdError::Denied("the session may not read VDIs".into()))?;
    let vdi = uuid::Uuid::parse_str(n.vdi)
        .ok()
        .and_then(|u| d.registry.by_uuid(vdi::CLASS, &u))
        .ok_or_else(|| unknown(name))?;
    let (label, size, kind) = d
        .registry
        .read_or(vdi::CLASS, vdi, |row| {
            (
                row.get(vdi::NAME_LABEL),
                row.get(vdi::VIRTUAL_SIZE).max(0) as u64,
                row.get(vdi::TYPE),
            )
        })
        .map_err(|_| unknown(name))?;
    if kind == VdiType::CbtMetadata {
        return Err(NbdError::Invalid("a cbt_metadata VDI has no data".into()));
    }
    let base = match n.base {
        None => None,
        Some(b) => {
            let r = uuid::Uuid::parse_str(b)
                .ok()
                .and_then(|u| d.registry.by_uuid(vdi::CLASS, &u))
                .ok_or_else(|| NbdError::Invalid("base: no such VDI".into()))?;
            let bu = d
                .registry
                .read_or(vdi::CLASS, r, |row| row.get(vdi::UUID))
                .map_err(|_| NbdError::Invalid("base: no such VDI".into()))?;
            Some((r, bu))
        }
    };
    let mut contexts = vec![
        "base:allocation".to_string(),
        "qemu:allocation-depth".to_string(),
    ];
    if let Some((_, bu)) = &base {
        contexts.push(bitmap_context(bu));
    }
    for b in bitmaps::of(d, vdi) {
        if let Ok(n) = d.registry.read_or(bm::CLASS, b, |row| row.get(bm::NAME_)) {
            let c = bitmap_context(&n);
            if !contexts.contains(&c) {
                contexts.push(c);
            }
        }
    }
    Ok(Resolved {
        vdi,
        who,
        base,
        info: ExportInfo {
            // The name as asked: transmission checks it again.
            name: name.to_string(),
            description: Some(label).filter(|l: &String| !l.is_empty()),
            size,
            flags: TF_CAN_MULTI_CONN,
            contexts,
        },
    })
}

/// The exports: every VDI, to a session allowed to read it.
#[derive(Clone)]
pub struct VdiExports(pub Arc<Domain>);

impl Exports for VdiExports {
    async fn list(&self) -> Vec<String> {
        // Names need a session: there is nothing to list.
        Vec::new()
    }

    async fn resolve(&self, name: &str) -> Result<ExportInfo, NbdError> {
        resolve(&self.0, name).map(|r| r.info)
    }
}

/// One connection's export: the VDI claimed as a reader, its image open.
pub struct VdiExport {
    img: Arc<Image>,
    /// The dirty-bitmap contexts, as they were when the connection began:
    /// name, bytes per bit, bits (the changes since the base, one bit per
    /// 64 KiB, and each named bitmap of the VDI).
    maps: Vec<(String, u64, Vec<u8>)>,
    _claim: Claim,
}

fn io(e: impl std::fmt::Display) -> NbdError {
    NbdError::Io(e.to_string())
}

/// Opens the export `name` (as negotiated) for transmission: checks it
/// again, claims the VDI for the connection and opens its image.
pub async fn open(d: &Arc<Domain>, name: &str) -> Result<VdiExport, NbdError> {
    let r = resolve(d, name)?;
    let mut maps = Vec::new();
    if let Some((b, bu)) = &r.base {
        let (bits, _) = cbt::changed(d, *b, r.vdi)
            .await
            .map_err(|e| NbdError::Invalid(format!("base: {}", e.code)))?;
        maps.push((bitmap_context(bu), cbt::GRANULARITY, bits));
    }
    for b in bitmaps::of(d, r.vdi) {
        let Ok(n) = d.registry.read_or(bm::CLASS, b, |row| row.get(bm::NAME_)) else {
            continue;
        };
        let (g, bits) = bitmaps::bits(d, b)
            .await
            .map_err(|e| NbdError::Io(e.code.to_string()))?;
        maps.push((bitmap_context(&n), g, bits));
    }
    let (claim, img) = transfer::open_reader(d, r.vdi, r.who.session)
        .await
        .map_err(|(_, e)| match e.code {
            c if c == crate::model::schema::codes::OTHER_OPERATION_IN_PROGRESS => {
                NbdError::Denied("the VDI is busy".into())
            }
            _ => io(e.code),
        })?;
    Ok(VdiExport {
        img,
        maps,
        _claim: claim,
    })
}

/// Most extents answered to one block status request.
const MAX_EXTENTS: usize = 1024;

fn push(out: &mut Vec<Extent>, len: u64, flags: u32) {
    let len = len.min(u64::from(u32::MAX)) as u32;
    match out.last_mut() {
        Some(e) if e.flags == flags && e.length.checked_add(len).is_some() => e.length += len,
        _ => out.push(Extent { length: len, flags }),
    }
}

/// `base:allocation` from `offset` for up to `len` bytes.
fn allocation(img: &Image, offset: u64, len: u64) -> std::io::Result<Vec<Extent>> {
    let (mut out, mut off, end) = (Vec::new(), offset, offset + len);
    let layers = img.layers().len();
    while off < end && out.len() < MAX_EXTENTS {
        let (n, a) = img.chain_status(0, layers, off, end - off)?;
        if n == 0 {
            break;
        }
        let flags = match a {
            Alloc::Data => 0,
            Alloc::Zero | Alloc::Unallocated => STATE_HOLE | STATE_ZERO,
        };
        push(&mut out, n, flags);
        off += n;
    }
    Ok(out)
}

/// `qemu:allocation-depth` from `offset` for up to `len` bytes.
fn depth(img: &Image, offset: u64, len: u64) -> std::io::Result<Vec<Extent>> {
    let (mut out, mut off, end) = (Vec::new(), offset, offset + len);
    let layers = img.layers().len();
    while off < end && out.len() < MAX_EXTENTS {
        let mut run = end - off;
        let mut found = 0u32;
        for layer in 0..layers {
            let (n, a) = img.status(layer, off, run)?;
            run = n;
            // The bottom layer reads holes as zeroes: unallocated there
            // is depth 0, as QEMU says.
            let bottom_hole = layer + 1 == layers && a == Alloc::Zero;
            if a != Alloc::Unallocated && !bottom_hole {
                found = layer as u32 + 1;
                break;
            }
        }
        if run == 0 {
            break;
        }
        push(&mut out, run, found);
        off += run;
    }
    Ok(out)
}

/// A dirty-bitmap context (`g` bytes per bit) from `offset` for up to
/// `len` bytes (dirty: flag 1).
fn dirty(bits: &[u8], g: u64, offset: u64, len: u64) -> Vec<Extent> {
    let (mut out, mut off, end) = (Vec::new(), offset, offset + len);
    while off < end {
        let b = off / g;
        let set = bits
            .get((b / 8) as usize)
            .is_some_and(|x| x & (0x80 >> (b % 8)) != 0);
        let next = ((b + 1) * g).min(end);
        push(&mut out, next - off, u32::from(set));
        off = next;
    }
    out
}

impl Backend for VdiExport {
    async fn read(&self, offset: u64, len: u32) -> Result<Bytes, NbdError> {
        let img = self.img.clone();
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; len as usize];
            img.read_at(0, &mut buf, offset).map(|()| Bytes::from(buf))
        })
        .await
        .map_err(io)?
        .map_err(io)
    }

    async fn block_status(
        &self,
        context: &str,
        offset: u64,
        len: u32,
    ) -> Result<Vec<Extent>, NbdError> {
        let len = u64::from(len);
        if let Some((_, g, bits)) = self.maps.iter().find(|(n, _, _)| n == context) {
            return Ok(dirty(bits, *g, offset, len));
        }
        let img = self.img.clone();
        let depth_wanted = match context {
            "base:allocation" => false,
            "qemu:allocation-depth" => true,
            _ => return Err(NbdError::Invalid("unknown context".into())),
        };
        tokio::task::spawn_blocking(move || {
            if depth_wanted {
                depth(&img, offset, len)
            } else {
                allocation(&img, offset, len)
            }
        })
        .await
        .map_err(io)?
        .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_are_xapis() {
        assert_eq!(
            parse("/u?session_id=OpaqueRef:s"),
            Some(Name {
                vdi: "u",
                session: "OpaqueRef:s",
                base: None
            })
        );
        assert_eq!(
            parse("u?session_id=s&base=b").map(|n| n.base),
            Some(Some("b"))
        );
        assert_eq!(parse("/u"), None);
        assert_eq!(parse("/u?base=b"), None);
        assert_eq!(parse("/u?session_id=s&session_id=t"), None);
        assert_eq!(parse("/u?session_id=s&x=1"), None);
    }

    #[test]
    fn dirty_extents_follow_the_bits() {
        let g = cbt::GRANULARITY;
        let e = dirty(&[0b0110_0000], g, 0, 4 * g);
        let got: Vec<(u32, u32)> = e.iter().map(|x| (x.length, x.flags)).collect();
        assert_eq!(got, vec![(g as u32, 0), (2 * g as u32, 1), (g as u32, 0)]);
        let e = dirty(&[0xff], g, g / 2, g);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].length, e[0].flags), (g as u32, 1));
    }
}
