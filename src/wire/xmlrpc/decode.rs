//! The XML-RPC grammar over the lexer's tokens: whole documents (calls,
//! replies, lone values) and the values inside them.

use super::lexer::{convert, is_xml_ws, Lexer, Tag, Tok};
use super::{
    fast, E_DEPTH, E_ELEMENT, E_MALFORMED, E_METHOD, E_NO_NAME, E_NO_VALUE, E_PARAM, E_TEXT,
    E_TRUNCATED,
};
use crate::wire::members::Members;
use crate::wire::{DecodeError, Limits, MethodCall, Value};

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

impl Lexer<'_> {
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
