//! The HTTP data paths (API.md section 3): `PUT /import_raw_vdi` writes a
//! request body into a VDI, `GET /export_raw_vdi` streams a VDI out. Both
//! are tracked by a task (the `task_id` given, or a new one) named in the
//! `task-id` response header, stream in pieces (never a whole image in
//! memory), and do their file I/O on blocking threads. Writes to the device
//! of a running job go through the job's image and its write hook (a
//! mirror copies them too; a backup saves the old data first).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::rpc::{plain, Body};
use crate::api::vdi::{file_of, map_get};
use crate::api::{busy, session, task, ApiError, Server};
use crate::jobs::engine::Hook;
use crate::storage::image::{Alloc, Format, Image, OpenOptions};
use crate::storage::sparse::is_zero;
use crate::wire::{Ref, Value};

/// Bytes handed to the writer (or sent to the client) at once.
const PIECE: usize = 4 << 20;

/// The query parameters.
#[derive(Debug, Default)]
struct Query {
    session_id: Option<String>,
    vdi: Option<String>,
    task_id: Option<String>,
    offset: Option<String>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
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

fn query(req: &Request<Incoming>) -> Query {
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
            _ => {}
        }
    }
    q
}

/// A refusal: the status and the XenAPI error, as text (never request data
/// beyond the error's own parameters).
fn refuse(status: StatusCode, e: &ApiError) -> Response<Body> {
    plain(status, &e.to_vec().join(" "))
}

fn with_task(mut r: Response<Body>, t: Ref) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&t.to_string()) {
        r.headers_mut().insert("task-id", v);
    }
    r
}

/// What both paths check first: the session (401 unless valid), the VDI
/// (404), and the task (the client's, or a new one).
struct Call {
    vdi: Ref,
    task: Ref,
}

async fn begin(server: &Arc<Server>, q: &Query, label: &str) -> Result<Call, Response<Body>> {
    let sid = Value::from(q.session_id.as_deref().unwrap_or(""));
    let session = match session::check(server, &sid) {
        Ok(s) => s,
        Err(e) => return Err(refuse(StatusCode::UNAUTHORIZED, &e)),
    };
    let given = q.vdi.as_deref().unwrap_or("");
    let Some(vdi) = crate::jobs::setup::find_vdi(server, given) else {
        let e = ApiError::handle_invalid("VDI", given.chars().take(80).collect::<String>());
        return Err(refuse(StatusCode::NOT_FOUND, &e));
    };
    let t = &server.ids.task;
    let task = match q.task_id.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => match Ref::parse(s).filter(|r| server.registry.exists(t.class, *r)) {
            Some(r) => r,
            None => {
                let e = ApiError::handle_invalid("task", s.chars().take(80).collect::<String>());
                return Err(refuse(StatusCode::NOT_FOUND, &e));
            }
        },
        None => match task::create_managed(server, label, None).await {
            Ok(r) => r,
            Err(e) => return Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, &e)),
        },
    };
    let _ = session;
    Ok(Call { vdi, task })
}

/// Opens a VDI's image for the data path, or shares the running job's.
fn open_image(
    server: &Server,
    vdi: Ref,
    write: bool,
) -> Result<(Arc<Image>, Option<Hook>), ApiError> {
    if let Some(h) = server.jobs.hooks(vdi).into_iter().next() {
        return Ok((h.image().clone(), Some(h)));
    }
    let v = &server.ids.vdi;
    let (_, dir, loc) = file_of(server, vdi)?;
    let format = server
        .registry
        .read_or(v.class, vdi, |row| {
            map_get(&row.fields[v.sm_config], "image-format").and_then(Format::from_name)
        })?
        .unwrap_or(Format::Raw);
    let img = Image::open_format(
        &dir,
        &loc,
        format,
        &OpenOptions {
            write,
            write_layers: Vec::new(),
        },
    )
    .map_err(|e| crate::api::vdi::io_error("cannot open the image", e))?;
    Ok((Arc::new(img), None))
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
pub async fn import(server: &Arc<Server>, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let r = import_body(server, &parts, body).await;
    match r {
        Ok(r) => r,
        Err((body, r)) => refuse_import(body, r).await,
    }
}

type Refused = (Incoming, Response<Body>);

async fn import_body(
    server: &Arc<Server>,
    parts: &hyper::http::request::Parts,
    body: Incoming,
) -> Result<Response<Body>, Refused> {
    let q = query_of(parts.uri.query());
    let call = match begin(server, &q, "import_raw_vdi").await {
        Ok(c) => c,
        Err(r) => return Err((body, r)),
    };
    let (vdi, t) = (call.vdi, call.task);
    let fail = |status: StatusCode, e: ApiError| {
        let server = server.clone();
        async move {
            task::finish(&server, t, Err(e.clone())).await;
            with_task(refuse(status, &e), t)
        }
    };
    let v = &server.ids.vdi;
    let (size, ro) = match server.registry.read_or(v.class, vdi, |row| {
        (
            match row.fields[v.virtual_size] {
                Value::Int(n) => n.max(0) as u64,
                _ => 0,
            },
            row.fields[v.read_only] == Value::Bool(true),
        )
    }) {
        Ok(x) => x,
        Err(e) => return Err((body, fail(StatusCode::NOT_FOUND, e).await)),
    };
    if ro {
        let r = fail(
            StatusCode::FORBIDDEN,
            ApiError::new("VDI_READ_ONLY", [vdi.to_string()]),
        )
        .await;
        return Err((body, r));
    }
    let offset = match q.offset.as_deref() {
        None | Some("") => 0u64,
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n <= size => n,
            _ => {
                let e = ApiError::new(
                    "INVALID_VALUE",
                    ["offset".to_string(), s.chars().take(40).collect()],
                );
                return Err((body, fail(StatusCode::BAD_REQUEST, e).await));
            }
        },
    };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared {
        if n > size - offset {
            let e = ApiError::new(
                "INVALID_VALUE",
                [
                    "Content-Length".to_string(),
                    format!("{n} bytes do not fit at offset {offset} of a {size}-byte disk"),
                ],
            );
            return Err((body, fail(StatusCode::BAD_REQUEST, e).await));
        }
    }
    let claim = match busy::claim(server, vdi, "import", t) {
        Ok(c) => c,
        Err(e) => return Err((body, fail(StatusCode::CONFLICT, e).await)),
    };
    let cancel = if server.registry.read(server.ids.task.class, t, |r| {
        r.fields[server.ids.task.managed] == Value::Bool(true)
    }) == Some(true)
    {
        Some(task::make_cancellable(server, t))
    } else {
        None
    };
    let s2 = server.clone();
    let opened = tokio::task::spawn_blocking(move || open_image(&s2, vdi, true)).await;
    let (img, hook) = match opened {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return Err((body, fail(StatusCode::INTERNAL_SERVER_ERROR, e).await)),
        Err(e) => {
            let r = fail(StatusCode::INTERNAL_SERVER_ERROR, ApiError::internal(e)).await;
            return Err((body, r));
        }
    };
    // The writer: pieces in, written on a blocking thread.
    let (tx, mut rx) = mpsc::channel::<(u64, Bytes)>(2);
    let writer_img = img.clone();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let _claim = claim;
        while let Some((off, data)) = rx.blocking_recv() {
            if let Some(h) = &hook {
                h.before_write(off, data.len() as u64)?;
            }
            let r = if is_zero(&data) {
                writer_img.write_zeroes(off, data.len() as u64)
            } else {
                writer_img.write_at(&data, off)
            };
            if let Some(h) = &hook {
                h.after_write(off, data.len() as u64);
            }
            r?;
        }
        writer_img.flush()
    });
    let total = declared.unwrap_or(size - offset).max(1);
    let mut body = body;
    let mut buf = BytesMut::with_capacity(PIECE);
    let mut pos = offset;
    let mut received = 0u64;
    let mut error: Option<(StatusCode, ApiError)> = None;
    loop {
        let frame = tokio::select! {
            f = body.frame() => f,
            _ = async { match &cancel { Some(c) => c.cancelled().await, None => std::future::pending().await } } => {
                error = Some((StatusCode::OK, ApiError::new("TASK_CANCELLED", [t.to_string()])));
                break;
            }
        };
        let data = match frame {
            None => break,
            Some(Err(_)) => {
                error = Some((
                    StatusCode::BAD_REQUEST,
                    crate::api::vdi::io_error("import", "the request body ended early"),
                ));
                break;
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        if pos + buf.len() as u64 + data.len() as u64 > size {
            error = Some((
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    "INVALID_VALUE",
                    [
                        "body".to_string(),
                        format!("more data than the {size}-byte disk holds"),
                    ],
                ),
            ));
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
        task::set_progress_volatile(server, t, received as f64 / total as f64);
        if tx.is_closed() {
            break;
        }
    }
    if error.is_none() && !buf.is_empty() {
        let _ = tx.send((pos, buf.split().freeze())).await;
    }
    drop(tx);
    let written = writer.await;
    let outcome = match (error, written) {
        (Some((st, e)), _) => Err((st, e)),
        (None, Ok(Ok(()))) => Ok(()),
        (None, Ok(Err(e))) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            crate::api::vdi::io_error("import", e),
        )),
        (None, Err(e)) => Err((StatusCode::INTERNAL_SERVER_ERROR, ApiError::internal(e))),
    };
    let _ = crate::api::vdi::refresh(server, vdi).await;
    match outcome {
        Ok(()) => {
            task::finish(server, t, Ok(Value::void())).await;
            Ok(with_task(plain(StatusCode::OK, "OK"), t))
        }
        Err((st, e)) => {
            task::finish(server, t, Err(e.clone())).await;
            Err((body, with_task(refuse(st, &e), t)))
        }
    }
}

/// `GET /export_raw_vdi?session_id=&vdi=[&task_id=]`.
pub async fn export(server: &Arc<Server>, req: Request<Incoming>) -> Response<Body> {
    let q = query(&req);
    let call = match begin(server, &q, "export_raw_vdi").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (vdi, t) = (call.vdi, call.task);
    let claim = match busy::claim(server, vdi, "export", t) {
        Ok(c) => c,
        Err(e) => {
            task::finish(server, t, Err(e.clone())).await;
            return with_task(refuse(StatusCode::CONFLICT, &e), t);
        }
    };
    let s2 = server.clone();
    let img = match tokio::task::spawn_blocking(move || open_image(&s2, vdi, false)).await {
        Ok(Ok((img, _))) => img,
        Ok(Err(e)) => {
            task::finish(server, t, Err(e.clone())).await;
            return with_task(refuse(StatusCode::INTERNAL_SERVER_ERROR, &e), t);
        }
        Err(e) => {
            let e = ApiError::internal(e);
            task::finish(server, t, Err(e.clone())).await;
            return with_task(refuse(StatusCode::INTERNAL_SERVER_ERROR, &e), t);
        }
    };
    let size = img.size();
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let s2 = server.clone();
    let rt = tokio::runtime::Handle::current();
    let reader = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
        let _claim = claim;
        let zeroes = Bytes::from(vec![0u8; PIECE]);
        let mut off = 0u64;
        while off < size {
            let want = (PIECE as u64).min(size - off);
            let (n, a) = crate::jobs::copy::chain_status(&img, 0, img.layers().len(), off, want)?;
            let chunk = match a {
                Alloc::Data => {
                    let mut b = vec![0u8; n as usize];
                    img.read_at(0, &mut b, off)?;
                    Bytes::from(b)
                }
                Alloc::Zero | Alloc::Unallocated => zeroes.slice(0..n as usize),
            };
            if tx.blocking_send(chunk).is_err() {
                return Ok(false); // the client went away
            }
            off += n;
            task::set_progress_volatile(&s2, t, off as f64 / size.max(1) as f64);
        }
        Ok(true)
    });
    let s3 = server.clone();
    rt.spawn(async move {
        let out = match reader.await {
            Ok(Ok(true)) => Ok(Value::void()),
            Ok(Ok(false)) => Err(crate::api::vdi::io_error("export", "the client went away")),
            Ok(Err(e)) => Err(crate::api::vdi::io_error("export", e)),
            Err(e) => Err(ApiError::internal(e)),
        };
        task::finish(&s3, t, out).await;
    });
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
    if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
        h.insert(CONTENT_LENGTH, v);
    }
    with_task(r, t)
}
