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
//!
//! The parts:
//! - `lexer`: tokens from quick-xml's events;
//! - `decode`: the XML-RPC grammar over them (documents and values);
//! - `fast`: a strict fast path for the common flat call;
//! - `encode`: replies and values, byte for byte as xapi.

mod decode;
mod encode;
mod fast;
mod lexer;
#[cfg(test)]
mod tests;

pub use decode::{decode_call, decode_call_full, decode_reply, decode_value};
pub(crate) use encode::escape_into;
pub use encode::{encode_reply, encode_value};

/// The fast path alone (`None`: left to the full decoder), for the fuzz
/// targets that check it agrees with [`decode_call_full`].
#[doc(hidden)]
pub fn decode_call_fast(body: &[u8]) -> Option<super::MethodCall> {
    fast::decode_call(body)
}

/// Where callers have always found it; it lives in [`super::float`].
pub use super::float::write_g16;

use super::DecodeError;

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
