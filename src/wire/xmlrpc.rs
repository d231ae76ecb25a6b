//! The XML-RPC codec: tolerant decoding of what XenAPI clients send, and
//! byte-exact xapi-style encoding of what we answer.
//!
//! Decoding walks quick-xml's borrowed events with an explicit stack (no
//! recursion, so hostile nesting cannot blow the stack) and builds `String`s
//! only for final values. Encoding writes straight into a `Vec<u8>`.
//!
//! Decoding rules worth knowing:
//! - Bytes below 0x20 other than tab, LF and CR, and U+FFFE/U+FFFF, are
//!   rejected anywhere in the body (they are not XML; Python's expat refuses
//!   them too); so are `<!DOCTYPE`, unknown entities and character
//!   references to characters XML 1.0 does not allow. The encoder drops the
//!   former, as xapi does, but passes U+FFFE/U+FFFF through.
//! - Line ends in character data are normalised as XML 1.0 requires (`\r\n`
//!   and a lone `\r` become `\n`); a `&#13;` reference stays a `\r`.
//! - Element names are matched on their local part, so `<ex:nil/>`,
//!   `<ex:i8>` (Apache XML-RPC extensions) work. Attributes are checked for
//!   syntax and otherwise ignored. Whitespace before `<?xml …?>` is
//!   tolerated; a declaration anywhere after the first element is not.

use std::borrow::Cow;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use super::datetime::DateTime;
use super::float::write_i64;
use super::members::Members;
use super::value::Value;
use super::{base64, DecodeError, Limits, MethodCall, Reply};

#[path = "xmlrpc_fast.rs"]
mod fast;

/// Where callers have always found it; it lives in [`super::float`].
pub use super::float::write_g16;

// ---------------------------------------------------------------------------
// Error reasons (short, static, never quoting the body).

const E_MALFORMED: DecodeError = DecodeError("malformed XML");
const E_UTF8: DecodeError = DecodeError("invalid UTF-8");
const E_CONTROL: DecodeError = DecodeError("invalid character in body");
const E_DOCTYPE: DecodeError = DecodeError("DOCTYPE not allowed");
const E_DECL: DecodeError = DecodeError("misplaced XML declaration");
const E_ENTITY: DecodeError = DecodeError("unknown entity");
const E_CHARREF: DecodeError = DecodeError("invalid character reference");
const E_ATTR: DecodeError = DecodeError("malformed attribute");
const E_UNKNOWN: DecodeError = DecodeError("unknown element");
const E_ELEMENT: DecodeError = DecodeError("unexpected element");
const E_TEXT: DecodeError = DecodeError("unexpected text");
const E_TRUNCATED: DecodeError = DecodeError("truncated document");
const E_TRAILING: DecodeError = DecodeError("trailing content after document");
const E_DEPTH: DecodeError = DecodeError("nesting too deep");
const E_ELEMENTS: DecodeError = DecodeError("too many elements");
const E_METHOD: DecodeError = DecodeError("missing methodName");
const E_NO_NAME: DecodeError = DecodeError("member without name");
const E_NO_VALUE: DecodeError = DecodeError("member without value");
const E_PARAM: DecodeError = DecodeError("param without value");
const E_INT: DecodeError = DecodeError("bad int");
const E_BOOL: DecodeError = DecodeError("bad boolean");
const E_DOUBLE: DecodeError = DecodeError("bad double");
const E_DATETIME: DecodeError = DecodeError("bad dateTime.iso8601");
const E_BASE64: DecodeError = DecodeError("bad base64");
const E_NIL: DecodeError = DecodeError("bad nil");

// ---------------------------------------------------------------------------
// Public API.

/// Decodes a `<methodCall>` request body.
pub fn decode_call(body: &[u8], limits: &Limits) -> Result<MethodCall, DecodeError> {
    if let Some(call) = fast::decode_call(body) {
        if call.params.len() < limits.max_elements / 4 {
            return Ok(call);
        }
    }
    decode_call_full(body, limits)
}

/// The full decoder (everything XML-RPC allows); [`decode_call`] tries a
/// fast path for the common flat shape first.
pub fn decode_call_full(body: &[u8], limits: &Limits) -> Result<MethodCall, DecodeError> {
    let mut lx = Lexer::new(body, limits)?;
    match lx.next_nonws()? {
        Tok::Open(Tag::MethodCall) => {}
        t => return Err(lx.unexpected(t)),
    }
    let method = match lx.next_nonws()? {
        Tok::Open(Tag::MethodName) => {
            let has = lx.text_element(Tag::MethodName)?;
            let name = if has { lx.text() } else { "" }.trim_matches(is_xml_ws);
            if name.is_empty() {
                return Err(E_METHOD);
            }
            name.to_owned()
        }
        Tok::Empty(Tag::MethodName) | Tok::Close(Tag::MethodCall) => return Err(E_METHOD),
        t => return Err(lx.unexpected(t)),
    };
    let mut params = Vec::new();
    match lx.next_nonws()? {
        Tok::Close(Tag::MethodCall) => return lx.finish(MethodCall { method, params }),
        Tok::Empty(Tag::Params) => {}
        Tok::Open(Tag::Params) => loop {
            match lx.next_nonws()? {
                Tok::Open(Tag::Param) => {}
                Tok::Close(Tag::Params) => break,
                Tok::Empty(Tag::Param) => return Err(E_PARAM),
                t => return Err(lx.unexpected(t)),
            }
            let v = match lx.next_nonws()? {
                Tok::Open(Tag::Value) => lx.value()?,
                Tok::Empty(Tag::Value) => Value::from(""),
                Tok::Close(Tag::Param) => return Err(E_PARAM),
                t => return Err(lx.unexpected(t)),
            };
            params.push(v);
            lx.expect_close(Tag::Param)?;
        },
        t => return Err(lx.unexpected(t)),
    }
    lx.expect_close(Tag::MethodCall)?;
    lx.finish(MethodCall { method, params })
}

/// Decodes a `<methodResponse>`: the one value of `<params>`, or the value
/// of a `<fault>` (a struct).
pub fn decode_reply(body: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    let mut lx = Lexer::new(body, limits)?;
    match lx.next_nonws()? {
        Tok::Open(Tag::MethodResponse) => {}
        t => return Err(lx.unexpected(t)),
    }
    let (outer, inner) = match lx.next_nonws()? {
        Tok::Open(Tag::Params) => {
            match lx.next_nonws()? {
                Tok::Open(Tag::Param) => {}
                t => return Err(lx.unexpected(t)),
            }
            (Some(Tag::Params), Tag::Param)
        }
        Tok::Open(Tag::Fault) => (None, Tag::Fault),
        t => return Err(lx.unexpected(t)),
    };
    let v = match lx.next_nonws()? {
        Tok::Open(Tag::Value) => lx.value()?,
        Tok::Empty(Tag::Value) => Value::from(""),
        t => return Err(lx.unexpected(t)),
    };
    lx.expect_close(inner)?;
    if let Some(outer) = outer {
        lx.expect_close(outer)?;
    }
    lx.expect_close(Tag::MethodResponse)?;
    lx.finish(v)
}

/// Decodes a lone `<value>…</value>` fragment.
pub fn decode_value(fragment: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    let mut lx = Lexer::new(fragment, limits)?;
    let v = match lx.next_nonws()? {
        Tok::Open(Tag::Value) => lx.value()?,
        Tok::Empty(Tag::Value) => Value::from(""),
        t => return Err(lx.unexpected(t)),
    };
    lx.finish(v)
}

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

// ---------------------------------------------------------------------------
// Encoding helpers.

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

// ---------------------------------------------------------------------------
// Decoding: a thin lexer over quick-xml events.

/// The elements XML-RPC knows, by local name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    MethodCall,
    MethodName,
    MethodResponse,
    Params,
    Param,
    Fault,
    Value,
    Int,
    Boolean,
    Double,
    Str,
    DateTime,
    Base64,
    Nil,
    Array,
    Data,
    Struct,
    Member,
    Name,
}

fn tag_of(local: &str) -> Result<Tag, DecodeError> {
    Ok(match local {
        "value" => Tag::Value,
        "member" => Tag::Member,
        "name" => Tag::Name,
        "param" => Tag::Param,
        "params" => Tag::Params,
        "string" => Tag::Str,
        "struct" => Tag::Struct,
        "array" => Tag::Array,
        "data" => Tag::Data,
        "int" | "i4" | "i8" | "i1" | "i2" | "biginteger" => Tag::Int,
        "boolean" => Tag::Boolean,
        "double" | "float" | "bigdecimal" => Tag::Double,
        "dateTime.iso8601" => Tag::DateTime,
        "base64" => Tag::Base64,
        "nil" => Tag::Nil,
        "methodCall" => Tag::MethodCall,
        "methodName" => Tag::MethodName,
        "methodResponse" => Tag::MethodResponse,
        "fault" => Tag::Fault,
        _ => return Err(E_UNKNOWN),
    })
}

/// A token: markup, or all the character data (text, references, CDATA,
/// with comments and PIs skipped) between two pieces of markup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Open(Tag),
    Empty(Tag),
    Close(Tag),
    /// Character data; read it with [`Lexer::text`].
    Text,
    Eof,
}

/// The local part of a qualified name (names are short: a plain loop beats
/// memchr's set-up).
#[inline]
fn local(qname: &str) -> &str {
    match qname.bytes().rposition(|b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
}

#[inline]
fn has_cr(s: &str) -> bool {
    s.bytes().fold(false, |acc, b| acc | (b == b'\r'))
}

fn is_xml_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Whether a byte may not appear raw in an XML 1.0 document.
#[inline]
fn is_control(b: u8) -> bool {
    b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r'
}

/// Rejects raw characters XML 1.0 does not allow anywhere in the body:
/// control characters (NUL included) and the non-characters U+FFFE/U+FFFF.
fn check_bytes(body: &[u8]) -> Result<(), DecodeError> {
    let mut lead = false;
    // Branch-free per chunk.
    for chunk in body.chunks(64) {
        let (bad, ef) = chunk.iter().fold((false, false), |(bad, ef), &b| {
            (bad | is_control(b), ef | (b == 0xEF))
        });
        if bad {
            return Err(E_CONTROL);
        }
        lead |= ef;
    }
    // U+FFFE and U+FFFF are EF BF BE and EF BF BF.
    if lead
        && body
            .windows(3)
            .any(|w| w[0] == 0xEF && w[1] == 0xBF && (w[2] == 0xBE || w[2] == 0xBF))
    {
        return Err(E_CONTROL);
    }
    Ok(())
}

fn xml_err(e: quick_xml::Error) -> DecodeError {
    match e {
        quick_xml::Error::Encoding(_) => E_UTF8,
        _ => E_MALFORMED,
    }
}

/// Whether `c` may appear in an XML 1.0 document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn resolve_ref(r: &BytesRef<'_>) -> Result<char, DecodeError> {
    let name: &str = r;
    if let Some(num) = name.strip_prefix('#') {
        let code = if let Some(hex) = num.strip_prefix('x') {
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(E_CHARREF);
            }
            u32::from_str_radix(hex, 16)
        } else {
            if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E_CHARREF);
            }
            num.parse::<u32>()
        };
        return match code.ok().and_then(char::from_u32) {
            Some(c) if is_xml_char(c) => Ok(c),
            _ => Err(E_CHARREF),
        };
    }
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(E_ENTITY),
    }
}

/// Appends `s` with XML 1.0 line-end normalisation.
fn push_normalised(dst: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find('\r') {
        dst.push_str(&rest[..i]);
        dst.push('\n');
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('\n') {
            rest = r;
        }
    }
    dst.push_str(rest);
}

struct Lexer<'a> {
    rd: Reader<&'a [u8]>,
    /// Markup read past the end of a run of character data.
    peeked: Option<Tok>,
    /// The current character data: borrowed from the body when it is one
    /// plain run, else assembled in `text_own`.
    text_ref: &'a str,
    text_own: String,
    owned: bool,
    elements: usize,
    max_elements: usize,
    max_depth: usize,
    decl_ok: bool,
}

/// What a `<value>` turned out to hold once its start was read.
enum Step {
    /// A complete value; its `</value>` has been consumed.
    Done(Value),
    /// `<value><array><data>` has been read.
    OpenArray,
    /// `<value><struct>` has been read.
    OpenStruct,
}

enum Frame {
    Array(Vec<Value>),
    /// Members so far, and the name of the member being read.
    Struct(Members, String),
}

impl<'a> Lexer<'a> {
    fn new(body: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        check_bytes(body)?;
        Ok(Lexer {
            // quick-xml checks that each end tag names the element it
            // closes (default `check_end_names`); we check which one.
            rd: Reader::from_reader(body),
            peeked: None,
            text_ref: "",
            text_own: String::new(),
            owned: false,
            elements: 0,
            max_elements: limits.max_elements,
            max_depth: limits.max_depth,
            decl_ok: true,
        })
    }

    fn start_tag(&mut self, e: &BytesStart<'_>) -> Result<Tag, DecodeError> {
        self.elements += 1;
        if self.elements > self.max_elements {
            return Err(E_ELEMENTS);
        }
        self.decl_ok = false;
        if !e.attributes_raw().is_empty() {
            for a in e.attributes() {
                a.map_err(|_| E_ATTR)?;
            }
        }
        tag_of(local(e.name().0))
    }

    #[inline]
    fn push_text(&mut self, s: &'a str, has_text: &mut bool) {
        if s.is_empty() {
            return;
        }
        let needs_eol = has_cr(s);
        if !*has_text && !needs_eol {
            self.text_ref = s;
            *has_text = true;
            return;
        }
        self.make_owned(has_text);
        if needs_eol {
            push_normalised(&mut self.text_own, s);
        } else {
            self.text_own.push_str(s);
        }
    }

    fn make_owned(&mut self, has_text: &mut bool) {
        if !self.owned {
            self.text_own.clear();
            if *has_text {
                self.text_own.push_str(self.text_ref);
            }
            self.owned = true;
        }
        *has_text = true;
    }

    fn push_cow(&mut self, s: Cow<'a, str>, has_text: &mut bool) {
        match s {
            Cow::Borrowed(s) => self.push_text(s, has_text),
            Cow::Owned(s) => {
                if !s.is_empty() {
                    self.make_owned(has_text);
                    push_normalised(&mut self.text_own, &s);
                }
            }
        }
    }

    /// The next token.
    fn next(&mut self) -> Result<Tok, DecodeError> {
        if let Some(t) = self.peeked.take() {
            return Ok(t);
        }
        let mut has_text = false;
        self.owned = false;
        self.text_ref = "";
        loop {
            let tok = match self.rd.read_event().map_err(xml_err)? {
                Event::Start(e) => Tok::Open(self.start_tag(&e)?),
                Event::Empty(e) => Tok::Empty(self.start_tag(&e)?),
                Event::End(e) => Tok::Close(tag_of(local(e.name().0))?),
                Event::Text(e) => {
                    self.push_cow(e.into_inner(), &mut has_text);
                    continue;
                }
                Event::CData(e) => {
                    self.push_cow(e.into_inner(), &mut has_text);
                    continue;
                }
                Event::GeneralRef(r) => {
                    let c = resolve_ref(&r)?;
                    self.make_owned(&mut has_text);
                    self.text_own.push(c);
                    continue;
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Decl(_) => {
                    if !self.decl_ok {
                        return Err(E_DECL);
                    }
                    self.decl_ok = false;
                    continue;
                }
                Event::DocType(_) => return Err(E_DOCTYPE),
                Event::Eof => Tok::Eof,
            };
            if has_text {
                self.peeked = Some(tok);
                return Ok(Tok::Text);
            }
            return Ok(tok);
        }
    }

    /// The character data of the last [`Tok::Text`].
    fn text(&self) -> &str {
        if self.owned {
            &self.text_own
        } else {
            self.text_ref
        }
    }

    /// Takes the character data of the last [`Tok::Text`] as a `String`.
    fn take_text(&mut self) -> String {
        if self.owned {
            self.owned = false;
            std::mem::take(&mut self.text_own)
        } else {
            self.text_ref.to_owned()
        }
    }

    fn text_is_ws(&self) -> bool {
        self.text()
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    }

    /// The next token that is not whitespace; other text is an error.
    fn next_nonws(&mut self) -> Result<Tok, DecodeError> {
        match self.next()? {
            Tok::Text => {
                if !self.text_is_ws() {
                    return Err(E_TEXT);
                }
                self.next()
            }
            t => Ok(t),
        }
    }

    fn unexpected(&self, t: Tok) -> DecodeError {
        match t {
            Tok::Eof => E_TRUNCATED,
            Tok::Text => E_TEXT,
            _ => E_ELEMENT,
        }
    }

    fn expect_close(&mut self, tag: Tag) -> Result<(), DecodeError> {
        match self.next_nonws()? {
            Tok::Close(t) if t == tag => Ok(()),
            t => Err(self.unexpected(t)),
        }
    }

    /// After the root element: only whitespace, comments and PIs.
    fn finish<T>(&mut self, v: T) -> Result<T, DecodeError> {
        match self.next()? {
            Tok::Eof => Ok(v),
            Tok::Text if self.text_is_ws() => match self.next()? {
                Tok::Eof => Ok(v),
                _ => Err(E_TRAILING),
            },
            _ => Err(E_TRAILING),
        }
    }

    /// Reads the character data of a text-only element whose start tag
    /// (not empty) has been read, through its end tag. Returns `true` if
    /// there was character data (then in [`Self::text`]).
    fn text_element(&mut self, tag: Tag) -> Result<bool, DecodeError> {
        match self.next()? {
            Tok::Close(t) if t == tag => Ok(false),
            Tok::Text => match self.next()? {
                Tok::Close(t) if t == tag => Ok(true),
                t => Err(self.unexpected_in_text(t)),
            },
            t => Err(self.unexpected_in_text(t)),
        }
    }

    fn unexpected_in_text(&self, t: Tok) -> DecodeError {
        match t {
            Tok::Eof => E_TRUNCATED,
            _ => E_ELEMENT,
        }
    }

    /// The text of a text-only element as a `String`.
    fn element_text(&mut self, tag: Tag) -> Result<String, DecodeError> {
        if self.text_element(tag)? {
            Ok(self.take_text())
        } else {
            Ok(String::new())
        }
    }

    /// A typed scalar `<tag>…</tag>` (or `<tag/>` when `empty`).
    fn scalar(&mut self, tag: Tag, empty: bool) -> Result<Value, DecodeError> {
        let has = !empty && self.text_element(tag)?;
        if tag == Tag::Str {
            return Ok(Value::from(if has {
                self.take_text()
            } else {
                String::new()
            }));
        }
        let text = if has { self.text() } else { "" };
        convert(tag, text)
    }

    /// Reads what follows a `<value>` start tag.
    fn value_body(&mut self) -> Result<Step, DecodeError> {
        match self.next()? {
            Tok::Close(Tag::Value) => Ok(Step::Done(Value::from(""))),
            Tok::Open(t) => self.typed(t, false),
            Tok::Empty(t) => self.typed(t, true),
            Tok::Text => match self.next()? {
                Tok::Close(Tag::Value) => Ok(Step::Done(Value::from(self.take_text()))),
                Tok::Open(t) if self.text_is_ws() => self.typed(t, false),
                Tok::Empty(t) if self.text_is_ws() => self.typed(t, true),
                Tok::Open(_) | Tok::Empty(_) => Err(E_TEXT),
                t => Err(self.unexpected(t)),
            },
            t => Err(self.unexpected(t)),
        }
    }

    /// A typed child of `<value>`.
    fn typed(&mut self, tag: Tag, empty: bool) -> Result<Step, DecodeError> {
        let v = match tag {
            Tag::Array if empty => Value::Array(Vec::new()),
            Tag::Array => match self.next_nonws()? {
                Tok::Open(Tag::Data) => return Ok(Step::OpenArray),
                Tok::Empty(Tag::Data) => {
                    self.expect_close(Tag::Array)?;
                    Value::Array(Vec::new())
                }
                Tok::Close(Tag::Array) => Value::Array(Vec::new()),
                t => return Err(self.unexpected(t)),
            },
            Tag::Struct if empty => Value::Struct(Vec::new()),
            Tag::Struct => return Ok(Step::OpenStruct),
            Tag::Int
            | Tag::Boolean
            | Tag::Double
            | Tag::Str
            | Tag::DateTime
            | Tag::Base64
            | Tag::Nil => self.scalar(tag, empty)?,
            _ => return Err(E_ELEMENT),
        };
        self.expect_close(Tag::Value)?;
        Ok(Step::Done(v))
    }

    /// `<name>…</name>` inside a `<member>`.
    fn member_name(&mut self) -> Result<String, DecodeError> {
        match self.next_nonws()? {
            Tok::Open(Tag::Name) => self.element_text(Tag::Name),
            Tok::Empty(Tag::Name) => Ok(String::new()),
            Tok::Eof => Err(E_TRUNCATED),
            Tok::Text => Err(E_TEXT),
            _ => Err(E_NO_NAME),
        }
    }

    /// Parses a value whose `<value>` start tag (not empty) has been read,
    /// through its `</value>`. Iterative: nesting lives in `stack`, and is
    /// bounded before it grows.
    fn value(&mut self) -> Result<Value, DecodeError> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut step = self.value_body()?;
        loop {
            match step {
                Step::Done(v) => match stack.last_mut() {
                    None => return Ok(v),
                    Some(Frame::Array(items)) => items.push(v),
                    Some(Frame::Struct(members, name)) => {
                        members.insert(std::mem::take(name), v);
                        self.expect_close(Tag::Member)?;
                    }
                },
                Step::OpenArray => {
                    if stack.len() >= self.max_depth {
                        return Err(E_DEPTH);
                    }
                    stack.push(Frame::Array(Vec::new()));
                }
                Step::OpenStruct => {
                    if stack.len() >= self.max_depth {
                        return Err(E_DEPTH);
                    }
                    stack.push(Frame::Struct(Members::default(), String::new()));
                }
            }
            // The next item of the innermost container.
            step = match stack.last_mut() {
                None => return Err(E_MALFORMED),
                Some(Frame::Array(_)) => match self.next_nonws()? {
                    Tok::Open(Tag::Value) => self.value_body()?,
                    Tok::Empty(Tag::Value) => Step::Done(Value::from("")),
                    Tok::Close(Tag::Data) => {
                        self.expect_close(Tag::Array)?;
                        self.expect_close(Tag::Value)?;
                        match stack.pop() {
                            Some(Frame::Array(items)) => Step::Done(Value::Array(items)),
                            _ => return Err(E_MALFORMED),
                        }
                    }
                    t => return Err(self.unexpected(t)),
                },
                Some(Frame::Struct(_, name)) => match self.next_nonws()? {
                    Tok::Open(Tag::Member) => {
                        *name = self.member_name()?;
                        match self.next_nonws()? {
                            Tok::Open(Tag::Value) => self.value_body()?,
                            Tok::Empty(Tag::Value) => Step::Done(Value::from("")),
                            Tok::Close(Tag::Member) => return Err(E_NO_VALUE),
                            t => return Err(self.unexpected(t)),
                        }
                    }
                    Tok::Empty(Tag::Member) => return Err(E_NO_NAME),
                    Tok::Close(Tag::Struct) => {
                        self.expect_close(Tag::Value)?;
                        match stack.pop() {
                            Some(Frame::Struct(members, _)) => {
                                Step::Done(Value::Struct(members.into_vec()))
                            }
                            _ => return Err(E_MALFORMED),
                        }
                    }
                    t => return Err(self.unexpected(t)),
                },
            };
        }
    }
}

/// Converts the text of a typed scalar (not `<string>`).
fn convert(tag: Tag, text: &str) -> Result<Value, DecodeError> {
    let t = text.trim_matches(is_xml_ws);
    match tag {
        Tag::Int => t.parse::<i64>().map(Value::Int).map_err(|_| E_INT),
        Tag::Boolean => match t {
            "1" => Ok(Value::Bool(true)),
            "0" => Ok(Value::Bool(false)),
            _ if t.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            _ if t.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(E_BOOL),
        },
        Tag::Double => t.parse::<f64>().map(Value::Double).map_err(|_| E_DOUBLE),
        Tag::DateTime => DateTime::parse_compact(t)
            .or_else(|| DateTime::parse(t))
            .map(Value::DateTime)
            .ok_or(E_DATETIME),
        Tag::Base64 => base64::decode(t.as_bytes())
            .map(Value::Base64)
            .ok_or(E_BASE64),
        Tag::Nil if t.is_empty() => Ok(Value::Nil),
        Tag::Nil => Err(E_NIL),
        Tag::Str => Ok(Value::from(text)),
        _ => Err(E_ELEMENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ref;

    fn lim() -> Limits {
        Limits::default()
    }

    fn call(body: &str) -> Result<MethodCall, DecodeError> {
        decode_call(body.as_bytes(), &lim())
    }

    /// Decodes `<value>` markup as the one parameter of a call.
    fn param(value: &str) -> Result<Value, DecodeError> {
        let body = format!(
            "<methodCall><methodName>m</methodName><params><param>{value}</param></params></methodCall>"
        );
        let mut c = call(&body)?;
        assert_eq!(c.params.len(), 1);
        Ok(c.params.remove(0))
    }

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    fn enc(v: &Value) -> String {
        let mut out = Vec::new();
        encode_value(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn reply(r: &Reply) -> String {
        let mut out = Vec::new();
        encode_reply(r, &mut out);
        String::from_utf8(out).unwrap()
    }

    // -- documents ----------------------------------------------------------

    #[test]
    fn python_style_call() {
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>session.login_with_password</methodName>\n<params>\n<param>\n<value><string>root</string></value>\n</param>\n<param>\n<value><string>pw</string></value>\n</param>\n</params>\n</methodCall>\n";
        let c = call(body).unwrap();
        assert_eq!(c.method, "session.login_with_password");
        assert_eq!(c.params, vec![s("root"), s("pw")]);
    }

    #[test]
    fn declaration_comments_pis_whitespace() {
        let body = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->\n<?pi x?>\n<methodCall> <!-- c --> <methodName>a.b</methodName>\n\t<params> <?pi?> <param> <!--x--> <value><int>1</int></value> <!--y--> </param> </params> </methodCall> <!-- end -->\n<?done?>\n";
        let c = call(body).unwrap();
        assert_eq!(c.method, "a.b");
        assert_eq!(c.params, vec![Value::Int(1)]);
        assert!(call("<methodCall><methodName>a</methodName></methodCall>").is_ok());
    }

    #[test]
    fn params_forms() {
        for body in [
            "<methodCall><methodName>m</methodName></methodCall>",
            "<methodCall><methodName>m</methodName><params/></methodCall>",
            "<methodCall><methodName>m</methodName><params></params></methodCall>",
            "<methodCall><methodName>m</methodName>\n<params>\n</params>\n</methodCall>",
        ] {
            let c = call(body).unwrap();
            assert_eq!(c.method, "m");
            assert!(c.params.is_empty());
        }
    }

    #[test]
    fn method_name_trimmed_and_unescaped() {
        let c =
            call("<methodCall><methodName>\n  VM.get_all \t</methodName></methodCall>").unwrap();
        assert_eq!(c.method, "VM.get_all");
        let c = call("<methodCall><methodName>a&#46;b</methodName></methodCall>").unwrap();
        assert_eq!(c.method, "a.b");
        assert_eq!(
            call("<methodCall><methodName> </methodName></methodCall>"),
            Err(E_METHOD)
        );
        assert_eq!(
            call("<methodCall><methodName/></methodCall>"),
            Err(E_METHOD)
        );
        assert_eq!(call("<methodCall></methodCall>"), Err(E_METHOD));
    }

    // -- scalar values ------------------------------------------------------

    #[test]
    fn ints() {
        for t in ["int", "i4", "i8", "i1", "i2", "biginteger", "ex:i8"] {
            assert_eq!(
                param(&format!("<value><{t}> 42\n</{t}></value>")),
                Ok(Value::Int(42))
            );
        }
        assert_eq!(param("<value><int>-7</int></value>"), Ok(Value::Int(-7)));
        assert_eq!(param("<value><int>+7</int></value>"), Ok(Value::Int(7)));
        assert_eq!(
            param("<value><i8>9223372036854775807</i8></value>"),
            Ok(Value::Int(i64::MAX))
        );
        assert_eq!(
            param("<value><i8>-9223372036854775808</i8></value>"),
            Ok(Value::Int(i64::MIN))
        );
        for bad in [
            "<value><int>9223372036854775808</int></value>",
            "<value><int></int></value>",
            "<value><int/></value>",
            "<value><int>1.5</int></value>",
            "<value><int>12a</int></value>",
            "<value><int>1 2</int></value>",
        ] {
            assert_eq!(param(bad), Err(E_INT), "{bad}");
        }
    }

    #[test]
    fn booleans() {
        for (t, b) in [
            ("1", true),
            ("0", false),
            ("true", true),
            ("FALSE", false),
            (" True ", true),
        ] {
            assert_eq!(
                param(&format!("<value><boolean>{t}</boolean></value>")),
                Ok(Value::Bool(b))
            );
        }
        for bad in ["2", "yes", "", "01"] {
            assert_eq!(
                param(&format!("<value><boolean>{bad}</boolean></value>")),
                Err(E_BOOL)
            );
        }
    }

    #[test]
    fn doubles() {
        for t in ["double", "float", "bigdecimal"] {
            assert_eq!(
                param(&format!("<value><{t}> 0.5 </{t}></value>")),
                Ok(Value::Double(0.5))
            );
        }
        assert_eq!(
            param("<value><double>1e-05</double></value>"),
            Ok(Value::Double(1e-5))
        );
        assert_eq!(
            param("<value><double>-2</double></value>"),
            Ok(Value::Double(-2.0))
        );
        assert_eq!(
            param("<value><double>inf</double></value>"),
            Ok(Value::Double(f64::INFINITY))
        );
        assert_eq!(
            param("<value><double>-inf</double></value>"),
            Ok(Value::Double(f64::NEG_INFINITY))
        );
        match param("<value><double>nan</double></value>") {
            Ok(Value::Double(d)) => assert!(d.is_nan()),
            other => panic!("{other:?}"),
        }
        for bad in ["", "abc", "1,5", "0x10"] {
            assert_eq!(
                param(&format!("<value><double>{bad}</double></value>")),
                Err(E_DOUBLE)
            );
        }
    }

    #[test]
    fn strings() {
        assert_eq!(
            param("<value><string>  a b  </string></value>"),
            Ok(s("  a b  "))
        );
        assert_eq!(param("<value><string></string></value>"), Ok(s("")));
        assert_eq!(param("<value><string/></value>"), Ok(s("")));
        assert_eq!(param("<value>  untyped\n </value>"), Ok(s("  untyped\n ")));
        assert_eq!(param("<value>   </value>"), Ok(s("   ")));
        assert_eq!(param("<value/>"), Ok(s("")));
        assert_eq!(param("<value></value>"), Ok(s("")));
        assert_eq!(
            param("<value>h\u{e9}\u{1F600}</value>"),
            Ok(s("h\u{e9}\u{1F600}"))
        );
        assert_eq!(param("<value>a<!-- c -->b<?pi?>c</value>"), Ok(s("abc")));
    }

    #[test]
    fn whitespace_around_typed_child() {
        assert_eq!(param("<value>  <i4>5</i4>  </value>"), Ok(Value::Int(5)));
        assert_eq!(param("<value>\n<string>x</string>\n</value>"), Ok(s("x")));
        assert_eq!(param("<value> <nil/> </value>"), Ok(Value::Nil));
        assert_eq!(param("<value>x<i4>5</i4></value>"), Err(E_TEXT));
        assert_eq!(param("<value><i4>5</i4>x</value>"), Err(E_TEXT));
        assert_eq!(param("<value><i4>5</i4><i4>5</i4></value>"), Err(E_ELEMENT));
    }

    #[test]
    fn datetimes() {
        let want = Ok(Value::DateTime(DateTime(1_795_420_800)));
        for t in [
            "20261123T08:00:00Z",
            "20261123T08:00:00",
            " 20261123T08:00:00 ",
            "2026-11-23T08:00:00.000Z",
            "2026-11-23T09:00:00+01:00",
        ] {
            assert_eq!(
                param(&format!(
                    "<value><dateTime.iso8601>{t}</dateTime.iso8601></value>"
                )),
                want,
                "{t}"
            );
        }
        for bad in ["", "tomorrow", "20261323T08:00:00Z", "20260230T08:00:00"] {
            assert_eq!(
                param(&format!(
                    "<value><dateTime.iso8601>{bad}</dateTime.iso8601></value>"
                )),
                Err(E_DATETIME),
                "{bad}"
            );
        }
    }

    #[test]
    fn base64_values() {
        assert_eq!(
            param("<value><base64>aGVs\n bG8=\n</base64></value>"),
            Ok(Value::Base64(b"hello".to_vec()))
        );
        assert_eq!(param("<value><base64/></value>"), Ok(Value::Base64(vec![])));
        assert_eq!(
            param("<value><base64></base64></value>"),
            Ok(Value::Base64(vec![]))
        );
        assert_eq!(param("<value><base64>a$==</base64></value>"), Err(E_BASE64));
        assert_eq!(param("<value><base64>a</base64></value>"), Err(E_BASE64));
    }

    #[test]
    fn nils() {
        for v in [
            "<value><nil/></value>",
            "<value><nil></nil></value>",
            "<value><nil> </nil></value>",
            "<value><ex:nil/></value>",
            "<value><ex:nil xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/extensions\"/></value>",
        ] {
            assert_eq!(param(v), Ok(Value::Nil), "{v}");
        }
        assert_eq!(param("<value><nil>x</nil></value>"), Err(E_NIL));
    }

    // -- containers ---------------------------------------------------------

    #[test]
    fn arrays() {
        for v in [
            "<value><array><data/></array></value>",
            "<value><array><data></data></array></value>",
            "<value><array>\n<data>\n</data>\n</array></value>",
            "<value><array></array></value>",
            "<value><array/></value>",
        ] {
            assert_eq!(param(v), Ok(Value::Array(vec![])), "{v}");
        }
        assert_eq!(
            param("<value><array><data>\n<value>a</value>\n<value><int>1</int></value><value/><value><array><data><value><boolean>1</boolean></value></data></array></value></data></array></value>"),
            Ok(Value::Array(vec![
                s("a"),
                Value::Int(1),
                s(""),
                Value::Array(vec![Value::Bool(true)])
            ]))
        );
        assert_eq!(
            param("<value><array><data>x</data></array></value>"),
            Err(E_TEXT)
        );
        assert_eq!(
            param("<value><array><value>a</value></array></value>"),
            Err(E_ELEMENT)
        );
    }

    #[test]
    fn structs() {
        let v = param(
            "<value><struct>\n<member>\n<name>a</name>\n<value><int>1</int></value>\n</member>\n\
             <member><name>b</name><value>x</value></member>\
             <member><name> sp </name><value/></member>\
             <member><name/><value><struct/></value></member>\
             </struct></value>",
        )
        .unwrap();
        assert_eq!(
            v,
            Value::Struct(vec![
                ("a".into(), Value::Int(1)),
                ("b".into(), s("x")),
                (" sp ".into(), s("")),
                ("".into(), Value::Struct(vec![])),
            ])
        );
        assert_eq!(
            param("<value><struct></struct></value>"),
            Ok(Value::Struct(vec![]))
        );
    }

    #[test]
    fn struct_duplicates_last_wins_first_position() {
        let v = param(
            "<value><struct><member><name>a</name><value>1</value></member>\
             <member><name>b</name><value>2</value></member>\
             <member><name>a</name><value>3</value></member></struct></value>",
        )
        .unwrap();
        assert_eq!(
            v,
            Value::Struct(vec![("a".into(), s("3")), ("b".into(), s("2"))])
        );
        // Past the linear-scan threshold too.
        let mut body = String::from("<value><struct>");
        for i in 0..100 {
            body += &format!(
                "<member><name>k{}</name><value><int>{i}</int></value></member>",
                i % 40
            );
        }
        body += "</struct></value>";
        let Value::Struct(m) = param(&body).unwrap() else {
            panic!()
        };
        assert_eq!(m.len(), 40);
        for (i, (k, v)) in m.iter().enumerate() {
            assert_eq!(k, &format!("k{i}"));
            assert_eq!(
                v,
                &Value::Int(if i < 20 { 80 + i as i64 } else { 40 + i as i64 })
            );
        }
    }

    #[test]
    fn bad_members() {
        assert_eq!(
            param("<value><struct><member><name>a</name></member></struct></value>"),
            Err(E_NO_VALUE)
        );
        assert_eq!(
            param("<value><struct><member><value>1</value></member></struct></value>"),
            Err(E_NO_NAME)
        );
        assert_eq!(
            param("<value><struct><member/></struct></value>"),
            Err(E_NO_NAME)
        );
        assert_eq!(
            param(
                "<value><struct><member><value>1</value><name>a</name></member></struct></value>"
            ),
            Err(E_NO_NAME)
        );
        assert_eq!(
            param("<value><struct><member><name>a</name><value>1</value><value>2</value></member></struct></value>"),
            Err(E_ELEMENT)
        );
        assert_eq!(
            param("<value><struct><name>a</name></struct></value>"),
            Err(E_ELEMENT)
        );
    }

    // -- text ---------------------------------------------------------------

    #[test]
    fn entities_and_char_refs() {
        assert_eq!(
            param("<value>&lt;a&gt; &amp; &quot;q&quot; &apos;s&apos;</value>"),
            Ok(s("<a> & \"q\" 's'"))
        );
        assert_eq!(
            param("<value><string>&#65;&#x42;&#x1F600;-&#9;&#10;&#13;</string></value>"),
            Ok(s("AB\u{1F600}-\t\n\r"))
        );
        assert_eq!(param("<value>&amp;</value>"), Ok(s("&")));
        assert_eq!(param("<value>&#32;</value>"), Ok(s(" ")));
        assert_eq!(
            param("<value><struct><member><name>a&amp;b</name><value/></member></struct></value>"),
            Ok(Value::Struct(vec![("a&b".into(), s(""))]))
        );
        assert_eq!(
            param("<value><int>&#49;2</int></value>"),
            Ok(Value::Int(12))
        );
    }

    #[test]
    fn bad_references() {
        assert_eq!(param("<value>&nbsp;</value>"), Err(E_ENTITY));
        assert_eq!(param("<value>&foo;</value>"), Err(E_ENTITY));
        for bad in [
            "&#0;",
            "&#x0;",
            "&#1;",
            "&#x1F;",
            "&#xFFFE;",
            "&#xFFFF;",
            "&#xD800;",
            "&#x110000;",
            "&#;",
            "&#x;",
            "&#-1;",
            "&#12a;",
            "&#X41;",
            "&#99999999999;",
        ] {
            assert_eq!(
                param(&format!("<value>{bad}</value>")),
                Err(E_CHARREF),
                "{bad}"
            );
        }
        // A lone ampersand is not XML.
        assert_eq!(param("<value>a & b</value>"), Err(E_MALFORMED));
        assert_eq!(param("<value>a &amp b</value>"), Err(E_MALFORMED));
    }

    #[test]
    fn cdata_is_literal() {
        assert_eq!(
            param("<value><![CDATA[<b>&amp;</b>]]></value>"),
            Ok(s("<b>&amp;</b>"))
        );
        assert_eq!(
            param("<value><string>a<![CDATA[ & ]]>b&lt;</string></value>"),
            Ok(s("a & b<"))
        );
        assert_eq!(param("<value><![CDATA[]]></value>"), Ok(s("")));
    }

    #[test]
    fn line_ends_normalised() {
        assert_eq!(param("<value>a\r\nb\rc\n</value>"), Ok(s("a\nb\nc\n")));
        assert_eq!(param("<value>a\r&amp;\r\n</value>"), Ok(s("a\n&\n")));
        assert_eq!(param("<value>&#13;&#10;</value>"), Ok(s("\r\n")));
    }

    #[test]
    fn bad_bytes() {
        assert_eq!(param("<value>a\u{0}b</value>"), Err(E_CONTROL));
        assert_eq!(param("<value>a\u{1}b</value>"), Err(E_CONTROL));
        assert_eq!(param("<value>a\u{1b}b</value>"), Err(E_CONTROL));
        assert_eq!(param("<value>a\u{fffe}</value>"), Err(E_CONTROL));
        assert_eq!(param("<value>\u{ffff}</value>"), Err(E_CONTROL));
        assert_eq!(
            param("<value>\u{fffd}\u{efbf}\u{e000}</value>"),
            Ok(s("\u{fffd}\u{efbf}\u{e000}"))
        );
        let mut body = b"<methodCall><methodName>m</methodName><params><param><value>".to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(b"</value></param></params></methodCall>");
        assert_eq!(decode_call(&body, &lim()), Err(E_UTF8));
        let mut body = b"<methodCall><methodName>m\xc3</methodName></methodCall>".to_vec();
        assert_eq!(decode_call(&body, &lim()), Err(E_UTF8));
        body = b"<methodCall><methodName>m</methodName></methodCall><!-- \xe9 -->".to_vec();
        assert_eq!(decode_call(&body, &lim()), Err(E_UTF8));
        // Tab, LF, CR are fine.
        assert_eq!(param("<value>\t\n</value>"), Ok(s("\t\n")));
    }

    // -- rejections ---------------------------------------------------------

    #[test]
    fn doctype_rejected() {
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><methodCall><methodName>&lol2;</methodName></methodCall>";
        assert_eq!(call(laughs), Err(E_DOCTYPE));
        let xxe = "<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><methodCall><methodName>&xxe;</methodName></methodCall>";
        assert_eq!(call(xxe), Err(E_DOCTYPE));
        assert_eq!(
            call("<!DOCTYPE methodCall><methodCall><methodName>m</methodName></methodCall>"),
            Err(E_DOCTYPE)
        );
    }

    #[test]
    fn unknown_elements_rejected() {
        assert_eq!(param("<value><foo>1</foo></value>"), Err(E_UNKNOWN));
        assert_eq!(param("<value><String>x</String></value>"), Err(E_UNKNOWN));
        assert_eq!(
            param("<value><dateTime>x</dateTime></value>"),
            Err(E_UNKNOWN)
        );
        assert_eq!(
            call("<methodCall><methodName>m</methodName><extra/></methodCall>"),
            Err(E_UNKNOWN)
        );
        assert_eq!(call("<html><body/></html>"), Err(E_UNKNOWN));
    }

    #[test]
    fn wrong_nesting_rejected() {
        for body in [
            "<methodResponse><params/></methodResponse>",
            "<value>x</value>",
            "<methodCall><params/><methodName>m</methodName></methodCall>",
            "<methodCall><methodName>m</methodName><params><value>1</value></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><param/></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><value>1</value></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><string><i4>1</i4></string></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><data/></value></param></params></methodCall>",
            "<methodCall><methodName><value/></methodName></methodCall>",
        ] {
            assert_eq!(call(body), Err(E_ELEMENT), "{body}");
        }
        // Mismatched end tags.
        for body in [
            "<methodCall><methodName>m</methodCall></methodName>",
            "<methodCall><methodName>m</methodName><params><param><value><int>1</i4></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><int>1</value></int></param></params></methodCall>",
        ] {
            assert!(call(body).is_err(), "{body}");
        }
        assert_eq!(
            call("<methodCall><methodName>m</methodName><params><param></param></params></methodCall>"),
            Err(E_PARAM)
        );
        assert_eq!(
            call("<methodCall><methodName>m</methodName><params><param/></params></methodCall>"),
            Err(E_PARAM)
        );
    }

    #[test]
    fn stray_text_rejected() {
        assert_eq!(
            call("junk<methodCall><methodName>m</methodName></methodCall>"),
            Err(E_TEXT)
        );
        assert_eq!(
            call("<methodCall>x<methodName>m</methodName></methodCall>"),
            Err(E_TEXT)
        );
        assert_eq!(
            call("<methodCall><methodName>m</methodName><params>x</params></methodCall>"),
            Err(E_TEXT)
        );
        assert_eq!(
            call("<methodCall><methodName>m</methodName><params><param>x<value/></param></params></methodCall>"),
            Err(E_TEXT)
        );
        assert_eq!(param("<value><struct>x</struct></value>"), Err(E_TEXT));
        assert_eq!(
            param("<value><struct><member>x<name>a</name><value/></member></struct></value>"),
            Err(E_TEXT)
        );
    }

    #[test]
    fn trailing_garbage_rejected() {
        let ok = "<methodCall><methodName>m</methodName></methodCall>";
        assert!(call(&format!("{ok}\n\n<!-- c -->\n")).is_ok());
        for tail in [
            "x",
            "<methodCall/>",
            "<value/>",
            "\n\n junk",
            "</methodCall>",
            "<?xml version=\"1.0\"?>",
        ] {
            assert!(call(&format!("{ok}{tail}")).is_err(), "{tail}");
        }
        assert_eq!(call(&format!("{ok}x")), Err(E_TRAILING));
        assert_eq!(call(&format!("{ok}<value/>")), Err(E_TRAILING));
    }

    #[test]
    fn misplaced_declaration_rejected() {
        assert_eq!(
            call("<methodCall><?xml version=\"1.0\"?><methodName>m</methodName></methodCall>"),
            Err(E_DECL)
        );
        assert_eq!(
            call("<?xml version=\"1.0\"?><?xml version=\"1.0\"?><methodCall><methodName>m</methodName></methodCall>"),
            Err(E_DECL)
        );
    }

    #[test]
    fn truncated_documents_rejected() {
        let full = "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name><value><array><data><value><i4>1</i4></value></data></array></value></member></struct></value></param></params></methodCall>";
        assert!(call(full).is_ok());
        for cut in 0..full.len() {
            assert!(call(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(call(""), Err(E_TRUNCATED));
        assert_eq!(call("   "), Err(E_TRUNCATED));
        assert_eq!(call("<methodCall>"), Err(E_TRUNCATED));
        assert_eq!(
            call("<methodCall><methodName>m</methodName><params><param><value>abc"),
            Err(E_TRUNCATED)
        );
    }

    #[test]
    fn malformed_markup_rejected() {
        for body in [
            "<methodCall><methodName>m</methodName></methodCall",
            "<methodCall><methodName>m</methodName><!-- x </methodCall>",
            "<methodCall><methodName>m<![CDATA[x</methodName></methodCall>",
            "<methodCall a=><methodName>m</methodName></methodCall>",
            "<methodCall a=\"1\" a=\"2\"><methodName>m</methodName></methodCall>",
            "<methodCall><methodName>m</methodName></methodCall></methodCall>",
        ] {
            assert!(call(body).is_err(), "{body}");
        }
        // Well-formed attributes are ignored.
        assert!(call(
            "<methodCall xmlns:ex=\"urn:x\" a='1'><methodName>m</methodName></methodCall>"
        )
        .is_ok());
    }

    #[test]
    fn bad_literals_rejected() {
        assert_eq!(param("<value><i4>x</i4></value>"), Err(E_INT));
        assert_eq!(param("<value><boolean>x</boolean></value>"), Err(E_BOOL));
        assert_eq!(param("<value><double>x</double></value>"), Err(E_DOUBLE));
        assert_eq!(
            param("<value><dateTime.iso8601>x</dateTime.iso8601></value>"),
            Err(E_DATETIME)
        );
        assert_eq!(param("<value><base64>!</base64></value>"), Err(E_BASE64));
    }

    fn nested(depth: usize) -> String {
        let mut v = String::new();
        for _ in 0..depth {
            v += "<value><array><data>";
        }
        v += "<value>x</value>";
        for _ in 0..depth {
            v += "</data></array></value>";
        }
        v
    }

    #[test]
    fn depth_limit() {
        let l = Limits {
            max_depth: 8,
            max_elements: 1_000_000,
        };
        let ok = format!(
            "<methodCall><methodName>m</methodName><params><param>{}</param></params></methodCall>",
            nested(8)
        );
        assert!(decode_call(ok.as_bytes(), &l).is_ok());
        let deep = format!(
            "<methodCall><methodName>m</methodName><params><param>{}</param></params></methodCall>",
            nested(9)
        );
        assert_eq!(decode_call(deep.as_bytes(), &l), Err(E_DEPTH));
        let mut st = String::new();
        for _ in 0..9 {
            st += "<value><struct><member><name>a</name>";
        }
        st += "<value/>";
        for _ in 0..9 {
            st += "</member></struct></value>";
        }
        assert_eq!(decode_value(st.as_bytes(), &l), Err(E_DEPTH));
    }

    #[test]
    fn very_deep_nesting_rejected_fast() {
        let mut body = String::from("<methodCall><methodName>m</methodName><params><param>");
        for _ in 0..10_000 {
            body += "<value><array><data>";
        }
        for _ in 0..10_000 {
            body += "<value><struct><member><name>a</name>";
        }
        let t = std::time::Instant::now();
        assert_eq!(call(&body), Err(E_DEPTH));
        // Even with no limit worth the name, no stack is used.
        let l = Limits {
            max_depth: usize::MAX,
            max_elements: usize::MAX,
        };
        assert_eq!(decode_call(body.as_bytes(), &l), Err(E_TRUNCATED));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn element_limit() {
        let l = Limits {
            max_depth: 64,
            max_elements: 10,
        };
        let mut body = String::from("<methodCall><methodName>m</methodName><params>");
        for _ in 0..3 {
            body += "<param><value><i4>1</i4></value></param>";
        }
        body += "</params></methodCall>";
        // 3 + 3 * 3 = 12 elements
        assert_eq!(decode_call(body.as_bytes(), &l), Err(E_ELEMENTS));
        let l = Limits {
            max_depth: 64,
            max_elements: 12,
        };
        assert!(decode_call(body.as_bytes(), &l).is_ok());
    }

    // -- replies and fragments ---------------------------------------------

    #[test]
    fn decode_reply_forms() {
        let v = decode_reply(
            b"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><string>x</string></value>\n</param>\n</params>\n</methodResponse>\n",
            &lim(),
        );
        assert_eq!(v, Ok(s("x")));
        let v = decode_reply(
            b"<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member><member><name>faultString</name><value>boom</value></member></struct></value></fault></methodResponse>",
            &lim(),
        );
        assert_eq!(
            v,
            Ok(Value::Struct(vec![
                ("faultCode".into(), Value::Int(1)),
                ("faultString".into(), s("boom"))
            ]))
        );
        assert!(decode_reply(
            b"<methodResponse><params></params></methodResponse>",
            &lim()
        )
        .is_err());
        assert!(decode_reply(
            b"<methodResponse><params><param><value/></param><param><value/></param></params></methodResponse>",
            &lim()
        )
        .is_err());
        assert!(decode_reply(
            b"<methodCall><methodName>m</methodName></methodCall>",
            &lim()
        )
        .is_err());
    }

    #[test]
    fn decode_value_fragments() {
        let r = Ref::new();
        assert_eq!(
            decode_value(enc(&Value::Ref(r)).as_bytes(), &lim()),
            Ok(s(&r.to_string()))
        );
        assert_eq!(decode_value(b"<value></value>", &lim()), Ok(s("")));
        assert_eq!(decode_value(b"<value/>", &lim()), Ok(s("")));
        assert_eq!(
            decode_value(b" <value><i4>1</i4></value>\n", &lim()),
            Ok(Value::Int(1))
        );
        assert!(decode_value(b"<value/><value/>", &lim()).is_err());
        assert!(decode_value(b"<i4>1</i4>", &lim()).is_err());
        assert!(decode_value(b"", &lim()).is_err());
    }

    // -- encoding -----------------------------------------------------------

    #[test]
    fn success_reply_byte_exact() {
        let r = Ref::new();
        assert_eq!(
            reply(&Reply::Success(Value::Ref(r))),
            format!("<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>{r}</value></member></struct></value></param></params></methodResponse>")
        );
        assert_eq!(
            reply(&Reply::Success(Value::void())),
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value></value></member></struct></value></param></params></methodResponse>"
        );
    }

    #[test]
    fn failure_reply_byte_exact() {
        assert_eq!(
            reply(&Reply::Failure(vec!["SESSION_INVALID".into(), "OpaqueRef:x<&>".into()])),
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>SESSION_INVALID</value><value>OpaqueRef:x&lt;&amp;&gt;</value></data></array></value></member></struct></value></param></params></methodResponse>"
        );
        assert_eq!(
            reply(&Reply::Failure(vec![])),
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data></data></array></value></member></struct></value></param></params></methodResponse>"
        );
    }

    #[test]
    fn bare_reply_byte_exact() {
        assert_eq!(
            reply(&Reply::Bare(Value::Array(vec![s("VM.start"), s("VM.stop")]))),
            "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data><value>VM.start</value><value>VM.stop</value></data></array></value></param></params></methodResponse>"
        );
    }

    #[test]
    fn value_encodings() {
        assert_eq!(enc(&s("a")), "<value>a</value>");
        assert_eq!(enc(&s("")), "<value></value>");
        assert_eq!(enc(&Value::Int(123)), "<value>123</value>");
        assert_eq!(
            enc(&Value::Int(-9_223_372_036_854_775_808)),
            "<value>-9223372036854775808</value>"
        );
        assert_eq!(enc(&Value::Int(0)), "<value>0</value>");
        assert_eq!(enc(&Value::I4(5)), "<value><i4>5</i4></value>");
        assert_eq!(enc(&Value::I4(-5)), "<value><i4>-5</i4></value>");
        assert_eq!(
            enc(&Value::Double(0.5)),
            "<value><double>0.5</double></value>"
        );
        assert_eq!(
            enc(&Value::Bool(true)),
            "<value><boolean>1</boolean></value>"
        );
        assert_eq!(
            enc(&Value::Bool(false)),
            "<value><boolean>0</boolean></value>"
        );
        assert_eq!(
            enc(&Value::DateTime(DateTime(1_795_420_800))),
            "<value><dateTime.iso8601>20261123T08:00:00Z</dateTime.iso8601></value>"
        );
        assert_eq!(
            enc(&Value::Base64(b"hello".to_vec())),
            "<value><base64>aGVsbG8=</base64></value>"
        );
        assert_eq!(enc(&Value::Ref(Ref::NULL)), "<value>OpaqueRef:NULL</value>");
        assert_eq!(enc(&Value::Nil), "<value><nil/></value>");
        assert_eq!(
            enc(&Value::Array(vec![])),
            "<value><array><data></data></array></value>"
        );
        assert_eq!(
            enc(&Value::Array(vec![s("a"), Value::Int(1)])),
            "<value><array><data><value>a</value><value>1</value></data></array></value>"
        );
        assert_eq!(
            enc(&Value::Struct(vec![])),
            "<value><struct></struct></value>"
        );
        assert_eq!(
            enc(&Value::Struct(vec![("k<".into(), s("v")), ("n".into(), Value::Nil)])),
            "<value><struct><member><name>k&lt;</name><value>v</value></member><member><name>n</name><value><nil/></value></member></struct></value>"
        );
    }

    #[test]
    fn string_escaping() {
        assert_eq!(
            enc(&s("<a href=\"x\">&'</a>")),
            "<value>&lt;a href=&quot;x&quot;&gt;&amp;'&lt;/a&gt;</value>"
        );
        assert_eq!(
            enc(&s("a\u{0}b\u{1}c\u{1f}d\te\nf\rg\u{7f}h\u{e9}\u{fffe}")),
            "<value>ab\u{0}c\u{1f}d\te\nf\rg\u{7f}h\u{e9}\u{fffe}</value>"
                .replace(['\u{0}', '\u{1f}'], "")
        );
        assert_eq!(enc(&s("\u{1}\u{2}")), "<value></value>");
    }

    #[test]
    fn encode_decode_reply() {
        let v = Value::Struct(vec![
            (
                "a".into(),
                Value::Array(vec![Value::Int(1), Value::Double(0.25)]),
            ),
            ("b".into(), Value::Nil),
        ]);
        let mut out = Vec::new();
        encode_reply(&Reply::Success(v), &mut out);
        assert_eq!(
            decode_reply(&out, &lim()),
            Ok(Value::Struct(vec![
                ("Status".into(), s("Success")),
                (
                    "Value".into(),
                    Value::Struct(vec![
                        ("a".into(), Value::Array(vec![s("1"), Value::Double(0.25)])),
                        ("b".into(), Value::Nil),
                    ])
                ),
            ]))
        );
        out.clear();
        encode_reply(&Reply::Failure(vec!["E".into(), "p".into()]), &mut out);
        assert_eq!(
            decode_reply(&out, &lim()),
            Ok(Value::Struct(vec![
                ("Status".into(), s("Failure")),
                (
                    "ErrorDescription".into(),
                    Value::Array(vec![s("E"), s("p")])
                ),
            ]))
        );
    }
}
