//! A thin lexer over quick-xml events: XML-RPC's elements as [`Tag`]s,
//! and all the character data between two pieces of markup as one
//! [`Tok::Text`], with references resolved, line ends normalised and
//! bytes XML does not allow refused.

use std::borrow::Cow;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use super::{
    E_ATTR, E_BASE64, E_BOOL, E_CHARREF, E_CONTROL, E_DATETIME, E_DECL, E_DOCTYPE, E_DOUBLE,
    E_ELEMENT, E_ELEMENTS, E_ENTITY, E_INT, E_MALFORMED, E_NIL, E_TEXT, E_TRAILING, E_TRUNCATED,
    E_UNKNOWN, E_UTF8,
};
use crate::wire::{base64, DateTime, DecodeError, Limits, Value};

/// The elements XML-RPC knows, by local name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tag {
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
pub(super) enum Tok {
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

pub(super) fn is_xml_ws(c: char) -> bool {
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

pub(super) struct Lexer<'a> {
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
    pub(super) max_depth: usize,
    decl_ok: bool,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(body: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
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
    pub(super) fn next(&mut self) -> Result<Tok, DecodeError> {
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
    pub(super) fn text(&self) -> &str {
        if self.owned {
            &self.text_own
        } else {
            self.text_ref
        }
    }

    /// Takes the character data of the last [`Tok::Text`] as a `String`.
    pub(super) fn take_text(&mut self) -> String {
        if self.owned {
            self.owned = false;
            std::mem::take(&mut self.text_own)
        } else {
            self.text_ref.to_owned()
        }
    }

    pub(super) fn text_is_ws(&self) -> bool {
        self.text()
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    }

    /// The next token that is not whitespace; other text is an error.
    pub(super) fn next_nonws(&mut self) -> Result<Tok, DecodeError> {
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

    pub(super) fn unexpected(&self, t: Tok) -> DecodeError {
        match t {
            Tok::Eof => E_TRUNCATED,
            Tok::Text => E_TEXT,
            _ => E_ELEMENT,
        }
    }

    pub(super) fn expect_close(&mut self, tag: Tag) -> Result<(), DecodeError> {
        match self.next_nonws()? {
            Tok::Close(t) if t == tag => Ok(()),
            t => Err(self.unexpected(t)),
        }
    }

    /// After the root element: only whitespace, comments and PIs.
    pub(super) fn finish<T>(&mut self, v: T) -> Result<T, DecodeError> {
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
    pub(super) fn text_element(&mut self, tag: Tag) -> Result<bool, DecodeError> {
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
    pub(super) fn element_text(&mut self, tag: Tag) -> Result<String, DecodeError> {
        if self.text_element(tag)? {
            Ok(self.take_text())
        } else {
            Ok(String::new())
        }
    }
}

/// Converts the text of a typed scalar (not `<string>`).
pub(super) fn convert(tag: Tag, text: &str) -> Result<Value, DecodeError> {
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
