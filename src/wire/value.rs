//! The value tree shared by the codecs, the dispatcher and the registry.
//!
//! One type serves the wire (what a client sent, what we answer) and storage
//! (the fields of a registry row), so a getter is a clone and an encode, with
//! no conversion in between.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use uuid::Uuid;

use super::datetime::DateTime;

/// The string type inside values: a `String` that keeps short strings
/// inline.
pub type Str = compact_str::CompactString;

/// A XenAPI value.
///
/// The decoder produces `Nil`, `Bool`, `Int`, `Double`, `String`, `DateTime`,
/// `Base64`, `Array` and `Struct`; `Ref` and `I4` are produced only by the
/// server (after a parameter has been checked against its datamodel type).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// `<nil/>` / JSON `null`.
    Nil,
    /// `<boolean>`.
    Bool(bool),
    /// XenAPI `int` (64-bit). XML-RPC: an untyped decimal string, as xapi
    /// sends it; JSON: a number.
    Int(i64),
    /// A typed 32-bit int, `<i4>`: xapi emits typed ints only in
    /// `event.from`'s `valid_ref_counts`.
    I4(i32),
    /// `<double>`.
    Double(f64),
    /// A string (untyped `<value>` on output). Up to 24 bytes are kept
    /// inline, so enum values, labels and most short strings of a row cost
    /// no allocation of their own.
    String(Str),
    /// `<dateTime.iso8601>`, whole seconds, UTC.
    DateTime(DateTime),
    /// `<base64>`.
    Base64(Vec<u8>),
    /// An object reference; encoded as the string `OpaqueRef:<uuid>`.
    Ref(Ref),
    /// `<array>`: XenAPI sets.
    Array(Vec<Value>),
    /// `<struct>`: XenAPI maps and records, in order.
    Struct(Vec<(String, Value)>),
    /// A value that arrives in chunks already encoded in the wire format of
    /// the call being answered. Large results, such as `get_all_records`,
    /// are encoded straight from the registry on a blocking thread and
    /// streamed, never built as a tree nor held whole in memory. It exists
    /// only on the way out, as the whole result of a reply.
    Stream(ValueStream),
}

/// The receiving end of a streamed, pre-encoded value (see
/// [`Value::Stream`]); taken once by the HTTP layer.
#[derive(Clone)]
pub struct ValueStream(Arc<Mutex<Option<mpsc::Receiver<Bytes>>>>);

impl ValueStream {
    /// A stream fed by `rx`.
    pub fn new(rx: mpsc::Receiver<Bytes>) -> ValueStream {
        ValueStream(Arc::new(Mutex::new(Some(rx))))
    }

    /// Takes the receiver (once).
    pub fn take(&self) -> Option<mpsc::Receiver<Bytes>> {
        self.0.lock().ok().and_then(|mut r| r.take())
    }
}

impl fmt::Debug for ValueStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValueStream")
    }
}

impl PartialEq for ValueStream {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl serde::Serialize for ValueStream {
    fn serialize<S: serde::Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "a streamed value cannot be stored",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for ValueStream {
    fn deserialize<D: serde::Deserializer<'de>>(_d: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "a streamed value cannot be stored",
        ))
    }
}

impl Value {
    /// The string inside a `String`, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A struct member by name.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value of `key` in a `(string -> string) map`.
    pub fn map_get(&self, key: &str) -> Option<&str> {
        self.member(key).and_then(Value::as_str)
    }

    /// Sets (or with `None` removes) `key` in a `(string -> string) map`;
    /// anything that is not a map becomes an empty one first.
    pub fn map_set(&mut self, key: &str, value: Option<&str>) {
        if !matches!(self, Value::Struct(_)) {
            *self = Value::Struct(Vec::new());
        }
        if let Value::Struct(kv) = self {
            kv.retain(|(k, _)| k != key);
            if let Some(v) = value {
                kv.push((key.to_string(), Value::from(v)));
            }
        }
    }

    /// The reference inside a `Ref` (`OpaqueRef:NULL` for anything else).
    pub fn as_ref_or_null(&self) -> Ref {
        match self {
            Value::Ref(r) => *r,
            _ => Ref::NULL,
        }
    }

    /// The references of a `ref set` (other members are skipped).
    pub fn refs(&self) -> Vec<Ref> {
        match self {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| match x {
                    Value::Ref(r) => Some(*r),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The empty string: what `void` results are on the wire.
    pub fn void() -> Value {
        Value::String(Str::default())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Str::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Str::from(s))
    }
}

impl From<Ref> for Value {
    fn from(r: Ref) -> Self {
        Value::Ref(r)
    }
}

/// An object reference, `OpaqueRef:<uuid>`; the nil uuid is `OpaqueRef:NULL`.
///
/// Kept as 16 bytes rather than a 46-byte string: refs are in every row and
/// every lookup key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ref(pub Uuid);

/// The prefix of every reference on the wire.
pub const REF_PREFIX: &str = "OpaqueRef:";

impl Ref {
    /// `OpaqueRef:NULL`.
    pub const NULL: Ref = Ref(Uuid::nil());

    /// A fresh random reference.
    pub fn new() -> Ref {
        Ref(Uuid::new_v4())
    }

    /// Whether this is `OpaqueRef:NULL`.
    pub fn is_null(&self) -> bool {
        self.0.is_nil()
    }

    /// Parses `OpaqueRef:<uuid>` or `OpaqueRef:NULL`.
    pub fn parse(s: &str) -> Option<Ref> {
        let rest = s.strip_prefix(REF_PREFIX)?;
        if rest == "NULL" {
            return Some(Ref::NULL);
        }
        // Only the canonical hyphenated form: refs are compared as strings
        // by clients, so two spellings of one ref must not both be accepted.
        parse_hyphenated(rest.as_bytes()).map(Ref)
    }

    /// Writes `OpaqueRef:...` into `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(REF_PREFIX.as_bytes());
        if self.is_null() {
            out.extend_from_slice(b"NULL");
        } else {
            let mut buf = [0u8; 36];
            out.extend_from_slice(self.0.hyphenated().encode_lower(&mut buf).as_bytes());
        }
    }
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case): the only
/// spelling of a uuid in a ref. On every call's hot path (session and
/// object refs), hence hand-written.
fn parse_hyphenated(s: &[u8]) -> Option<Uuid> {
    /// Where each byte's two hex digits start.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    if s.len() != 36 || s[8] != b'-' || s[13] != b'-' || s[18] != b'-' || s[23] != b'-' {
        return None;
    }
    let mut out = [0u8; 16];
    let mut bad = 0u8;
    for (o, &i) in out.iter_mut().zip(AT.iter()) {
        let hi = HEX[s[i] as usize];
        let lo = HEX[s[i + 1] as usize];
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0x10 == 0).then(|| Uuid::from_bytes(out))
}

/// Hex digit values; 0x10 marks a non-digit.
const HEX: [u8; 256] = {
    let mut t = [0x10u8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        t[b'A' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_null() {
            write!(f, "{REF_PREFIX}NULL")
        } else {
            write!(f, "{REF_PREFIX}{}", self.0.hyphenated())
        }
    }
}

impl serde::Serialize for Ref {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ref {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ref::parse(&s).ok_or_else(|| serde::de::Error::custom("not a reference"))
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_round_trip() {
        let r = Ref::new();
        assert_eq!(Ref::parse(&r.to_string()), Some(r));
        assert_eq!(Ref::parse("OpaqueRef:NULL"), Some(Ref::NULL));
        assert_eq!(Ref::NULL.to_string(), "OpaqueRef:NULL");
        let mut out = Vec::new();
        r.write_to(&mut out);
        assert_eq!(out, r.to_string().into_bytes());
    }

    #[test]
    fn the_uuid_parser_agrees_with_the_uuid_crate() {
        for _ in 0..1000 {
            let u = Uuid::new_v4();
            let lower = u.hyphenated().to_string();
            assert_eq!(parse_hyphenated(lower.as_bytes()), Some(u));
            assert_eq!(parse_hyphenated(lower.to_uppercase().as_bytes()), Some(u));
        }
        for bad in [
            "0000000g-0000-0000-0000-000000000000",
            "00000000000000000000000000000000",
            "00000000-0000-0000-0000-00000000000",
            "00000000-0000-0000-0000-0000000000000",
            "00000000+0000-0000-0000-000000000000",
        ] {
            assert_eq!(parse_hyphenated(bad.as_bytes()), None, "{bad}");
            assert!(Uuid::try_parse(bad).is_err() || bad.len() != 36);
        }
    }

    #[test]
    fn bad_refs_rejected() {
        for s in [
            "",
            "OpaqueRef:",
            "OpaqueRef:x",
            "opaqueref:NULL",
            "DummyRef:|x|y",
            "OpaqueRef:{00000000-0000-0000-0000-000000000000}",
        ] {
            assert_eq!(Ref::parse(s), None, "{s}");
        }
    }

    #[test]
    fn value_is_small() {
        assert!(std::mem::size_of::<Value>() <= 32);
    }
}
