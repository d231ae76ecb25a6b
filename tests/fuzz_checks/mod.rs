//! The properties the fuzz targets check (`fuzz/`, docs/reliability.md,
//! "Fuzzing"), shared with the replay test (`tests/fuzz_replay.rs`), which
//! runs every committed corpus and regression input through them.
//!
//! Each check takes the fuzzer's bytes, feeds them to one of the parsers
//! that read outside bytes, and panics when a property fails. Every check
//! also runs under [`LimitAlloc`]: no single allocation may exceed the
//! declared limit of that parser (see [`TARGETS`]).

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use xapid::wire::{jsonrpc, xmlrpc, Limits, Reply, Value};

#[path = "../../src/bin/xe/options.rs"]
#[allow(dead_code, clippy::all)]
mod xe_options;

// ---------------------------------------------------------------------------
// The allocation limit.

thread_local! {
    static LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
    static EXCEEDED: Cell<usize> = const { Cell::new(0) };
}

/// A global allocator that records any single allocation larger than the
/// current thread's limit (the check then fails with its size).
pub struct LimitAlloc;

fn note(size: usize) {
    let over = LIMIT.try_with(|l| size > l.get()).unwrap_or(false);
    if over {
        let _ = EXCEEDED.try_with(|e| e.set(e.get().max(size)));
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// bookkeeping touches only const-initialised thread-locals (no allocation).
unsafe impl GlobalAlloc for LimitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A target: name, largest single allocation allowed, check.
pub type Target = (&'static str, usize, fn(&[u8]));

/// The targets: name, largest single allocation allowed, check.
pub const TARGETS: &[Target] = &[
    // The RPC body limit (config: max_body_bytes, 1 MiB by default): a
    // decoder never needs a buffer larger than the body it was given.
    ("xmlrpc", 1 << 20, xmlrpc_call),
    ("jsonrpc", 1 << 20, jsonrpc_call),
    // Query strings and headers: hyper's header buffer (~400 KiB) bounds them.
    ("http_data", 1 << 20, http_data),
    // A header cluster: at most 2 MiB (cluster_bits <= 21).
    ("qcow2_header", 2 << 20, qcow2_header),
    // The bitmaps extension: a directory of at most 64 MiB, bitmap data of
    // at most 512 MiB (QEMU's limits, `bitmaps.rs`).
    ("qcow2_bitmaps", 512 << 20, qcow2_bitmaps),
    // NBD: options of at most MAX_OPTION_LEN, payloads of MAX_PAYLOAD (32 MiB).
    ("nbd", 32 << 20, nbd),
    ("xe_args", 1 << 20, xe_args),
    ("config", 1 << 20, config_file),
];

/// Runs the check of `target` on `data` under its allocation limit.
pub fn run(target: &str, data: &[u8]) {
    let &(_, limit, check) = TARGETS
        .iter()
        .find(|t| t.0 == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    EXCEEDED.with(|e| e.set(0));
    LIMIT.with(|l| l.set(limit));
    check(data);
    LIMIT.with(|l| l.set(usize::MAX));
    let over = EXCEEDED.with(|e| e.replace(0));
    assert!(
        over == 0,
        "{target}: an allocation of {over} bytes, above the limit of {limit}"
    );
}

// ---------------------------------------------------------------------------
// Value comparisons (as tests/codec/gen.rs, without proptest).

fn dedup(members: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in members {
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// What an XML reader sees of a string we wrote: control characters
/// dropped by the encoder, then XML line-end normalisation.
fn xml_text(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|&c| c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    kept.replace("\r\n", "\n").replace('\r', "\n")
}

fn g16(x: f64) -> String {
    let mut out = Vec::new();
    xmlrpc::write_g16(x, &mut out);
    String::from_utf8(out).expect("g16 is ASCII")
}

/// What `decode_value(encode_value(v))` must give.
fn after_xml(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::from(xml_text(s)),
        Value::Int(i) => Value::from(i.to_string()),
        Value::I4(i) => Value::Int(i64::from(*i)),
        Value::Ref(r) => Value::from(r.to_string()),
        Value::Double(d) => Value::Double(g16(*d).parse().unwrap_or(f64::NAN)),
        Value::Array(items) => Value::Array(items.iter().map(after_xml).collect()),
        Value::Struct(m) => Value::Struct(dedup(
            m.iter().map(|(k, v)| (xml_text(k), after_xml(v))).collect(),
        )),
        other => other.clone(),
    }
}

/// Equality with NaN equal to NaN.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => (x.is_nan() && y.is_nan()) || x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

fn same_all(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

// ---------------------------------------------------------------------------
// XML-RPC.

/// The XML-RPC decoder: the fast path agrees with the full decoder,
/// `decode_call` with `decode_call_full`, and every decoded value comes
/// back from `decode_value(encode_value(v))` as XML-RPC allows.
fn xmlrpc_call(data: &[u8]) {
    let lim = Limits::default();
    let full = xmlrpc::decode_call_full(data, &lim);
    if let Some(fast) = xmlrpc::decode_call_fast(data) {
        let full = full
            .as_ref()
            .unwrap_or_else(|e| panic!("fast path accepted what the full decoder refuses: {e}"));
        assert_eq!(
            fast.method, full.method,
            "fast and full disagree on the method"
        );
        assert!(
            same_all(&fast.params, &full.params),
            "fast and full disagree:\n{:?}\n{:?}",
            fast.params,
            full.params
        );
    }
    let call = xmlrpc::decode_call(data, &lim);
    match (&call, &full) {
        (Ok(a), Ok(b)) => assert!(a.method == b.method && same_all(&a.params, &b.params)),
        (Err(_), Err(_)) => {}
        _ => panic!("decode_call and decode_call_full disagree: {call:?} / {full:?}"),
    }
    if let Ok(call) = &call {
        for v in &call.params {
            xml_round_trip(v, &lim);
        }
        // The call re-encoded as a request decodes to the same call.
        let mut body = b"<methodCall><methodName>".to_vec();
        let name = xml_text(&call.method);
        let mut esc = Vec::new();
        xmlrpc_escape(&name, &mut esc);
        body.extend_from_slice(&esc);
        body.extend_from_slice(b"</methodName><params>");
        for v in &call.params {
            body.extend_from_slice(b"<param>");
            xmlrpc::encode_value(v, &mut body);
            body.extend_from_slice(b"</param>");
        }
        body.extend_from_slice(b"</params></methodCall>");
        let back = xmlrpc::decode_call(&body, &lim)
            .unwrap_or_else(|e| panic!("re-encoded call does not decode: {e}"));
        let want: Vec<Value> = call.params.iter().map(after_xml).collect();
        assert_eq!(back.method, name.trim_matches([' ', '\t', '\n', '\r']));
        assert!(
            same_all(&back.params, &want),
            "call round trip:\n{:?}\n{want:?}",
            back.params
        );
    }
    if let Ok(v) = xmlrpc::decode_reply(data, &lim) {
        xml_round_trip(&v, &lim);
    }
    if let Ok(v) = xmlrpc::decode_value(data, &lim) {
        xml_round_trip(&v, &lim);
    }
}

fn xmlrpc_escape(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        match c {
            '<' => out.extend_from_slice(b"&lt;"),
            '&' => out.extend_from_slice(b"&amp;"),
            '>' => out.extend_from_slice(b"&gt;"),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

fn xml_round_trip(v: &Value, lim: &Limits) {
    let mut out = Vec::new();
    xmlrpc::encode_value(v, &mut out);
    let back = xmlrpc::decode_value(&out, lim)
        .unwrap_or_else(|e| panic!("encode_value gave what decode_value refuses: {e}"));
    let want = after_xml(v);
    assert!(
        same(&back, &want),
        "XML round trip:\n{back:?}\n!=\n{want:?}"
    );
}

// ---------------------------------------------------------------------------
// JSON-RPC.

/// The JSON-RPC decoder: what it accepts is JSON; every decoded parameter
/// comes back from its own encoding.
fn jsonrpc_call(data: &[u8]) {
    let lim = Limits::default();
    let Ok(call) = jsonrpc::decode_call(data, &lim) else {
        return;
    };
    // (Unknown members are skipped as serde's IgnoredAny does: their
    // strings' UTF-8 and their numbers' range are not checked, so the
    // reference is JSON's syntax, not serde_json::Value.)
    assert!(
        serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok(),
        "the decoder accepted what is not JSON"
    );
    for v in &call.call.params {
        let mut out = Vec::new();
        jsonrpc::encode_reply(
            &Reply::Success(v.clone()),
            &serde_json::json!(1),
            jsonrpc::Version::V2,
            &mut out,
        );
        let text = std::str::from_utf8(&out).expect("JSON is UTF-8");
        let json = text
            .strip_prefix(r#"{"jsonrpc":"2.0","result":"#)
            .and_then(|t| t.strip_suffix(r#","id":1}"#))
            .expect("reply framing");
        let req = format!(r#"{{"jsonrpc":"2.0","method":"m","id":1,"params":[{json}]}}"#);
        let back = jsonrpc::decode_call(req.as_bytes(), &lim)
            .unwrap_or_else(|e| panic!("our own encoding does not decode: {e}: {req}"));
        assert!(
            same(&back.call.params[0], v),
            "JSON round trip:\n{:?}\n!=\n{v:?}",
            back.call.params[0]
        );
    }
    // The reply echoes the id and is JSON.
    let mut out = Vec::new();
    jsonrpc::encode_reply(
        &Reply::Success(Value::Nil),
        &call.id,
        call.version,
        &mut out,
    );
    let reply: serde_json::Value = serde_json::from_slice(&out).expect("the reply is JSON");
    assert_eq!(reply["id"], call.id, "the reply echoes the id");
}

// ---------------------------------------------------------------------------
// HTTP data paths: the query and the Range header.

/// A reference percent-decoder (RFC 3986 `%XX`, form `+`), lossy UTF-8.
fn percent_decode_ref(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let h = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(h(b[i + 1]) * 16 + h(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A reference reading of one `Range: bytes=` range (RFC 9110, 14.1.2)
/// against a body of `size` bytes; `None`: the whole body, `Some(None)`:
/// unsatisfiable, `Some(Some((start, end)))`: `[start, end)`.
fn range_ref(h: &str, size: u64) -> Option<Option<(u64, u64)>> {
    let spec = h.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => None,
        (true, false) => {
            let n = num(b)?;
            if n == 0 || size == 0 {
                Some(None)
            } else {
                Some(Some((size - n.min(size), size)))
            }
        }
        (false, true) => {
            let s = num(a)?;
            Some((s < size).then_some((s, size)))
        }
        (false, false) => {
            let (s, l) = (num(a)?, num(b)?);
            if l < s {
                return None;
            }
            Some((s < size).then(|| (s, (l.min(size - 1)) + 1)))
        }
    }
}

/// Input: 8 bytes of size, then `Range header\nquery string`.
fn http_data(data: &[u8]) {
    use xapid::http::range::{self, Wanted};
    if data.len() < 8 {
        return;
    }
    let mut size = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
    if data[0] & 1 == 0 {
        size %= 1 << 20;
    }
    let Ok(text) = std::str::from_utf8(&data[8..]) else {
        return;
    };
    let (header, query) = text.split_once('\n').unwrap_or((text, ""));
    // Range.
    let got = range::wanted(Some(header), size);
    let want = match range_ref(header, size) {
        None => Wanted::All,
        Some(None) => Wanted::Unsatisfiable,
        Some(Some((start, end))) => Wanted::Part { start, end },
    };
    assert_eq!(got, want, "Range {header:?} of {size} bytes");
    if let Wanted::Part { start, end } = got {
        assert!(start < end && end <= size, "range out of the body");
    }
    // Query: each known key's last value, percent-decoded.
    let got = xapid::http::data::parse_query(Some(query));
    let keys = ["session_id", "vdi", "task_id", "offset", "base", "since"];
    let mut want: [Option<String>; 6] = Default::default();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(i) = keys.iter().position(|x| *x == k) {
            want[i] = Some(percent_decode_ref(v));
        }
    }
    assert_eq!(got, want, "query {query:?}");
    // The framing of a multipart answer adds up.
    let extents: Vec<(u64, u64)> = data[8..]
        .chunks(2)
        .take(16)
        .scan(0u64, |at, c| {
            let gap = u64::from(c[0]);
            let len = u64::from(*c.get(1).unwrap_or(&1)).max(1);
            let off = *at + gap;
            *at = off + len;
            Some((off, len))
        })
        .collect();
    let vsize = extents.last().map_or(0, |(o, l)| o + l);
    let (parts, tail, total) = range::multipart("b0undary", &extents, vsize);
    let sum: u64 = parts
        .iter()
        .map(|(h, s, e)| h.len() as u64 + (e - s))
        .sum::<u64>()
        + tail.len() as u64;
    assert_eq!(sum, total, "multipart length");
}

// ---------------------------------------------------------------------------
// qcow2.

mod sr {
    use std::path::PathBuf;
    use std::sync::OnceLock;
    use xapid::storage::path::SrDir;

    /// A scratch SR of this process: a regular `base.qcow2`, a symlink
    /// `link` to a file outside, a directory `sub`, a hidden `.hidden`.
    pub fn get() -> &'static (SrDir, PathBuf) {
        static SR: OnceLock<(SrDir, PathBuf)> = OnceLock::new();
        SR.get_or_init(|| {
            let base = std::env::temp_dir().join(format!("xapid-fuzz-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            let outside = base.join("outside");
            let sr_dir = base.join("sr");
            std::fs::create_dir_all(&sr_dir).expect("scratch SR");
            std::fs::write(&outside, b"secret").expect("outside file");
            std::fs::write(sr_dir.join("base.qcow2"), b"").expect("base");
            std::fs::write(sr_dir.join(".hidden"), b"").expect("hidden");
            std::fs::create_dir_all(sr_dir.join("sub")).expect("sub");
            let _ = std::os::unix::fs::symlink(&outside, sr_dir.join("link"));
            let _ = std::os::unix::fs::symlink("../outside", sr_dir.join("rel"));
            (SrDir::open(&sr_dir).expect("SR"), outside)
        })
    }

    /// A file name of this thread (tests run in parallel).
    pub fn image_name() -> String {
        let id = format!("{:?}", std::thread::current().id());
        let digits: String = id.chars().filter(char::is_ascii_digit).collect();
        format!("img-{digits}")
    }
}

/// Whether `name` is a regular file directly inside the SR.
fn inside_sr(root: &std::path::Path, name: &str) -> bool {
    let p = root.join(name);
    p.parent() == Some(root)
        && std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_file())
        && p.canonicalize().is_ok_and(|c| c.parent() == Some(root))
}

/// The qcow2 header parser: a header that parses names a backing file the
/// storage layer accepts only inside the SR; `probe` (what a scan runs)
/// never accepts a backing file outside the SR nor an external data file;
/// rewriting the backing pointer keeps everything else.
fn qcow2_header(data: &[u8]) {
    use xapid::storage::image::{self, Format};
    use xapid::storage::qcow2::header::Header;
    let (sr, _) = sr::get();
    let root = sr.root();
    if let Ok(h) = Header::parse(data) {
        if let Some(b) = &h.backing_file {
            if let Ok(p) = sr.path(b) {
                assert_eq!(p.parent(), Some(root), "backing name {b:?} leaves the SR");
            }
            if sr.backing_allowed(b) {
                assert!(inside_sr(root, b), "backing {b:?} allowed outside the SR");
            }
        }
    }
    let name = sr::image_name();
    let path = root.join(&name);
    std::fs::write(&path, data).expect("write image");
    if let Ok(p) = image::probe(sr, &name) {
        if let Some(b) = &p.backing {
            assert!(
                inside_sr(root, b),
                "probe accepted backing {b:?} outside the SR"
            );
            assert_ne!(b, &name, "an image backed by itself");
        }
        if p.format == Format::Qcow2 && data.len() >= 80 && data[7] >= 3 {
            assert!(data[79] & 4 == 0, "probe accepted an external data file");
        }
    }
    // The backing pointer rewritten, as stream and commit do.
    if let Ok(h) = Header::parse(data) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open image");
        if Header::set_backing(&f, Some(("base.qcow2", "qcow2"))).is_ok() {
            let back = Header::read(&f).expect("a header we wrote reads back");
            assert_eq!(back.backing_file.as_deref(), Some("base.qcow2"));
            assert_eq!(back.backing_format.as_deref(), Some("qcow2"));
            assert_eq!(
                (back.version, back.cluster_bits, back.size),
                (h.version, h.cluster_bits, h.size)
            );
            if Header::set_backing(&f, None).is_ok() {
                let back = Header::read(&f).expect("a header we wrote reads back");
                assert_eq!(back.backing_file, None);
                assert_eq!(back.size, h.size);
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// The bitmaps extension: what `list` reports, `load` gives; counts fit.
fn qcow2_bitmaps(data: &[u8]) {
    use xapid::storage::qcow2::bitmaps;
    let (sr, _) = sr::get();
    let name = sr::image_name();
    let path = sr.root().join(&name);
    std::fs::write(&path, data).expect("write image");
    let f = std::fs::File::open(&path).expect("open image");
    let _ = bitmaps::present(&f);
    if let Ok(list) = bitmaps::list(&f) {
        for b in &list {
            assert!(
                b.granularity.is_power_of_two() && (512..=1 << 31).contains(&b.granularity),
                "granularity {}",
                b.granularity
            );
            assert!(!b.name.is_empty() && b.name.len() <= bitmaps::MAX_NAME);
            assert_eq!(b.count.is_none(), b.in_use);
            if let Some(n) = b.count {
                if list.iter().filter(|x| x.name == b.name).count() == 1 {
                    let bm = bitmaps::load(&f, &b.name).expect("a listed bitmap loads");
                    assert_eq!(bm.count(), n, "list and load disagree");
                    assert!(n <= bm.len());
                }
            }
        }
    }
    // The leak repair (which writes) on the same file: what it frees is
    // freed for good (a second pass finds nothing), it keeps the bitmaps
    // as they were listed, and it writes nothing past the file's last
    // cluster.
    {
        use xapid::storage::qcow2::leaks::{repair, Repair};
        let before = bitmaps::list(&f).ok();
        let len = data.len() as u64;
        let rw = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open image");
        if let Ok(Repair::Freed(_)) = repair(&rw) {
            assert_eq!(
                repair(&rw).ok(),
                Some(Repair::Freed(0)),
                "a second pass freed more"
            );
            assert_eq!(
                bitmaps::list(&rw).ok(),
                before,
                "the repair changed the bitmaps"
            );
            // (A refcount block the file's end cuts is written whole.)
            let cluster = xapid::storage::qcow2::header::Header::parse(data)
                .map(|h| h.cluster_size() as u64)
                .unwrap_or(2 << 20);
            let now = rw.metadata().expect("stat").len();
            assert!(
                now >= len && now <= len.next_multiple_of(cluster),
                "the repair took the file from {len} to {now} bytes"
            );
        }
    }
    let _ = std::fs::remove_file(&path);
}

// ---------------------------------------------------------------------------
// NBD: the handshake (options) and transmission (requests), over a stream
// that reads the fuzzer's bytes.

mod nbd_io {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use xapid::wire::nbd::{Backend, ExportInfo, Exports, Extent, NbdError};

    pub const SIZE: u64 = 1 << 20;
    static ZEROS: [u8; SIZE as usize] = [0; SIZE as usize];

    /// Reads the input in pieces of at most 7 bytes (so reads span
    /// several polls); writes are counted and dropped.
    pub struct Io {
        pub input: Vec<u8>,
        pub at: usize,
        pub written: u64,
    }

    impl AsyncRead for Io {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = (self.input.len() - self.at).min(buf.remaining()).min(7);
            let at = self.at;
            buf.put_slice(&self.input[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Io {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.written += b.len() as u64;
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    pub fn info() -> ExportInfo {
        ExportInfo {
            name: "disk".into(),
            description: Some("a disk".into()),
            size: SIZE,
            flags: xapid::wire::nbd::consts::TF_CAN_MULTI_CONN,
            contexts: vec![
                "base:allocation".into(),
                "qemu:allocation-depth".into(),
                "qemu:dirty-bitmap:b0".into(),
            ],
        }
    }

    pub struct Ex;

    impl Exports for Ex {
        async fn list(&self) -> Vec<String> {
            vec!["disk".into(), "other".into()]
        }
        async fn resolve(&self, name: &str) -> Result<ExportInfo, NbdError> {
            match name {
                "" | "disk" => Ok(info()),
                "other" => Err(NbdError::Denied("no".into())),
                _ => Err(NbdError::UnknownExport(name.into())),
            }
        }
    }

    /// Checks the contract of [`Backend`]: offsets and lengths are within
    /// the export, contexts are the negotiated ones.
    pub struct Back {
        pub contexts: Vec<String>,
    }

    impl Backend for Back {
        async fn read(&self, offset: u64, len: u32) -> Result<Bytes, NbdError> {
            assert!(
                offset
                    .checked_add(u64::from(len))
                    .is_some_and(|e| e <= SIZE),
                "read {offset}+{len} past the export"
            );
            if offset % 3 == 1 {
                return Err(NbdError::Io("injected".into()));
            }
            Ok(Bytes::from_static(&ZEROS[..len as usize]))
        }
        async fn block_status(
            &self,
            context: &str,
            offset: u64,
            len: u32,
        ) -> Result<Vec<Extent>, NbdError> {
            assert!(
                self.contexts.iter().any(|c| c == context),
                "block status of context {context:?} not negotiated"
            );
            assert!(offset < SIZE, "block status at {offset} past the export");
            let _ = len;
            Ok(vec![
                Extent {
                    length: 4096,
                    flags: 0,
                },
                Extent {
                    length: 0,
                    flags: 1,
                },
                Extent {
                    length: (offset % 65536) as u32,
                    flags: 3,
                },
                Extent {
                    length: u32::MAX,
                    flags: 2,
                },
            ])
        }
    }
}

fn nbd(data: &[u8]) {
    use xapid::wire::nbd::{negotiate, parse_option, parse_request, serve, Tls};
    // The option and request parsers alone.
    if let Ok((_, used)) = parse_option(data) {
        assert!(used <= data.len());
    }
    let _ = parse_request(data);
    // The whole exchange.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let io = nbd_io::Io {
            input: data.to_vec(),
            at: 0,
            written: 0,
        };
        let Ok(n) = negotiate(io, &nbd_io::Ex, Tls::Off).await else {
            return;
        };
        let s = &n.session;
        assert_eq!(s.export, nbd_io::info());
        let offered = &s.export.contexts;
        for (i, (id, c)) in s.contexts.iter().enumerate() {
            assert!(offered.contains(c), "context {c:?} was not offered");
            assert!(
                s.contexts[..i].iter().all(|(x, _)| x != id),
                "context ids repeat"
            );
        }
        let back = nbd_io::Back {
            contexts: s.contexts.iter().map(|(_, c)| c.clone()).collect(),
        };
        let _ = serve(n.io, s, &back).await;
    });
}

// ---------------------------------------------------------------------------
// xe's arguments.

/// Input: the command line (one argument a line), then optionally a NUL
/// and `XE_EXTRA_ARGS`, then a NUL and `~/.xe`'s text.
fn xe_args(data: &[u8]) {
    use xe_options::{parse, parse_rc, split_extra};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A password file would be read from disk: not here.
    if text.contains("pwf") || text.contains("passwordfile") {
        return;
    }
    let mut parts = text.split('\0');
    let args: Vec<String> = parts
        .next()
        .unwrap_or("")
        .split('\n')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    let extra = parts.next();
    let rc = parts.next();
    // XE_EXTRA_ARGS: items without a backslash or an empty one; escaping
    // the commas of the items gives them back.
    if let Some(e) = extra {
        let items = split_extra(e);
        for i in &items {
            assert!(!i.is_empty() && !i.contains('\\'), "item {i:?}");
        }
        let joined: Vec<String> = items.iter().map(|i| i.replace(',', "\\,")).collect();
        assert_eq!(
            split_extra(&joined.join(",")),
            items,
            "XE_EXTRA_ARGS round trip"
        );
    }
    // ~/.xe: the pairs written back as lines read the same.
    if let Some(rc) = rc {
        let pairs = parse_rc(rc);
        let text: String = pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        if !pairs.iter().any(|(_, v)| v.ends_with('\r')) {
            assert_eq!(parse_rc(&text), pairs, "~/.xe round trip");
        }
    }
    let Ok(o) = parse(&args, extra, rc) else {
        return;
    };
    // The options written back as a command line parse the same.
    let special =
        |s: &str| s.starts_with('-') || s.contains('=') || s.is_empty() || s.contains('\n');
    let tricky = o.command.iter().chain(&o.stray).any(|s| special(s))
        || o.flags.iter().any(|f| f.contains('=') || f.is_empty())
        || o.params.iter().any(|(k, _)| k.starts_with('-'));
    if tricky {
        return;
    }
    let mut line = vec![
        format!("server={}", o.server),
        format!("username={}", o.username),
        format!("password={}", o.password),
        format!("nossl={}", !o.tls),
        format!("debug={}", o.debug),
        format!("minimal={}", o.minimal),
    ];
    if let Some(p) = o.port {
        line.push(format!("port={p}"));
    }
    if o.help {
        line.push("--help".into());
    }
    line.extend(o.flags.iter().map(|f| format!("--{f}")));
    line.extend(o.params.iter().map(|(k, v)| format!("{k}={v}")));
    line.extend(o.command.iter().cloned());
    line.extend(o.stray.iter().cloned());
    let again = parse(&line, None, None).expect("our own command line parses");
    assert_eq!(
        format!("{again:?}"),
        format!("{o:?}"),
        "xe options round trip through {line:?}"
    );
}

// ---------------------------------------------------------------------------
// The config file.

/// The config file: whatever parses applies or is refused with a message,
/// never a panic; what applies gives a config that `check` judges; a file
/// of the applied values' own keys parses again.
fn config_file(data: &[u8]) {
    use xapid::config::{Config, FileConfig};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(f) = toml::from_str::<FileConfig>(text) else {
        return;
    };
    let mut c = Config::default();
    if c.apply(f).is_ok() {
        let _ = c.check();
    }
    for part in text.split('\n') {
        let _ = Config::parse_sr(part);
        let _ = Config::parse_nbd_listen(part);
    }
}
