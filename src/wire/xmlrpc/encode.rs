//! Encoding, byte-exact as xapi writes it, straight into a `Vec<u8>`.

use crate::wire::float::{write_g16, write_i64};
use crate::wire::{base64, Reply, Value};

const REPLY_HEAD: &[u8] = b"<?xml version=\"1.0\"?><methodResponse><params><param>";
const REPLY_TAIL: &[u8] = b"</param></params></methodResponse>";
const SUCCESS_HEAD: &[u8] = b"<value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>";
const FAILURE_HEAD: &[u8] = b"<value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>";
const FAILURE_TAIL: &[u8] = b"</data></array></value></member></struct></value>";
const STRUCT_TAIL: &[u8] = b"</member></struct></value>";

/// Writes a whole `methodResponse` document for `reply`.
pub fn encode_reply(reply: &Reply, out: &mut Vec<u8>) {
    out.reserve(256);
    out.extend_from_slice(REPLY_HEAD);
    match reply {
        Reply::Success(v) => {
            out.extend_from_slice(SUCCESS_HEAD);
            encode_value(v, out);
            out.extend_from_slice(STRUCT_TAIL);
        }
        Reply::Failure(desc) => {
            out.extend_from_slice(FAILURE_HEAD);
            for s in desc {
                out.extend_from_slice(b"<value>");
                escape_into(s, out);
                out.extend_from_slice(b"</value>");
            }
            out.extend_from_slice(FAILURE_TAIL);
        }
        Reply::Bare(v) => encode_value(v, out),
    }
    out.extend_from_slice(REPLY_TAIL);
}

/// Writes one `<value>…</value>`.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::String(s) => {
            out.extend_from_slice(b"<value>");
            escape_into(s, out);
            out.extend_from_slice(b"</value>");
        }
        Value::Ref(r) => {
            out.extend_from_slice(b"<value>");
            r.write_to(out);
            out.extend_from_slice(b"</value>");
        }
        Value::Int(i) => {
            out.extend_from_slice(b"<value>");
            write_i64(*i, out);
            out.extend_from_slice(b"</value>");
        }
        Value::I4(i) => {
            out.extend_from_slice(b"<value><i4>");
            write_i64(i64::from(*i), out);
            out.extend_from_slice(b"</i4></value>");
        }
        Value::Bool(b) => out.extend_from_slice(if *b {
            b"<value><boolean>1</boolean></value>"
        } else {
            b"<value><boolean>0</boolean></value>"
        }),
        Value::Double(d) => {
            out.extend_from_slice(b"<value><double>");
            write_g16(*d, out);
            out.extend_from_slice(b"</double></value>");
        }
        Value::DateTime(dt) => {
            out.extend_from_slice(b"<value><dateTime.iso8601>");
            dt.write_to(out);
            out.extend_from_slice(b"</dateTime.iso8601></value>");
        }
        Value::Base64(bytes) => {
            out.extend_from_slice(b"<value><base64>");
            base64::encode_to(bytes, out);
            out.extend_from_slice(b"</base64></value>");
        }
        Value::Nil => out.extend_from_slice(b"<value><nil/></value>"),
        // Streamed by the HTTP layer; never nested.
        Value::Stream(_) => {}
        Value::Array(items) => {
            out.extend_from_slice(b"<value><array><data>");
            for item in items {
                encode_value(item, out);
            }
            out.extend_from_slice(b"</data></array></value>");
        }
        Value::Struct(members) => {
            out.extend_from_slice(b"<value><struct>");
            for (k, v) in members {
                out.extend_from_slice(b"<member><name>");
                escape_into(k, out);
                out.extend_from_slice(b"</name>");
                encode_value(v, out);
                out.extend_from_slice(b"</member>");
            }
            out.extend_from_slice(b"</struct></value>");
        }
    }
}

/// What to do with each byte of a string: 0 copy, 1 drop, 2..=5 escape.
const ESC: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        if i != 0x09 && i != 0x0A && i != 0x0D {
            t[i] = 1;
        }
        i += 1;
    }
    t[b'<' as usize] = 2;
    t[b'>' as usize] = 3;
    t[b'&' as usize] = 4;
    t[b'"' as usize] = 5;
    t
};

/// Appends `s` escaped as xapi does: `<>&"` as entities, control characters
/// other than tab/LF/CR dropped, everything else as is.
pub(crate) fn escape_into(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    // Most strings need nothing: check with a cheap OR-reduction first (no
    // early exit, so it vectorises), then copy in one go.
    if !b.iter().fold(false, |acc, &c| acc | (ESC[c as usize] != 0)) {
        out.extend_from_slice(b);
        return;
    }
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let rep: &[u8] = match ESC[c as usize] {
            0 => continue,
            1 => b"",
            2 => b"&lt;",
            3 => b"&gt;",
            4 => b"&amp;",
            _ => b"&quot;",
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
}
