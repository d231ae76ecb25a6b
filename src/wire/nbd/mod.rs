//! NBD, the network block device protocol: the wire half of a read-only
//! NBD server (fixed newstyle handshake, simple and structured replies,
//! metadata contexts), after NetworkBlockDevice/nbd `doc/proto.md`.
//!
//! It knows nothing of VDIs or sessions: the caller answers which exports
//! exist ([`Exports`]) and reads their bytes ([`Backend`]).
//!
//! - [`consts`]: the protocol's numbers.
//! - [`option`]: pure parsing of the client's options ([`parse_option`]).
//! - [`request`]: pure parsing of transmission requests ([`parse_request`]).
//! - [`reply`]: encoders of option replies and transmission replies.
//! - [`meta`]: which metadata contexts a query names.
//! - [`transport`]: the stream before and after `STARTTLS`.
//! - [`handshake`]: the negotiation ([`negotiate`]).
//! - [`transmission`]: the request loop ([`serve`]).
//!
//! A connection is `negotiate` then `serve`; the caller bounds the
//! handshake's time (e.g. `tokio::time::timeout`).

pub mod consts;
pub mod handshake;
pub mod meta;
pub mod option;
pub mod reply;
pub mod request;
pub mod transmission;
pub mod transport;

use std::future::Future;

use bytes::Bytes;

pub use handshake::{negotiate, Negotiated, Session, Tls, TlsUpgrade};
pub use option::{parse_option, parse_option_data, ClientOption, OptionError};
pub use request::{parse_request, Command, Request, RequestError};
pub use transmission::serve;
pub use transport::{AsyncStream, BoxStream, Transport};

/// Why an export cannot be described or read. During the handshake it
/// becomes an option error reply, during transmission an error value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NbdError {
    /// No such export (`NBD_REP_ERR_UNKNOWN`; `EINVAL`).
    #[error("unknown export: {0}")]
    UnknownExport(String),
    /// Forbidden (`NBD_REP_ERR_POLICY`; `EPERM`).
    #[error("not permitted: {0}")]
    Denied(String),
    /// TLS first (`NBD_REP_ERR_TLS_REQD`; `EPERM`).
    #[error("TLS required")]
    TlsRequired,
    /// Shutting down (`NBD_REP_ERR_SHUTDOWN`; `ESHUTDOWN`).
    #[error("server shutting down")]
    ShuttingDown,
    /// A bad request (`NBD_REP_ERR_INVALID`; `EINVAL`).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The storage failed (`NBD_REP_ERR_PLATFORM`; `EIO`).
    #[error("I/O error: {0}")]
    Io(String),
}

impl NbdError {
    /// The option reply type for this error.
    pub fn option_reply(&self) -> u32 {
        use consts::*;
        match self {
            NbdError::UnknownExport(_) => REP_ERR_UNKNOWN,
            NbdError::Denied(_) => REP_ERR_POLICY,
            NbdError::TlsRequired => REP_ERR_TLS_REQD,
            NbdError::ShuttingDown => REP_ERR_SHUTDOWN,
            NbdError::Invalid(_) => REP_ERR_INVALID,
            NbdError::Io(_) => REP_ERR_PLATFORM,
        }
    }

    /// The transmission error value for this error.
    pub fn errno(&self) -> u32 {
        use consts::*;
        match self {
            NbdError::UnknownExport(_) | NbdError::Invalid(_) => EINVAL,
            NbdError::Denied(_) | NbdError::TlsRequired => EPERM,
            NbdError::ShuttingDown => ESHUTDOWN,
            NbdError::Io(_) => EIO,
        }
    }
}

/// Why a connection ends other than by the client's `ABORT`.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The stream failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The client broke the protocol; the connection is closed.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The client sent `NBD_OPT_ABORT` (a normal end).
    #[error("client aborted the handshake")]
    Aborted,
    /// `NBD_OPT_EXPORT_NAME` named an export that cannot be served: the
    /// spec's only answer is to close.
    #[error("export refused: {0}")]
    Refused(NbdError),
    /// The TLS upgrade failed.
    #[error("TLS upgrade: {0}")]
    Tls(std::io::Error),
}

/// What the caller says about one export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportInfo {
    /// The canonical name (sent as `NBD_INFO_NAME` when asked).
    pub name: String,
    /// An optional description (`NBD_INFO_DESCRIPTION` when asked).
    pub description: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Extra transmission flags, e.g. [`consts::TF_CAN_MULTI_CONN`].
    /// `HAS_FLAGS` and `READ_ONLY` are always added (the server is
    /// read-only); `SEND_DF` is added when structured replies are on.
    pub flags: u16,
    /// The metadata contexts offered, by full name: `base:allocation`,
    /// `qemu:allocation-depth`, `qemu:dirty-bitmap:<name>`.
    pub contexts: Vec<String>,
}

/// The exports a server offers; the caller's side of the handshake.
pub trait Exports: Send + Sync {
    /// The names listed for `NBD_OPT_LIST` (may be empty).
    fn list(&self) -> impl Future<Output = Vec<String>> + Send;
    /// Describes the export `name` (`""`: the default export).
    fn resolve(&self, name: &str) -> impl Future<Output = Result<ExportInfo, NbdError>> + Send;
}

/// One extent of a block status answer: `length` bytes (nonzero) with
/// the context's `flags` (`base:allocation`: [`consts::STATE_HOLE`],
/// [`consts::STATE_ZERO`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Length in bytes.
    pub length: u32,
    /// Status flags.
    pub flags: u32,
}

/// The bytes behind one negotiated export; the caller's side of
/// transmission. Offsets and lengths are checked against the export's
/// size before a call.
pub trait Backend: Send + Sync {
    /// Reads exactly `len` bytes at `offset`.
    fn read(&self, offset: u64, len: u32) -> impl Future<Output = Result<Bytes, NbdError>> + Send;
    /// The extents of `context` (a name from [`ExportInfo::contexts`])
    /// from `offset`, covering up to `len` bytes (at least one extent).
    fn block_status(
        &self,
        context: &str,
        offset: u64,
        len: u32,
    ) -> impl Future<Output = Result<Vec<Extent>, NbdError>> + Send;
}

#[cfg(test)]
mod tests;
