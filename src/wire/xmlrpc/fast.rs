//! A fast path for the shape nearly every request has: a flat list of
//! scalar parameters, as Python's `xmlrpc.client`, the XenAPI SDK, XO and
//! curl users send them.
//!
//! It accepts a strict subset of XML-RPC (no comments, entities, CDATA,
//! arrays, structs, CR characters or namespace prefixes; only the common
//! scalar types) and answers `None` for anything else, which then goes to
//! the full decoder. Where it answers `Some`, the answer is exactly the full
//! decoder's (a property test checks this on generated and mutated
//! requests), so the two can never disagree on what a request means.

use super::lexer::{convert, is_xml_ws, Tag};
use crate::wire::{MethodCall, Value};

/// Bytes the fast path does not handle in character data.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = c != b'\t' as usize && c != b'\n' as usize;
        c += 1;
    }
    t[b'&' as usize] = true;
    t[b'>' as usize] = true;
    t[0xEF] = true;
    t
};

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\n' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn lit(&mut self, s: &[u8]) -> bool {
        if self.b[self.i..].starts_with(s) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    /// Character data up to the next `<`: plain text only (no references,
    /// no CR, no control characters, valid UTF-8, no U+FFFE/U+FFFF).
    fn text(&mut self) -> Option<&'a str> {
        let start = self.i;
        let rest = &self.b[start..];
        let end = memchr::memchr(b'<', rest)?;
        let t = &rest[..end];
        // One table lookup per byte: references, `>`, CR, control
        // characters and 0xEF (the lead byte of U+FFFE/U+FFFF, which the
        // full decoder refuses) all send the request to the full decoder.
        if t.iter().any(|&c| SPECIAL[c as usize]) {
            return None;
        }
        let s = std::str::from_utf8(t).ok()?;
        self.i += end;
        Some(s)
    }

    /// `<name>` for one of the scalar types.
    fn scalar_open(&mut self) -> Option<(Tag, &'static [u8])> {
        const TYPES: [(&[u8], Tag, &[u8]); 6] = [
            (b"<string>", Tag::Str, b"</string>"),
            (b"<int>", Tag::Int, b"</int>"),
            (b"<i4>", Tag::Int, b"</i4>"),
            (b"<double>", Tag::Double, b"</double>"),
            (b"<boolean>", Tag::Boolean, b"</boolean>"),
            (b"<i8>", Tag::Int, b"</i8>"),
        ];
        for (open, tag, close) in TYPES {
            if self.lit(open) {
                return Some((tag, close));
            }
        }
        None
    }

    /// After `<value>`: a scalar, then `</value>`.
    fn value(&mut self) -> Option<Value> {
        let lead = self.text()?;
        if self.lit(b"</value>") {
            return Some(Value::from(lead));
        }
        if !lead.bytes().all(|c| c == b' ' || c == b'\t' || c == b'\n') {
            return None;
        }
        let (tag, close) = self.scalar_open()?;
        let t = self.text()?;
        if !self.lit(close) {
            return None;
        }
        let v = match tag {
            Tag::Str => Value::from(t),
            // Errors (a bad int, ...) are left to the full decoder, which
            // reports them.
            _ => convert(tag, t).ok()?,
        };
        self.ws();
        self.lit(b"</value>").then_some(v)
    }
}

/// Decodes the common shape of a call, or `None` to use the full decoder.
pub(super) fn decode_call(body: &[u8]) -> Option<MethodCall> {
    let mut c = Cursor { b: body, i: 0 };
    c.ws();
    if c.lit(b"<?xml") {
        if !(c.lit(b" version=\"1.0\"?>") || c.lit(b" version='1.0'?>")) {
            return None;
        }
        c.ws();
    }
    if !c.lit(b"<methodCall>") {
        return None;
    }
    c.ws();
    if !c.lit(b"<methodName>") {
        return None;
    }
    let name = c.text()?.trim_matches(is_xml_ws);
    if name.is_empty() || !c.lit(b"</methodName>") {
        return None;
    }
    let method = name.to_owned();
    c.ws();
    let mut params = Vec::new();
    if c.lit(b"<params/>") {
    } else if c.lit(b"<params>") {
        loop {
            c.ws();
            if c.lit(b"</params>") {
                break;
            }
            if !c.lit(b"<param>") {
                return None;
            }
            c.ws();
            if c.lit(b"<value/>") {
                params.push(Value::from(""));
            } else if c.lit(b"<value>") {
                params.push(c.value()?);
            } else {
                return None;
            }
            c.ws();
            if !c.lit(b"</param>") {
                return None;
            }
        }
    }
    c.ws();
    if !c.lit(b"</methodCall>") {
        return None;
    }
    c.ws();
    (c.i == body.len()).then_some(MethodCall { method, params })
}
