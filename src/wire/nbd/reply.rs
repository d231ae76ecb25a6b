//! Encoders: the server's greeting, option replies, and transmission
//! replies (simple, and structured chunks). Each returns the bytes to
//! send; a read's data follows its header separately (no copy).

use super::consts::*;
use super::Extent;

/// The greeting: `NBDMAGIC`, `IHAVEOPT`, handshake flags.
pub fn greeting() -> [u8; 18] {
    let mut b = [0u8; 18];
    b[0..8].copy_from_slice(&NBDMAGIC.to_be_bytes());
    b[8..16].copy_from_slice(&IHAVEOPT.to_be_bytes());
    b[16..18].copy_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    b
}

/// One option reply: magic, option, reply type, length, data.
pub fn option_reply(option: u32, kind: u32, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + data.len());
    b.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
    b.extend_from_slice(&option.to_be_bytes());
    b.extend_from_slice(&kind.to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    b
}

/// An error reply with a message for humans (cut to 4096 bytes).
pub fn option_error(option: u32, kind: u32, message: &str) -> Vec<u8> {
    option_reply(option, kind, truncate(message).as_bytes())
}

/// `NBD_REP_SERVER`: one export of a list.
pub fn rep_server(name: &str) -> Vec<u8> {
    let mut d = Vec::with_capacity(4 + name.len());
    d.extend_from_slice(&(name.len() as u32).to_be_bytes());
    d.extend_from_slice(name.as_bytes());
    option_reply(OPT_LIST, REP_SERVER, &d)
}

/// `NBD_REP_INFO` / `NBD_INFO_EXPORT`.
pub fn info_export(option: u32, size: u64, flags: u16) -> Vec<u8> {
    let mut d = Vec::with_capacity(12);
    d.extend_from_slice(&INFO_EXPORT.to_be_bytes());
    d.extend_from_slice(&size.to_be_bytes());
    d.extend_from_slice(&flags.to_be_bytes());
    option_reply(option, REP_INFO, &d)
}

/// `NBD_REP_INFO` with a string (`NBD_INFO_NAME`, `NBD_INFO_DESCRIPTION`).
pub fn info_string(option: u32, info: u16, s: &str) -> Vec<u8> {
    let s = truncate(s);
    let mut d = Vec::with_capacity(2 + s.len());
    d.extend_from_slice(&info.to_be_bytes());
    d.extend_from_slice(s.as_bytes());
    option_reply(option, REP_INFO, &d)
}

/// `NBD_REP_INFO` / `NBD_INFO_BLOCK_SIZE`.
pub fn info_block_size(option: u32, min: u32, preferred: u32, max: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(14);
    d.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
    for v in [min, preferred, max] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    option_reply(option, REP_INFO, &d)
}

/// `NBD_REP_META_CONTEXT`: a context and its id (0 when listing).
pub fn meta_context(option: u32, id: u32, name: &str) -> Vec<u8> {
    let mut d = Vec::with_capacity(4 + name.len());
    d.extend_from_slice(&id.to_be_bytes());
    d.extend_from_slice(name.as_bytes());
    option_reply(option, REP_META_CONTEXT, &d)
}

/// The answer to `NBD_OPT_EXPORT_NAME`: size, transmission flags, and 124
/// zeroes unless the client set `NBD_FLAG_C_NO_ZEROES`.
pub fn export_name_reply(size: u64, flags: u16, no_zeroes: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(134);
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&flags.to_be_bytes());
    if !no_zeroes {
        b.extend_from_slice(&[0u8; 124]);
    }
    b
}

/// A simple reply's 16 bytes (a successful read's data follows).
pub fn simple_reply(cookie: u64, error: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&error.to_be_bytes());
    b[8..16].copy_from_slice(&cookie.to_be_bytes());
    b
}

/// A structured chunk's 20-byte head.
pub fn chunk_header(flags: u16, kind: u16, cookie: u64, len: u32) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[0..4].copy_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
    b[4..6].copy_from_slice(&flags.to_be_bytes());
    b[6..8].copy_from_slice(&kind.to_be_bytes());
    b[8..16].copy_from_slice(&cookie.to_be_bytes());
    b[16..20].copy_from_slice(&len.to_be_bytes());
    b
}

/// `NBD_REPLY_TYPE_NONE` with `DONE`.
pub fn none_chunk(cookie: u64) -> [u8; 20] {
    chunk_header(REPLY_FLAG_DONE, REPLY_TYPE_NONE, cookie, 0)
}

/// The head of an `NBD_REPLY_TYPE_OFFSET_DATA` chunk carrying `data_len`
/// bytes at `offset` (the data follows). `data_len` is at most
/// `u32::MAX - 8`.
pub fn offset_data_header(cookie: u64, done: bool, offset: u64, data_len: u32) -> [u8; 28] {
    let flags = if done { REPLY_FLAG_DONE } else { 0 };
    let mut b = [0u8; 28];
    let len = data_len.saturating_add(8);
    b[..20].copy_from_slice(&chunk_header(flags, REPLY_TYPE_OFFSET_DATA, cookie, len));
    b[20..28].copy_from_slice(&offset.to_be_bytes());
    b
}

/// An `NBD_REPLY_TYPE_ERROR` chunk with `DONE`.
pub fn error_chunk(cookie: u64, error: u32, message: &str) -> Vec<u8> {
    let m = truncate(message).as_bytes();
    let mut b = Vec::with_capacity(26 + m.len());
    let len = 6 + m.len() as u32;
    b.extend_from_slice(&chunk_header(
        REPLY_FLAG_DONE,
        REPLY_TYPE_ERROR,
        cookie,
        len,
    ));
    b.extend_from_slice(&error.to_be_bytes());
    b.extend_from_slice(&(m.len() as u16).to_be_bytes());
    b.extend_from_slice(m);
    b
}

/// An `NBD_REPLY_TYPE_BLOCK_STATUS` chunk: a context id and its extents
/// (at least one).
pub fn block_status_chunk(cookie: u64, done: bool, context: u32, extents: &[Extent]) -> Vec<u8> {
    let flags = if done { REPLY_FLAG_DONE } else { 0 };
    let len = 4 + 8 * extents.len();
    let mut b = Vec::with_capacity(20 + len);
    b.extend_from_slice(&chunk_header(
        flags,
        REPLY_TYPE_BLOCK_STATUS,
        cookie,
        len as u32,
    ));
    b.extend_from_slice(&context.to_be_bytes());
    for e in extents {
        b.extend_from_slice(&e.length.to_be_bytes());
        b.extend_from_slice(&e.flags.to_be_bytes());
    }
    b
}

/// `s` cut to at most 4096 bytes on a character boundary.
fn truncate(s: &str) -> &str {
    if s.len() <= MAX_STRING {
        return s;
    }
    let mut end = MAX_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
