//! `GET /audit_log?session_id=...[&since=...]`: the audit log, oldest line
//! first, streamed as it is read (pool-admin only: `http/get_audit_log`).
//! `since` keeps the lines whose time is at or after it (an RFC 3339 time
//! or a prefix of one, e.g. `2026-12-02T07`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use tokio::sync::mpsc;

use super::data::{query, refuse};
use super::rpc::Body;
use crate::api::Api;
use crate::domain::audit::Entry;
use crate::domain::{roles, sessions};
use crate::storage::journal::Journal;
use crate::wire::Value;

/// The handler.
pub async fn get(server: &Arc<Api>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let d = server.domain.clone();
    let q = query(&req);
    let sid = Value::from(q.session_id.as_deref().unwrap_or(""));
    let who = match sessions::check(&d, &sid) {
        Ok(w) => w,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, &e),
    };
    if let Err(e) = roles::check_http(&d, &who, "get_audit_log") {
        let mut entry = Entry::by("http/get_audit_log", &who, Some(peer));
        entry.failed(&e);
        d.audit.record(&entry);
        return refuse(StatusCode::FORBIDDEN, &e);
    }
    let since = q.since.unwrap_or_default();
    let files = d.audit.files();
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    // Read on a blocking thread, a file at a time (each is at most the
    // rotation size), and send it in pieces of whole lines.
    tokio::task::spawn_blocking(move || {
        for f in files {
            let Ok(text) = Journal::read_file(&f) else {
                continue;
            };
            let mut piece = Vec::with_capacity(64 << 10);
            for line in text.split_inclusive(|b| *b == b'\n') {
                if !since.is_empty() && !at_or_after(line, since.as_bytes()) {
                    continue;
                }
                piece.extend_from_slice(line);
                if piece.len() >= 64 << 10
                    && tx
                        .blocking_send(Bytes::from(std::mem::take(&mut piece)))
                        .is_err()
                {
                    return;
                }
            }
            if !piece.is_empty() && tx.blocking_send(Bytes::from(piece)).is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(Body::Chunks {
        head: None,
        rx,
        tail: None,
    });
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson; charset=utf-8"),
    );
    r
}

/// Whether a line's time (its first member) is at or after `since`.
fn at_or_after(line: &[u8], since: &[u8]) -> bool {
    const HEAD: &[u8] = b"{\"time\":\"";
    let Some(rest) = line.strip_prefix(HEAD) else {
        return false;
    };
    let n = since.len().min(rest.len());
    rest[..n] >= since[..n]
}

#[cfg(test)]
mod tests {
    use super::at_or_after;

    #[test]
    fn since_compares_times() {
        let l = br#"{"time":"2026-12-02T07:19:30.123Z","user":"root"}"#;
        assert!(at_or_after(l, b"2026-12-02"));
        assert!(at_or_after(l, b"2026-12-02T07:19:30.123Z"));
        assert!(!at_or_after(l, b"2026-12-03"));
        assert!(!at_or_after(b"garbage", b"2026"));
    }
}
