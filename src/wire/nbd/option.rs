//! The client's options during the handshake, parsed from bytes without
//! I/O. Nothing here panics on any input (a property test feeds it
//! garbage).

use super::consts::*;

/// The longest option data read; longer options are skipped and answered
/// `NBD_REP_ERR_TOO_BIG` (see `handshake`).
pub const MAX_OPTION_LEN: u32 = 64 << 10;

/// The name and the information requested by `NBD_OPT_INFO`/`NBD_OPT_GO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoRequest {
    /// The export name (`""`: the default export).
    pub name: String,
    /// The `NBD_INFO_*` types asked for.
    pub requests: Vec<u16>,
}

/// The export and queries of `NBD_OPT_LIST_META_CONTEXT`/`SET_META_CONTEXT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaRequest {
    /// The export name.
    pub export: String,
    /// The queries, e.g. `base:allocation` or `qemu:`.
    pub queries: Vec<String>,
}

/// One option from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientOption {
    /// `NBD_OPT_EXPORT_NAME` with the name.
    ExportName(String),
    /// `NBD_OPT_ABORT` (any data ignored).
    Abort,
    /// `NBD_OPT_LIST`.
    List,
    /// `NBD_OPT_STARTTLS`.
    StartTls,
    /// `NBD_OPT_INFO`.
    Info(InfoRequest),
    /// `NBD_OPT_GO`.
    Go(InfoRequest),
    /// `NBD_OPT_STRUCTURED_REPLY`.
    StructuredReply,
    /// `NBD_OPT_LIST_META_CONTEXT`.
    ListMetaContext(MetaRequest),
    /// `NBD_OPT_SET_META_CONTEXT`.
    SetMetaContext(MetaRequest),
    /// Any other option code (answered `NBD_REP_ERR_UNSUP`).
    Unknown(u32),
}

/// Why an option could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// More bytes are needed (only from [`parse_option`]).
    #[error("incomplete option: {0} more bytes needed")]
    Incomplete(usize),
    /// The option does not start with `IHAVEOPT`: end the connection.
    #[error("bad option magic")]
    BadMagic,
    /// The option is longer than [`MAX_OPTION_LEN`].
    #[error("option too long: {0} bytes")]
    TooLong(u32),
    /// The option's data is malformed: answer `NBD_REP_ERR_INVALID`.
    #[error("invalid option {code}: {reason}")]
    Invalid {
        /// The option code.
        code: u32,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The 16-byte head of an option: magic, code, data length.
pub fn parse_option_header(head: &[u8; 16]) -> Result<(u32, u32), OptionError> {
    let magic = u64::from_be_bytes(head[0..8].try_into().unwrap_or_default());
    if magic != IHAVEOPT {
        return Err(OptionError::BadMagic);
    }
    let code = u32::from_be_bytes(head[8..12].try_into().unwrap_or_default());
    let len = u32::from_be_bytes(head[12..16].try_into().unwrap_or_default());
    Ok((code, len))
}

/// Parses one whole option (head and data) at the start of `buf`;
/// answers it and the bytes it took.
pub fn parse_option(buf: &[u8]) -> Result<(ClientOption, usize), OptionError> {
    let Some(head) = buf.get(..16) else {
        return Err(OptionError::Incomplete(16 - buf.len()));
    };
    let head: &[u8; 16] = head.try_into().map_err(|_| OptionError::BadMagic)?;
    let (code, len) = parse_option_header(head)?;
    if len > MAX_OPTION_LEN {
        return Err(OptionError::TooLong(len));
    }
    let end = 16 + len as usize;
    let Some(data) = buf.get(16..end) else {
        return Err(OptionError::Incomplete(end - buf.len()));
    };
    Ok((parse_option_data(code, data)?, end))
}

/// A cursor over option data that never reads past the end.
struct Cursor<'a> {
    data: &'a [u8],
    code: u32,
}

impl<'a> Cursor<'a> {
    fn invalid(&self, reason: &'static str) -> OptionError {
        OptionError::Invalid {
            code: self.code,
            reason,
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], OptionError> {
        if n > self.data.len() {
            return Err(self.invalid(what));
        }
        let (a, b) = self.data.split_at(n);
        self.data = b;
        Ok(a)
    }

    fn u16(&mut self) -> Result<u16, OptionError> {
        let b = self.take(2, "truncated")?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, OptionError> {
        let b = self.take(4, "truncated")?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A string of `len` bytes: UTF-8, no NUL, at most 4096 bytes.
    fn string(&mut self, len: u32) -> Result<String, OptionError> {
        if len as usize > MAX_STRING {
            return Err(self.invalid("string longer than 4096 bytes"));
        }
        let b = self.take(len as usize, "string past the end of the option")?;
        string(b).ok_or_else(|| self.invalid("string not UTF-8 or has NUL"))
    }

    fn end(&self) -> Result<(), OptionError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(self.invalid("trailing bytes"))
        }
    }
}

fn string(b: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(b).ok()?;
    (!s.contains('\0')).then(|| s.to_string())
}

/// Parses the data of option `code` (the head already read).
pub fn parse_option_data(code: u32, data: &[u8]) -> Result<ClientOption, OptionError> {
    let mut c = Cursor { data, code };
    let no_data = |c: &Cursor, opt| {
        if c.data.is_empty() {
            Ok(opt)
        } else {
            Err(c.invalid("option takes no data"))
        }
    };
    match code {
        OPT_EXPORT_NAME => {
            if data.len() > MAX_STRING {
                return Err(c.invalid("string longer than 4096 bytes"));
            }
            string(data)
                .map(ClientOption::ExportName)
                .ok_or_else(|| c.invalid("export name not UTF-8 or has NUL"))
        }
        OPT_ABORT => Ok(ClientOption::Abort),
        OPT_LIST => no_data(&c, ClientOption::List),
        OPT_STARTTLS => no_data(&c, ClientOption::StartTls),
        OPT_STRUCTURED_REPLY => no_data(&c, ClientOption::StructuredReply),
        OPT_INFO | OPT_GO => {
            let len = c.u32()?;
            let name = c.string(len)?;
            let n = c.u16()?;
            let mut requests = Vec::with_capacity(usize::from(n).min(c.data.len() / 2));
            for _ in 0..n {
                requests.push(c.u16()?);
            }
            c.end()?;
            let r = InfoRequest { name, requests };
            Ok(if code == OPT_INFO {
                ClientOption::Info(r)
            } else {
                ClientOption::Go(r)
            })
        }
        OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
            let len = c.u32()?;
            let export = c.string(len)?;
            let n = c.u32()?;
            let mut queries = Vec::with_capacity((n as usize).min(c.data.len() / 4));
            for _ in 0..n {
                let len = c.u32()?;
                queries.push(c.string(len)?);
            }
            c.end()?;
            let r = MetaRequest { export, queries };
            Ok(if code == OPT_LIST_META_CONTEXT {
                ClientOption::ListMetaContext(r)
            } else {
                ClientOption::SetMetaContext(r)
            })
        }
        other => Ok(ClientOption::Unknown(other)),
    }
}
