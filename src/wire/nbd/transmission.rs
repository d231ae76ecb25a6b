//! The transmission phase: requests read as they come, up to
//! [`MAX_IN_FLIGHT`] answered at once, replies sent in the order of the
//! requests, until `DISC`, the end of the stream, or a protocol violation.
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

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::consts::*;
use super::handshake::Session;
use super::request::{parse_request, Command, Request, REQUEST_LEN};
use super::{reply, Backend, Extent, SessionError};

/// The most extents sent in one chunk (the spec's bound).
pub const MAX_EXTENTS: usize = 1 << 20;

/// Requests answered at once on one connection: the next reads go to the
/// backend while earlier replies are being sent.
pub const MAX_IN_FLIGHT: usize = 8;

/// The frames of one reply, sent in order (data stays in its `Bytes`).
type Reply = Vec<Bytes>;

/// What the reader half found next.
enum Next {
    /// A request to answer (a write's payload already drained).
    Request(Request),
    /// `DISC`, or the client closed between requests.
    End,
}

/// Reads the next request (and drains a write's payload); hands the
/// reader back with it.
async fn next_owned<R: AsyncRead + Unpin>(mut rd: R) -> (R, Result<Next, SessionError>) {
    let r = next_request(&mut rd).await;
    (rd, r)
}

/// Reads the next request (and drains a write's payload).
async fn next_request<R: AsyncRead + Unpin>(rd: &mut R) -> Result<Next, SessionError> {
    let mut head = [0u8; REQUEST_LEN];
    match rd.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(Next::End),
        Err(e) => return Err(e.into()),
    }
    let req = parse_request(&head).map_err(|_| SessionError::Protocol("bad request magic"))?;
    if req.command == Command::Disc {
        return Ok(Next::End);
    }
    if req.command == Command::Write {
        if req.length > MAX_PAYLOAD {
            return Err(SessionError::Protocol("write payload too large"));
        }
        let mut skip = (&mut *rd).take(u64::from(req.length));
        tokio::io::copy(&mut skip, &mut tokio::io::sink()).await?;
        if skip.limit() != 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    Ok(Next::Request(req))
}

/// Serves requests on `io` for the negotiated `session` from `backend`.
/// Up to [`MAX_IN_FLIGHT`] requests are answered at once (the backend
/// reads the next while a reply is sent); replies go out in the order of
/// the requests. Returns `Ok` on `DISC` or when the client closes between
/// requests.
pub async fn serve<S, B>(io: S, session: &Session, backend: &B) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    B: Backend,
{
    let (rd, mut wr) = tokio::io::split(io);
    type Reading<'a, R> =
        Pin<Box<dyn Future<Output = (R, Result<Next, SessionError>)> + Send + 'a>>;
    let mut in_flight: FuturesOrdered<Pin<Box<dyn Future<Output = Reply> + Send + '_>>> =
        FuturesOrdered::new();
    // The reader's future lives across iterations (it owns the read half
    // and hands it back): a partial read is never dropped when a reply
    // completes first.
    let mut reading: Option<Reading<'_, _>> = Some(Box::pin(next_owned(rd)));
    let mut ended = false;
    loop {
        let can_read = !ended && in_flight.len() < MAX_IN_FLIGHT && reading.is_some();
        tokio::select! {
            biased;
            Some(frames) = in_flight.next(), if !in_flight.is_empty() => {
                for f in frames {
                    wr.write_all(&f).await?;
                }
                if in_flight.is_empty() {
                    wr.flush().await?;
                }
            }
            (rd, next) = async { reading.as_mut().expect("a reader").await }, if can_read => {
                match next? {
                    Next::Request(req) => {
                        in_flight.push_back(Box::pin(answer(session, backend, req)));
                        reading = Some(Box::pin(next_owned(rd)));
                    }
                    Next::End => {
                        ended = true;
                        reading = None;
                    }
                }
            }
            else => break,
        }
    }
    wr.flush().await?;
    let _ = wr.shutdown().await;
    Ok(())
}

/// An error answer to `req`.
fn fail(session: &Session, req: &Request, errno: u32, msg: &str) -> Reply {
    if session.structured {
        vec![Bytes::from(reply::error_chunk(req.cookie, errno, msg))]
    } else {
        vec![Bytes::copy_from_slice(&reply::simple_reply(
            req.cookie, errno,
        ))]
    }
}

/// Whether `offset + length` lies within the export.
fn in_bounds(session: &Session, req: &Request) -> bool {
    req.offset
        .checked_add(u64::from(req.length))
        .is_some_and(|end| end <= session.export.size)
}

/// The answer to one request (not `DISC`).
async fn answer<B: Backend>(session: &Session, backend: &B, req: Request) -> Reply {
    if req.command.writes() {
        return fail(session, &req, EPERM, "read-only export");
    }
    let allowed = match req.command {
        Command::Read if session.flags & TF_SEND_DF != 0 => CMD_FLAG_FUA | CMD_FLAG_DF,
        Command::BlockStatus => CMD_FLAG_FUA | CMD_FLAG_REQ_ONE,
        _ => CMD_FLAG_FUA,
    };
    if req.flags & !allowed != 0 {
        return fail(session, &req, EINVAL, "unexpected command flags");
    }
    match req.command {
        Command::Read => read(session, backend, &req).await,
        Command::BlockStatus => block_status(session, backend, &req).await,
        Command::Flush => {
            if session.structured {
                vec![Bytes::copy_from_slice(&reply::none_chunk(req.cookie))]
            } else {
                vec![Bytes::copy_from_slice(&reply::simple_reply(req.cookie, 0))]
            }
        }
        _ => fail(session, &req, EINVAL, "command not supported"),
    }
}

async fn read<B: Backend>(session: &Session, backend: &B, req: &Request) -> Reply {
    if !in_bounds(session, req) {
        return fail(session, req, EINVAL, "read past the end of the export");
    }
    if req.length > MAX_PAYLOAD {
        return fail(session, req, EINVAL, "read longer than 32 MiB");
    }
    let data = if req.length == 0 {
        Bytes::new()
    } else {
        match backend.read(req.offset, req.length).await {
            Ok(d) if d.len() == req.length as usize => d,
            Ok(_) => return fail(session, req, EIO, "short read"),
            Err(e) => return fail(session, req, e.errno(), &e.to_string()),
        }
    };
    let head = if !session.structured {
        Bytes::copy_from_slice(&reply::simple_reply(req.cookie, 0))
    } else if data.is_empty() {
        return vec![Bytes::copy_from_slice(&reply::none_chunk(req.cookie))];
    } else {
        Bytes::copy_from_slice(&reply::offset_data_header(
            req.cookie, true, req.offset, req.length,
        ))
    };
    vec![head, data]
}

async fn block_status<B: Backend>(session: &Session, backend: &B, req: &Request) -> Reply {
    if !session.structured || session.contexts.is_empty() {
        return fail(session, req, EINVAL, "no metadata context negotiated");
    }
    if !in_bounds(session, req) || req.length == 0 {
        return fail(session, req, EINVAL, "block status past the end");
    }
    let room = session.export.size - req.offset;
    let one = req.flags & CMD_FLAG_REQ_ONE != 0;
    let mut chunks = Vec::with_capacity(session.contexts.len());
    for (id, name) in &session.contexts {
        let extents = match backend.block_status(name, req.offset, req.length).await {
            Ok(e) => e,
            Err(e) => return fail(session, req, e.errno(), &e.to_string()),
        };
        match clip(extents, req.length, room, one) {
            Some(e) => chunks.push((*id, e)),
            None => return fail(session, req, EIO, "no extents"),
        }
    }
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, (id, extents))| {
            Bytes::from(reply::block_status_chunk(
                req.cookie,
                i == last,
                *id,
                extents,
            ))
        })
        .collect()
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
