//! The transmission phase: requests one after another (pipelined requests
//! are read as they come and answered in order) until `DISC`, the end of
//! the stream, or a protocol violation.
//!
//! | request | answer |
//! |---|---|
//! | `READ` | the data (simple reply, or one `OFFSET_DATA` chunk with `DONE`); past the end, or longer than 32 MiB: `EINVAL` |
//! | `BLOCK_STATUS` | one `BLOCK_STATUS` chunk per selected context; without structured replies or contexts, past the end: `EINVAL` |
//! | `WRITE`, `TRIM`, `WRITE_ZEROES`, `RESIZE` | `EPERM` (a write's payload is read and dropped; over 32 MiB closes) |
//! | `FLUSH` | success (nothing to flush) |
//! | `DISC` | the stream is shut down |
//! | `CACHE`, anything else, unknown flags | `EINVAL` |
//! | bad magic | the connection is closed |
//!
//! With structured replies, errors are `ERROR` chunks with a message;
//! without, simple replies.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::consts::*;
use super::handshake::Session;
use super::request::{parse_request, Command, Request, REQUEST_LEN};
use super::{reply, Backend, Extent, SessionError};

/// The most extents sent in one chunk (the spec's bound).
pub const MAX_EXTENTS: usize = 1 << 20;

/// Serves requests on `io` for the negotiated `session` from `backend`.
/// Returns `Ok` on `DISC` or when the client closes between requests.
pub async fn serve<S, B>(mut io: S, session: &Session, backend: &B) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    B: Backend,
{
    let mut head = [0u8; REQUEST_LEN];
    loop {
        match io.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let req = parse_request(&head).map_err(|_| SessionError::Protocol("bad request magic"))?;
        if req.command == Command::Disc {
            let _ = io.shutdown().await;
            return Ok(());
        }
        one(&mut io, session, backend, &req).await?;
        io.flush().await?;
    }
}

/// An error answer to `req`.
async fn fail<S>(
    io: &mut S,
    session: &Session,
    req: &Request,
    errno: u32,
    msg: &str,
) -> Result<(), SessionError>
where
    S: AsyncWrite + Unpin,
{
    if session.structured {
        io.write_all(&reply::error_chunk(req.cookie, errno, msg))
            .await?;
    } else {
        io.write_all(&reply::simple_reply(req.cookie, errno))
            .await?;
    }
    Ok(())
}

/// Whether `offset + length` lies within the export.
fn in_bounds(session: &Session, req: &Request) -> bool {
    req.offset
        .checked_add(u64::from(req.length))
        .is_some_and(|end| end <= session.export.size)
}

/// Answers one request (not `DISC`).
async fn one<S, B>(
    io: &mut S,
    session: &Session,
    backend: &B,
    req: &Request,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    B: Backend,
{
    if req.command == Command::Write {
        if req.length > MAX_PAYLOAD {
            return Err(SessionError::Protocol("write payload too large"));
        }
        let mut skip = (&mut *io).take(u64::from(req.length));
        tokio::io::copy(&mut skip, &mut tokio::io::sink()).await?;
        if skip.limit() != 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    if req.command.writes() {
        return fail(io, session, req, EPERM, "read-only export").await;
    }
    let allowed = match req.command {
        Command::Read if session.flags & TF_SEND_DF != 0 => CMD_FLAG_FUA | CMD_FLAG_DF,
        Command::BlockStatus => CMD_FLAG_FUA | CMD_FLAG_REQ_ONE,
        _ => CMD_FLAG_FUA,
    };
    if req.flags & !allowed != 0 {
        return fail(io, session, req, EINVAL, "unexpected command flags").await;
    }
    match req.command {
        Command::Read => read(io, session, backend, req).await,
        Command::BlockStatus => block_status(io, session, backend, req).await,
        Command::Flush => {
            if session.structured {
                io.write_all(&reply::none_chunk(req.cookie)).await?;
            } else {
                io.write_all(&reply::simple_reply(req.cookie, 0)).await?;
            }
            Ok(())
        }
        _ => fail(io, session, req, EINVAL, "command not supported").await,
    }
}

async fn read<S, B>(
    io: &mut S,
    session: &Session,
    backend: &B,
    req: &Request,
) -> Result<(), SessionError>
where
    S: AsyncWrite + Unpin + Send,
    B: Backend,
{
    if !in_bounds(session, req) {
        return fail(io, session, req, EINVAL, "read past the end of the export").await;
    }
    if req.length > MAX_PAYLOAD {
        return fail(io, session, req, EINVAL, "read longer than 32 MiB").await;
    }
    let data = if req.length == 0 {
        bytes::Bytes::new()
    } else {
        match backend.read(req.offset, req.length).await {
            Ok(d) if d.len() == req.length as usize => d,
            Ok(_) => return fail(io, session, req, EIO, "short read").await,
            Err(e) => return fail(io, session, req, e.errno(), &e.to_string()).await,
        }
    };
    if !session.structured {
        io.write_all(&reply::simple_reply(req.cookie, 0)).await?;
    } else if data.is_empty() {
        io.write_all(&reply::none_chunk(req.cookie)).await?;
        return Ok(());
    } else {
        let h = reply::offset_data_header(req.cookie, true, req.offset, req.length);
        io.write_all(&h).await?;
    }
    io.write_all(&data).await?;
    Ok(())
}

async fn block_status<S, B>(
    io: &mut S,
    session: &Session,
    backend: &B,
    req: &Request,
) -> Result<(), SessionError>
where
    S: AsyncWrite + Unpin + Send,
    B: Backend,
{
    if !session.structured || session.contexts.is_empty() {
        return fail(io, session, req, EINVAL, "no metadata context negotiated").await;
    }
    if !in_bounds(session, req) || req.length == 0 {
        return fail(io, session, req, EINVAL, "block status past the end").await;
    }
    let room = session.export.size - req.offset;
    let one = req.flags & CMD_FLAG_REQ_ONE != 0;
    let mut chunks = Vec::with_capacity(session.contexts.len());
    for (id, name) in &session.contexts {
        let extents = match backend.block_status(name, req.offset, req.length).await {
            Ok(e) => e,
            Err(e) => return fail(io, session, req, e.errno(), &e.to_string()).await,
        };
        match clip(extents, req.length, room, one) {
            Some(e) => chunks.push((*id, e)),
            None => return fail(io, session, req, EIO, "no extents").await,
        }
    }
    let last = chunks.len() - 1;
    for (i, (id, extents)) in chunks.iter().enumerate() {
        let c = reply::block_status_chunk(req.cookie, i == last, *id, extents);
        io.write_all(&c).await?;
    }
    Ok(())
}

/// Makes a backend's extents valid for a request of `len` bytes with
/// `room` bytes to the end of the export: no empty extents, none after
/// the one that reaches `len`, the last cut at the end of the export (or
/// at `len` with `REQ_ONE`, which keeps only the first), at most
/// [`MAX_EXTENTS`]. `None` if nothing is left.
pub fn clip(extents: Vec<Extent>, len: u32, room: u64, req_one: bool) -> Option<Vec<Extent>> {
    let len = u64::from(len);
    let cap = if req_one { len } else { room.max(len) };
    let mut out = Vec::with_capacity(extents.len().min(MAX_EXTENTS));
    let mut sum = 0u64;
    for e in extents {
        if e.length == 0 {
            continue;
        }
        if sum >= len {
            break;
        }
        let l = u64::from(e.length).min(cap - sum);
        out.push(Extent {
            length: l as u32,
            flags: e.flags,
        });
        sum += l;
        if req_one || out.len() == MAX_EXTENTS {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}
