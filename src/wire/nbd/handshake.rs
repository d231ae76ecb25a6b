//! The fixed newstyle handshake, server side: greeting, client flags, then
//! options until the client enters transmission (`EXPORT_NAME`, or `GO`
//! answered `ACK`), aborts, or breaks the protocol.
//!
//! What each option gets:
//!
//! | option | answer |
//! |---|---|
//! | `EXPORT_NAME` | size, flags, 124 zeroes unless `C_NO_ZEROES`; an export that cannot be served closes the connection |
//! | `ABORT` | `ACK`, then the handshake ends ([`SessionError::Aborted`]) |
//! | `LIST` | one `SERVER` per name from [`Exports::list`], then `ACK` |
//! | `STARTTLS` | with an upgrade: `ACK` and the upgrade, forgetting all state; without: `ERR_POLICY`; twice or with data: `ERR_INVALID` |
//! | `INFO`, `GO` | `INFO_EXPORT`, `INFO_NAME`/`INFO_DESCRIPTION`/`INFO_BLOCK_SIZE` when asked, `ACK`; or the resolver's error (`ERR_UNKNOWN`...) |
//! | `STRUCTURED_REPLY` | `ACK` |
//! | `LIST_META_CONTEXT`, `SET_META_CONTEXT` | the matching contexts (see `meta`), then `ACK`; `SET` before structured replies: `ERR_INVALID` |
//! | anything else | `ERR_UNSUP`, and negotiation goes on |
//!
//! Option data longer than 64 KiB is read and dropped and answered
//! `ERR_TOO_BIG`; longer than 16 MiB, or more than 16384 options, closes the
//! connection. The caller bounds the handshake's time.

use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::consts::*;
use super::option::{
    parse_option_data, parse_option_header, ClientOption, InfoRequest, MetaRequest, OptionError,
    MAX_OPTION_LEN,
};
use super::transport::{BoxStream, Transport};
use super::{meta, reply, ExportInfo, Exports, NbdError, SessionError};

/// Option data longer than this closes the connection (a denial of
/// service) instead of being skipped.
pub const MAX_DRAIN: u32 = 16 << 20;
/// The most options one handshake may send (`nbdinfo --list` sends one
/// `INFO` per export; the caller's handshake timeout bounds the rest).
pub const MAX_OPTIONS: u32 = 16384;

/// The caller's TLS upgrade: takes the plain stream after the `ACK` to
/// `STARTTLS` and returns the TLS one.
pub type TlsUpgrade<S> =
    Box<dyn FnOnce(S) -> Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send>> + Send>;

/// The server's TLS mode (spec, "TLS support").
pub enum Tls<S> {
    /// NOTLS: `STARTTLS` is answered `NBD_REP_ERR_POLICY`.
    Off,
    /// SELECTIVETLS with no TLS-only export: the client may upgrade.
    Optional(TlsUpgrade<S>),
    /// FORCEDTLS: every option but `STARTTLS` and `ABORT` is answered
    /// `NBD_REP_ERR_TLS_REQD` until the upgrade.
    Required(TlsUpgrade<S>),
}

/// A handshake that entered transmission.
pub struct Negotiated<S> {
    /// The stream (upgraded if `STARTTLS` happened).
    pub io: Transport<S>,
    /// What was agreed.
    pub session: Session,
}

/// What the handshake agreed: the input of [`super::serve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The export as the resolver described it.
    pub export: ExportInfo,
    /// The transmission flags sent.
    pub flags: u16,
    /// Whether structured replies are on.
    pub structured: bool,
    /// The metadata contexts selected, with their ids.
    pub contexts: Vec<(u32, String)>,
}

/// The transmission flags for an export: the caller's flags that this
/// read-only server can honour, `HAS_FLAGS`, `READ_ONLY`, and `SEND_DF`
/// with structured replies.
pub fn transmission_flags(info: &ExportInfo, structured: bool) -> u16 {
    let mut f = (info.flags & (TF_ROTATIONAL | TF_CAN_MULTI_CONN | TF_SEND_FLUSH))
        | TF_HAS_FLAGS
        | TF_READ_ONLY;
    if structured {
        f |= TF_SEND_DF;
    }
    f
}

struct State<S> {
    io: Transport<S>,
    upgrade: Option<TlsUpgrade<S>>,
    forced: bool,
    no_zeroes: bool,
    structured: bool,
    /// The export named by the last `SET_META_CONTEXT` and what it selected.
    meta: Option<(String, Vec<String>)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> State<S> {
    async fn send(&mut self, b: &[u8]) -> io::Result<()> {
        self.io.write_all(b).await
    }

    async fn error(&mut self, opt: u32, kind: u32, msg: &str) -> io::Result<()> {
        self.send(&reply::option_error(opt, kind, msg)).await
    }

    fn tls_missing(&self) -> bool {
        self.forced && !self.io.is_tls()
    }
}

/// Runs the handshake on `io`. Answers the negotiated export, or why the
/// connection ends (after which the caller drops the stream).
pub async fn negotiate<S, E>(io: S, exports: &E, tls: Tls<S>) -> Result<Negotiated<S>, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    E: Exports,
{
    let (upgrade, forced) = match tls {
        Tls::Off => (None, false),
        Tls::Optional(u) => (Some(u), false),
        Tls::Required(u) => (Some(u), true),
    };
    let mut st = State {
        io: Transport::Plain(io),
        upgrade,
        forced,
        no_zeroes: false,
        structured: false,
        meta: None,
    };
    st.send(&reply::greeting()).await?;
    st.io.flush().await?;
    let client = st.io.read_u32().await?;
    if client & !(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES) != 0 {
        return Err(SessionError::Protocol("unknown client flags"));
    }
    st.no_zeroes = client & FLAG_C_NO_ZEROES != 0;
    for _ in 0..MAX_OPTIONS {
        let mut head = [0u8; 16];
        st.io.read_exact(&mut head).await?;
        let (code, len) =
            parse_option_header(&head).map_err(|_| SessionError::Protocol("bad option magic"))?;
        if len > MAX_OPTION_LEN {
            if code == OPT_EXPORT_NAME || len > MAX_DRAIN {
                return Err(SessionError::Protocol("option too long"));
            }
            let mut skip = (&mut st.io).take(u64::from(len));
            tokio::io::copy(&mut skip, &mut tokio::io::sink()).await?;
            if skip.limit() != 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            st.error(code, REP_ERR_TOO_BIG, "option too long").await?;
            st.io.flush().await?;
            continue;
        }
        let mut data = vec![0u8; len as usize];
        st.io.read_exact(&mut data).await?;
        let done = option(&mut st, exports, code, &data).await?;
        st.io.flush().await?;
        if let Some((export, flags)) = done {
            let contexts = match st.meta.take() {
                Some((name, selected)) if name == export.1 => selected,
                _ => Vec::new(),
            };
            let session = Session {
                export: export.0,
                flags,
                structured: st.structured,
                contexts: contexts
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| (i as u32 + 1, c))
                    .collect(),
            };
            return Ok(Negotiated { io: st.io, session });
        }
    }
    Err(SessionError::Protocol("too many options"))
}

/// The export entered (with the name the client used) and its flags.
type Entered = Option<((ExportInfo, String), u16)>;

/// Answers one option; `Some` when transmission begins.
async fn option<S, E>(
    st: &mut State<S>,
    exports: &E,
    code: u32,
    data: &[u8],
) -> Result<Entered, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    E: Exports,
{
    // FORCEDTLS: everything but STARTTLS and ABORT waits for the upgrade,
    // even malformed options.
    if code != OPT_STARTTLS && code != OPT_ABORT && st.tls_missing() {
        if code == OPT_EXPORT_NAME {
            return Err(SessionError::Refused(NbdError::TlsRequired));
        }
        st.error(code, REP_ERR_TLS_REQD, "TLS required").await?;
        return Ok(None);
    }
    let parsed = match parse_option_data(code, data) {
        Ok(p) => p,
        Err(_) if code == OPT_EXPORT_NAME => {
            return Err(SessionError::Protocol("invalid export name"))
        }
        Err(OptionError::Invalid { reason, .. }) => {
            st.error(code, REP_ERR_INVALID, reason).await?;
            return Ok(None);
        }
        Err(e) => {
            st.error(code, REP_ERR_INVALID, &e.to_string()).await?;
            return Ok(None);
        }
    };
    match parsed {
        ClientOption::ExportName(name) => {
            let info = exports
                .resolve(&name)
                .await
                .map_err(SessionError::Refused)?;
            let flags = transmission_flags(&info, st.structured);
            let r = reply::export_name_reply(info.size, flags, st.no_zeroes);
            st.send(&r).await?;
            Ok(Some(((info, name), flags)))
        }
        ClientOption::Abort => {
            st.send(&reply::option_reply(code, REP_ACK, &[])).await?;
            st.io.flush().await?;
            Err(SessionError::Aborted)
        }
        ClientOption::List => {
            for name in exports.list().await {
                if name.len() <= MAX_STRING {
                    st.send(&reply::rep_server(&name)).await?;
                }
            }
            st.send(&reply::option_reply(code, REP_ACK, &[])).await?;
            Ok(None)
        }
        ClientOption::StartTls => {
            starttls(st, code).await?;
            Ok(None)
        }
        ClientOption::Info(r) => {
            info(st, exports, code, &r).await?;
            Ok(None)
        }
        ClientOption::Go(r) => Ok(info(st, exports, code, &r)
            .await?
            .map(|(i, f)| ((i, r.name), f))),
        ClientOption::StructuredReply => {
            st.structured = true;
            st.send(&reply::option_reply(code, REP_ACK, &[])).await?;
            Ok(None)
        }
        ClientOption::ListMetaContext(r) => {
            meta_context(st, exports, code, &r, false).await?;
            Ok(None)
        }
        ClientOption::SetMetaContext(r) => {
            meta_context(st, exports, code, &r, true).await?;
            Ok(None)
        }
        ClientOption::Unknown(_) => {
            st.error(code, REP_ERR_UNSUP, "option not supported")
                .await?;
            Ok(None)
        }
    }
}

async fn starttls<S>(st: &mut State<S>, code: u32) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if st.io.is_tls() {
        st.error(code, REP_ERR_INVALID, "TLS already negotiated")
            .await?;
        return Ok(());
    }
    let Some(upgrade) = st.upgrade.take() else {
        st.error(code, REP_ERR_POLICY, "TLS not offered").await?;
        return Ok(());
    };
    st.send(&reply::option_reply(code, REP_ACK, &[])).await?;
    st.io.flush().await?;
    st.io = match std::mem::replace(
        &mut st.io,
        Transport::Upgraded(Box::new(tokio::io::empty())),
    ) {
        Transport::Plain(s) => Transport::Upgraded(upgrade(s).await.map_err(SessionError::Tls)?),
        up @ Transport::Upgraded(_) => up,
    };
    st.structured = false;
    st.meta = None;
    Ok(())
}

/// `INFO`/`GO`: answers the export's information; `Some` on success.
async fn info<S, E>(
    st: &mut State<S>,
    exports: &E,
    code: u32,
    r: &InfoRequest,
) -> Result<Option<(ExportInfo, u16)>, SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    E: Exports,
{
    let info = match exports.resolve(&r.name).await {
        Ok(i) => i,
        Err(e) => {
            st.error(code, e.option_reply(), &e.to_string()).await?;
            return Ok(None);
        }
    };
    let flags = transmission_flags(&info, st.structured);
    st.send(&reply::info_export(code, info.size, flags)).await?;
    if r.requests.contains(&INFO_NAME) {
        st.send(&reply::info_string(code, INFO_NAME, &info.name))
            .await?;
    }
    if let (true, Some(d)) = (r.requests.contains(&INFO_DESCRIPTION), &info.description) {
        st.send(&reply::info_string(code, INFO_DESCRIPTION, d))
            .await?;
    }
    if r.requests.contains(&INFO_BLOCK_SIZE) {
        let b = reply::info_block_size(code, MIN_BLOCK, PREFERRED_BLOCK, MAX_PAYLOAD);
        st.send(&b).await?;
    }
    st.send(&reply::option_reply(code, REP_ACK, &[])).await?;
    Ok(Some((info, flags)))
}

/// `LIST_META_CONTEXT` (`set` false) and `SET_META_CONTEXT`.
async fn meta_context<S, E>(
    st: &mut State<S>,
    exports: &E,
    code: u32,
    r: &MetaRequest,
    set: bool,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    E: Exports,
{
    if set {
        // A SET replaces the selection even when it fails.
        st.meta = None;
        if !st.structured {
            let m = "structured replies not negotiated";
            st.error(code, REP_ERR_INVALID, m).await?;
            return Ok(());
        }
    }
    if let Some(q) = r.queries.iter().find(|q| !meta::well_formed(q)) {
        let m = format!("query without a namespace: {q}");
        st.error(code, REP_ERR_INVALID, &m).await?;
        return Ok(());
    }
    let info = match exports.resolve(&r.export).await {
        Ok(i) => i,
        Err(e) => {
            st.error(code, e.option_reply(), &e.to_string()).await?;
            return Ok(());
        }
    };
    if set {
        let chosen: Vec<String> = meta::select(&info.contexts, &r.queries)
            .into_iter()
            .map(str::to_string)
            .collect();
        for (i, c) in chosen.iter().enumerate() {
            st.send(&reply::meta_context(code, i as u32 + 1, c)).await?;
        }
        st.meta = Some((r.export.clone(), chosen));
    } else {
        for c in meta::list(&info.contexts, &r.queries) {
            st.send(&reply::meta_context(code, 0, c)).await?;
        }
    }
    st.send(&reply::option_reply(code, REP_ACK, &[])).await?;
    Ok(())
}
