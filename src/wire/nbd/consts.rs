//! The protocol's numbers (NetworkBlockDevice/nbd `doc/proto.md`,
//! "Values"): magics, option and reply codes, information types, flags,
//! commands and error values. Big-endian on the wire.

/// `NBDMAGIC`, the first 8 bytes the server sends.
pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: the server's second magic and the head of every option.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// The head of every option reply.
pub const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// The head of every request (`NBD_REQUEST_MAGIC`).
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// The head of a simple reply.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
/// The head of a structured reply chunk.
pub const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

/// Handshake flag: fixed newstyle.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
/// Handshake flag: the server may leave out the 124 zeroes.
pub const FLAG_NO_ZEROES: u16 = 1 << 1;
/// Client flag: fixed newstyle.
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
/// Client flag: no 124 zeroes after `EXPORT_NAME`.
pub const FLAG_C_NO_ZEROES: u32 = 1 << 1;

/// Option: choose an export and enter transmission (no error possible).
pub const OPT_EXPORT_NAME: u32 = 1;
/// Option: soft disconnect.
pub const OPT_ABORT: u32 = 2;
/// Option: list the exports.
pub const OPT_LIST: u32 = 3;
/// Option: upgrade to TLS.
pub const OPT_STARTTLS: u32 = 5;
/// Option: describe an export.
pub const OPT_INFO: u32 = 6;
/// Option: describe an export and enter transmission.
pub const OPT_GO: u32 = 7;
/// Option: structured replies.
pub const OPT_STRUCTURED_REPLY: u32 = 8;
/// Option: list metadata contexts.
pub const OPT_LIST_META_CONTEXT: u32 = 9;
/// Option: select metadata contexts.
pub const OPT_SET_META_CONTEXT: u32 = 10;
/// Option: extended headers (experimental; not supported here).
pub const OPT_EXTENDED_HEADERS: u32 = 11;

/// Option reply: done.
pub const REP_ACK: u32 = 1;
/// Option reply: one export of a `LIST`.
pub const REP_SERVER: u32 = 2;
/// Option reply: one piece of information of `INFO`/`GO`.
pub const REP_INFO: u32 = 3;
/// Option reply: one metadata context.
pub const REP_META_CONTEXT: u32 = 4;
/// Option error: unknown option.
pub const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
/// Option error: forbidden by policy.
pub const REP_ERR_POLICY: u32 = (1 << 31) + 2;
/// Option error: syntactically or semantically invalid.
pub const REP_ERR_INVALID: u32 = (1 << 31) + 3;
/// Option error: not on this platform.
pub const REP_ERR_PLATFORM: u32 = (1 << 31) + 4;
/// Option error: TLS first.
pub const REP_ERR_TLS_REQD: u32 = (1 << 31) + 5;
/// Option error: no such export.
pub const REP_ERR_UNKNOWN: u32 = (1 << 31) + 6;
/// Option error: the server is shutting down.
pub const REP_ERR_SHUTDOWN: u32 = (1 << 31) + 7;
/// Option error: block sizes must be requested.
pub const REP_ERR_BLOCK_SIZE_REQD: u32 = (1 << 31) + 8;
/// Option error: request or reply too large.
pub const REP_ERR_TOO_BIG: u32 = (1 << 31) + 9;

/// Information: size and transmission flags (mandatory).
pub const INFO_EXPORT: u16 = 0;
/// Information: the canonical name.
pub const INFO_NAME: u16 = 1;
/// Information: a description for humans.
pub const INFO_DESCRIPTION: u16 = 2;
/// Information: minimum, preferred and maximum block sizes.
pub const INFO_BLOCK_SIZE: u16 = 3;

/// Transmission flag: always set.
pub const TF_HAS_FLAGS: u16 = 1 << 0;
/// Transmission flag: read-only export.
pub const TF_READ_ONLY: u16 = 1 << 1;
/// Transmission flag: `CMD_FLUSH` understood.
pub const TF_SEND_FLUSH: u16 = 1 << 2;
/// Transmission flag: `CMD_FLAG_FUA` understood.
pub const TF_SEND_FUA: u16 = 1 << 3;
/// Transmission flag: rotational medium.
pub const TF_ROTATIONAL: u16 = 1 << 4;
/// Transmission flag: `CMD_TRIM` understood.
pub const TF_SEND_TRIM: u16 = 1 << 5;
/// Transmission flag: `CMD_WRITE_ZEROES` understood.
pub const TF_SEND_WRITE_ZEROES: u16 = 1 << 6;
/// Transmission flag: `CMD_FLAG_DF` understood (structured replies only).
pub const TF_SEND_DF: u16 = 1 << 7;
/// Transmission flag: several connections see the same data.
pub const TF_CAN_MULTI_CONN: u16 = 1 << 8;
/// Transmission flag: `CMD_CACHE` understood.
pub const TF_SEND_CACHE: u16 = 1 << 10;

/// Command flag: force unit access.
pub const CMD_FLAG_FUA: u16 = 1 << 0;
/// Command flag: do not punch holes (`WRITE_ZEROES`).
pub const CMD_FLAG_NO_HOLE: u16 = 1 << 1;
/// Command flag: do not fragment a read.
pub const CMD_FLAG_DF: u16 = 1 << 2;
/// Command flag: one extent per context (`BLOCK_STATUS`).
pub const CMD_FLAG_REQ_ONE: u16 = 1 << 3;
/// Command flag: fail fast (`WRITE_ZEROES`).
pub const CMD_FLAG_FAST_ZERO: u16 = 1 << 4;

/// Structured reply flag: last chunk.
pub const REPLY_FLAG_DONE: u16 = 1 << 0;
/// Chunk type: no payload (final).
pub const REPLY_TYPE_NONE: u16 = 0;
/// Chunk type: data at an offset.
pub const REPLY_TYPE_OFFSET_DATA: u16 = 1;
/// Chunk type: zeroes at an offset.
pub const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
/// Chunk type: block status of one context.
pub const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
/// Chunk type: an error.
pub const REPLY_TYPE_ERROR: u16 = (1 << 15) + 1;
/// Chunk type: an error at an offset.
pub const REPLY_TYPE_ERROR_OFFSET: u16 = (1 << 15) + 2;

/// `base:allocation`: not allocated.
pub const STATE_HOLE: u32 = 1 << 0;
/// `base:allocation`: reads as zeroes.
pub const STATE_ZERO: u32 = 1 << 1;

/// Error: operation not permitted.
pub const EPERM: u32 = 1;
/// Error: input/output error.
pub const EIO: u32 = 5;
/// Error: cannot allocate memory.
pub const ENOMEM: u32 = 12;
/// Error: invalid argument.
pub const EINVAL: u32 = 22;
/// Error: no space left.
pub const ENOSPC: u32 = 28;
/// Error: value too large.
pub const EOVERFLOW: u32 = 75;
/// Error: not supported.
pub const ENOTSUP: u32 = 95;
/// Error: shutting down.
pub const ESHUTDOWN: u32 = 108;

/// The longest string (export name, query, message) the spec allows.
pub const MAX_STRING: usize = 4096;
/// Block sizes advertised with `NBD_INFO_BLOCK_SIZE`: the spec's defaults.
pub const MIN_BLOCK: u32 = 1;
/// Preferred block size.
pub const PREFERRED_BLOCK: u32 = 4096;
/// Largest payload (read length) served: 32 MiB.
pub const MAX_PAYLOAD: u32 = 32 << 20;
