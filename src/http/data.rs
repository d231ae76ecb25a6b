//! The HTTP data paths (API.md section 3): `PUT /import_raw_vdi` writes a
//! request body into a VDI, `GET /export_raw_vdi` streams a VDI out. Both
//! are tracked by a task (the `task_id` given, or a new one) named in the
//! `task-id` response header and stream in pieces (never a whole image in
//! memory). This file is HTTP only: the query, status codes, draining a
//! refused body, and moving the body; claims, hooked writes and reads are
//! [`crate::domain::transfer`]'s.

use std::sync::Arc;

use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
};
use hyper::{Request, Response, StatusCode};

use super::range::{self, Wanted};
use super::rpc::{plain, Body};
use crate::api::Api;
use crate::domain::audit::Entry;
use crate::domain::transfer::{self, Refusal, Refused, PIECE};
use crate::domain::{cbt, io_error, roles, sessions, task_objects, tasks, vdis, Domain};
use crate::error::ApiError;
use crate::model::schema::{codes, task};
use crate::wire::{Ref, Value};

/// The query parameters.
#[derive(Debug, Default)]
pub(super) struct Query {
    pub(super) session_id: Option<String>,
    vdi: Option<String>,
    task_id: Option<String>,
    offset: Option<String>,
    base: Option<String>,
    pub(super) since: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                // Two hex digits (from_str_radix alone would take "+f").
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query of a data path as [`query`] reads it, field by field
/// (`session_id`, `vdi`, `task_id`, `offset`, `base`, `since`), for the
/// fuzz targets.
#[doc(hidden)]
pub fn parse_query(query: Option<&str>) -> [Option<String>; 6] {
    let q = query_of(query);
    [q.session_id, q.vdi, q.task_id, q.offset, q.base, q.since]
}

pub(super) fn query(req: &Request<Incoming>) -> Query {
    query_of(req.uri().query())
}

fn query_of(query: Option<&str>) -> Query {
    let mut q = Query::default();
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = Some(percent_decode(v));
        match k {
            "session_id" => q.session_id = v,
            "vdi" => q.vdi = v,
            "task_id" => q.task_id = v,
            "offset" => q.offset = v,
            "base" => q.base = v,
            "since" => q.since = v,
            _ => {}
        }
    }
    q
}

/// A refusal: the status and the XenAPI error, as text (never request data
/// beyond the error's own parameters).
pub(super) fn refuse(status: StatusCode, e: &ApiError) -> Response<Body> {
    plain(status, &e.to_vec().join(" "))
}

fn with_task(mut r: Response<Body>, t: Ref) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&t.to_string()) {
        r.headers_mut().insert("task-id", v);
    }
    r
}

/// The status code of a refusal.
fn status(r: Refusal) -> StatusCode {
    match r {
        Refusal::NotFound => StatusCode::NOT_FOUND,
        Refusal::ReadOnly => StatusCode::FORBIDDEN,
        Refusal::BadRequest => StatusCode::BAD_REQUEST,
        Refusal::Busy => StatusCode::CONFLICT,
        Refusal::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What both paths check first: the session (401 unless valid), the VDI
/// (404), and the task (the client's, or a new one).
struct Call {
    vdi: Ref,
    task: Ref,
}

async fn begin(
    d: &Domain,
    q: &Query,
    label: &str,
    action: &str,
    peer: std::net::SocketAddr,
) -> Result<Call, Response<Body>> {
    let sid = Value::from(q.session_id.as_deref().unwrap_or(""));
    let who = match sessions::check(d, &sid) {
        Ok(who) => who,
        Err(e) => return Err(refuse(StatusCode::UNAUTHORIZED, &e)),
    };
    let allowed = roles::check_http(d, &who, action);
    // Imports change a VDI; denials are always written.
    if allowed.is_err() || action.starts_with("put_") {
        let call = format!("http/{action}");
        let mut e = Entry::by(&call, &who, Some(peer));
        if let Some(r) = q.vdi.as_deref().and_then(|v| vdis::find(d, v)) {
            e.refs.push(r.to_string());
        }
        if let Err(err) = &allowed {
            e.failed(err);
        }
        d.audit.record(&e);
    }
    if let Err(e) = allowed {
        return Err(refuse(StatusCode::FORBIDDEN, &e));
    }
    let given = q.vdi.as_deref().unwrap_or("");
    let Some(vdi) = vdis::find(d, given) else {
        let e = ApiError::handle_invalid("VDI", given.chars().take(80).collect::<String>());
        return Err(refuse(StatusCode::NOT_FOUND, &e));
    };
    let task = match q.task_id.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => match Ref::parse(s).filter(|r| d.registry.exists(task::CLASS, *r)) {
            Some(r) => {
                task_objects::add(d, r, &[vdi]);
                r
            }
            None => {
                let e =
                    ApiError::handle_invalid(task::NAME, s.chars().take(80).collect::<String>());
                return Err(refuse(StatusCode::NOT_FOUND, &e));
            }
        },
        // The task is durable: with the state directory unable to write
        // (full, read-only) the call is refused as unavailable for now.
        None => match tasks::create_managed(d, label, None, &who.sid, &[vdi]).await {
            Ok(r) => r,
            Err(e) => return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, &e)),
        },
    };
    Ok(Call { vdi, task })
}

/// Most of a refused request's body read (and dropped) before answering,
/// so a client that sends its body before reading the answer sees the
/// answer rather than a broken pipe.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Reads and drops up to [`DRAIN_LIMIT`] bytes of a body (a second at
/// most); beyond that the connection is closed after the answer.
async fn drain(body: &mut Incoming) -> bool {
    let mut seen = 0u64;
    let read = async {
        while let Some(f) = body.frame().await {
            match f {
                Ok(f) => {
                    if let Ok(d) = f.into_data() {
                        seen += d.len() as u64;
                        if seen > DRAIN_LIMIT {
                            return false;
                        }
                    }
                }
                Err(_) => return false,
            }
        }
        true
    };
    tokio::time::timeout(std::time::Duration::from_secs(1), read)
        .await
        .unwrap_or(false)
}

/// Answers a refused import: the body is drained first when it is small.
async fn refuse_import(mut body: Incoming, mut r: Response<Body>) -> Response<Body> {
    if !drain(&mut body).await {
        r.headers_mut()
            .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// `PUT /import_raw_vdi?session_id=&vdi=[&task_id=][&offset=]`.
pub async fn import(
    server: &Arc<Api>,
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let r = import_body(&server.domain, &parts, body, peer).await;
    match r {
        Ok(r) => r,
        Err((body, r)) => refuse_import(body, r).await,
    }
}

type RefusedBody = (Incoming, Response<Body>);

async fn import_body(
    d: &Arc<Domain>,
    parts: &hyper::http::request::Parts,
    body: Incoming,
    peer: std::net::SocketAddr,
) -> Result<Response<Body>, RefusedBody> {
    let q = query_of(parts.uri.query());
    let call = match begin(d, &q, "import_raw_vdi", "put_import_raw_vdi", peer).await {
        Ok(c) => c,
        Err(r) => return Err((body, r)),
    };
    let (vdi, t) = (call.vdi, call.task);
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let import = match transfer::begin_import(d, vdi, t, q.offset.as_deref(), declared).await {
        Ok(i) => i,
        Err((why, e)) => {
            tasks::finish(d, t, Err(e.clone())).await;
            return Err((body, with_task(refuse(status(why), &e), t)));
        }
    };
    let (size, offset, cancel) = (import.size, import.offset, import.cancel.clone());
    let (tx, writer) = import.spawn_writer();
    let total = declared.unwrap_or(size - offset).max(1);
    let mut body = body;
    let mut buf = BytesMut::with_capacity(PIECE);
    let mut pos = offset;
    let mut received = 0u64;
    let mut error: Option<Refused> = None;
    let idle = d.config.body_idle_timeout;
    loop {
        let frame = tokio::select! {
            f = tokio::time::timeout(idle, body.frame()) => match f {
                Ok(f) => f,
                Err(_) => {
                    // A stalled client must not hold the VDI's claim.
                    let e = io_error(
                        "import",
                        format_args!("the request body sent nothing for {} s", idle.as_secs()),
                    );
                    error = Some((Refusal::BadRequest, e));
                    break;
                }
            },
            _ = async { match &cancel { Some(c) => c.cancelled().await, None => std::future::pending().await } } => {
                // (Answered 200 with the error, as the task says.)
                error = Some((Refusal::Failed, ApiError::task_cancelled(t)));
                break;
            }
        };
        let data = match frame {
            None => break,
            Some(Err(_)) => {
                let e = io_error("import", "the request body ended early");
                error = Some((Refusal::BadRequest, e));
                break;
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        if pos + buf.len() as u64 + data.len() as u64 > size {
            let e = ApiError::invalid_value(
                "body",
                format_args!("more data than the {size}-byte disk holds"),
            );
            error = Some((Refusal::BadRequest, e));
            break;
        }
        buf.extend_from_slice(&data);
        received += data.len() as u64;
        while buf.len() >= PIECE {
            let piece = buf.split_to(PIECE).freeze();
            let n = piece.len() as u64;
            if tx.send((pos, piece)).await.is_err() {
                break;
            }
            pos += n;
        }
        tasks::set_progress_volatile(d, t, received as f64 / total as f64);
        if tx.is_closed() {
            break;
        }
    }
    if error.is_none() && !buf.is_empty() {
        // A closed channel means the writer failed: its error is below.
        let _ = tx.send((pos, buf.split().freeze())).await;
    }
    drop(tx);
    let written = writer.await;
    let outcome = match (error, written) {
        (Some((why, e)), _) => {
            let st = if e.code == codes::TASK_CANCELLED {
                StatusCode::OK
            } else {
                status(why)
            };
            Err((st, e))
        }
        (None, Ok(Ok(()))) => Ok(()),
        (None, Ok(Err(e))) => Err((StatusCode::INTERNAL_SERVER_ERROR, io_error("import", e))),
        (None, Err(e)) => Err((StatusCode::INTERNAL_SERVER_ERROR, ApiError::internal(e))),
    };
    match outcome {
        Ok(()) => {
            transfer::finish(d, vdi, t, Ok(Value::void())).await;
            Ok(with_task(plain(StatusCode::OK, "OK"), t))
        }
        Err((st, e)) => {
            transfer::finish(d, vdi, t, Err(e.clone())).await;
            Err((body, with_task(refuse(st, &e), t)))
        }
    }
}

/// `GET /export_raw_vdi?session_id=&vdi=[&task_id=]`.
pub async fn export(
    server: &Arc<Api>,
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
) -> Response<Body> {
    let d = &server.domain;
    let q = query(&req);
    let call = match begin(d, &q, "export_raw_vdi", "get_export_raw_vdi", peer).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (vdi, t) = (call.vdi, call.task);
    let export = match transfer::begin_export(d, vdi, t).await {
        Ok(x) => x,
        Err((why, e)) => {
            tasks::finish(d, t, Err(e.clone())).await;
            return with_task(refuse(status(why), &e), t);
        }
    };
    let size = export.size;
    if let Some(b) = q.base.as_deref() {
        return changed_since(d, export, b, t).await;
    }
    let range = req.headers().get(RANGE).and_then(|v| v.to_str().ok());
    let wanted = range::wanted(range, size);
    let (start, end) = match wanted {
        Wanted::All => (0, size),
        Wanted::Part { start, end } => (start, end),
        Wanted::Unsatisfiable => {
            drop(export);
            let e = ApiError::invalid_value("Range", format_args!("bytes */{size}"));
            tasks::finish(d, t, Err(e.clone())).await;
            let mut r = refuse(StatusCode::RANGE_NOT_SATISFIABLE, &e);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(CONTENT_RANGE, v);
            }
            return with_task(r, t);
        }
    };
    let partial = matches!(wanted, Wanted::Part { .. });
    let rx = export.spawn_reader(d, t, start, end);
    let mut r = Response::new(Body::Chunks {
        head: None,
        rx,
        tail: None,
    });
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&(end - start).to_string()) {
        h.insert(CONTENT_LENGTH, v);
    }
    if partial {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        let cr = format!("bytes {start}-{}/{size}", end - 1);
        if let Ok(v) = HeaderValue::from_str(&cr) {
            r.headers_mut().insert(CONTENT_RANGE, v);
        }
    }
    with_task(r, t)
}

/// `GET /export_raw_vdi?...&base=<vdi>`: only the ranges changed since
/// `base` (`VDI.list_changed_extents(base, vdi)`), as a
/// `multipart/byteranges` body; 400 with the XenAPI error when they cannot
/// be known (no CBT, unrelated VDIs).
async fn changed_since(
    d: &Arc<Domain>,
    export: transfer::Export,
    base: &str,
    t: Ref,
) -> Response<Body> {
    let vdi = export.vdi;
    let extents = match vdis::find(d, base) {
        None => Err((
            StatusCode::NOT_FOUND,
            ApiError::handle_invalid("VDI", base.chars().take(80).collect::<String>()),
        )),
        Some(b) => cbt::changed_extents(d, b, vdi)
            .await
            .map_err(|e| (StatusCode::BAD_REQUEST, e)),
    };
    let extents = match extents {
        Ok(x) => x,
        Err((st, e)) => {
            drop(export);
            tasks::finish(d, t, Err(e.clone())).await;
            return with_task(refuse(st, &e), t);
        }
    };
    let boundary = format!("xapid-{}", uuid::Uuid::new_v4().simple());
    let (parts, tail, len) = range::multipart(&boundary, &extents, export.size);
    let rx = export.spawn_parts(d, t, parts, tail);
    let mut r = Response::new(Body::Chunks {
        head: None,
        rx,
        tail: None,
    });
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}")) {
        h.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(CONTENT_LENGTH, v);
    }
    with_task(r, t)
}
