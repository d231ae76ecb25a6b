//! Transmission requests, parsed from their 28 bytes without I/O. Never
//! panics on any input.

use super::consts::*;

/// The size of a request head.
pub const REQUEST_LEN: usize = 28;

/// A request's command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `NBD_CMD_READ` (0).
    Read,
    /// `NBD_CMD_WRITE` (1): followed by `length` bytes.
    Write,
    /// `NBD_CMD_DISC` (2).
    Disc,
    /// `NBD_CMD_FLUSH` (3).
    Flush,
    /// `NBD_CMD_TRIM` (4).
    Trim,
    /// `NBD_CMD_CACHE` (5).
    Cache,
    /// `NBD_CMD_WRITE_ZEROES` (6).
    WriteZeroes,
    /// `NBD_CMD_BLOCK_STATUS` (7).
    BlockStatus,
    /// `NBD_CMD_RESIZE` (8, experimental).
    Resize,
    /// Anything else.
    Other(u16),
}

impl Command {
    /// The command of a type number.
    pub fn from_u16(t: u16) -> Command {
        match t {
            0 => Command::Read,
            1 => Command::Write,
            2 => Command::Disc,
            3 => Command::Flush,
            4 => Command::Trim,
            5 => Command::Cache,
            6 => Command::WriteZeroes,
            7 => Command::BlockStatus,
            8 => Command::Resize,
            t => Command::Other(t),
        }
    }

    /// Whether the command would change the export.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Command::Write | Command::Trim | Command::WriteZeroes | Command::Resize
        )
    }
}

/// One request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// `NBD_CMD_FLAG_*`.
    pub flags: u16,
    /// The command.
    pub command: Command,
    /// The client's cookie, echoed in the reply.
    pub cookie: u64,
    /// Offset in bytes.
    pub offset: u64,
    /// Length in bytes.
    pub length: u32,
}

/// Why a request head could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Fewer than 28 bytes.
    #[error("short request: {0} bytes")]
    Short(usize),
    /// Not `NBD_REQUEST_MAGIC` (e.g. extended headers, never negotiated):
    /// the stream cannot be resynchronised; end the connection.
    #[error("bad request magic {0:#x}")]
    BadMagic(u32),
}

/// Parses the request head at the start of `buf` (28 bytes).
pub fn parse_request(buf: &[u8]) -> Result<Request, RequestError> {
    let Some(b) = buf.get(..REQUEST_LEN) else {
        return Err(RequestError::Short(buf.len()));
    };
    let be32 = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let be64 = |i: usize| (u64::from(be32(i)) << 32) | u64::from(be32(i + 4));
    let magic = be32(0);
    if magic != REQUEST_MAGIC {
        return Err(RequestError::BadMagic(magic));
    }
    Ok(Request {
        flags: be16(4),
        command: Command::from_u16(be16(6)),
        cookie: be64(8),
        offset: be64(16),
        length: be32(24),
    })
}
