//! The RPC endpoints: XML-RPC on every POST path but `/jsonrpc`, JSON-RPC
//! (v1 and v2) on `/jsonrpc`. Both decode, dispatch and encode; neither ever
//! echoes a request body.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};

use crate::api::dispatch::{dispatch, CallMeta};
use crate::api::Api;
use crate::wire::records::Format;
use crate::wire::{jsonrpc, xmlrpc, Ref, Reply, Value};
use tokio::sync::mpsc;

pub use super::body::Body;

/// A placeholder result: the reply is encoded around it, then split where
/// it stands (the envelope is fixed text, so it cannot occur twice).
const MARK: &str = "@@xapid-stream@@";

/// `Access-Control-Allow-Origin` (a constant: parsing a header name per
/// reply shows up in profiles).
pub const ACAO: HeaderName = HeaderName::from_static("access-control-allow-origin");
/// `Access-Control-Allow-Headers`.
pub const ACAH: HeaderName = HeaderName::from_static("access-control-allow-headers");

/// `subtask-of`: the parent of tasks the call creates.
pub const SUBTASK_OF: HeaderName = HeaderName::from_static("subtask-of");

/// The headers xapi puts on every RPC reply.
fn rpc_response(content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    rpc_response_with(content_type, Body::full(body))
}

fn rpc_response_with(content_type: &'static str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    let mut h = HeaderMap::with_capacity(4);
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(ACAO, HeaderValue::from_static("*"));
    h.insert(ACAH, HeaderValue::from_static("X-Requested-With"));
    *r.headers_mut() = h;
    r
}

/// A short plain-text error; `reason` never contains request data.
pub fn plain(status: StatusCode, reason: &str) -> Response<Body> {
    let mut r = Response::new(Body::full(format!("{reason}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// What a call takes from the request's headers.
pub(super) fn meta(
    headers: &HeaderMap,
    format: Format,
    peer: Option<std::net::SocketAddr>,
) -> CallMeta {
    CallMeta {
        format,
        peer,
        subtask_of: headers
            .get(SUBTASK_OF)
            .and_then(|v| v.to_str().ok())
            .and_then(Ref::parse),
    }
}

/// The chunks of a streamed result, if the reply has one.
fn streamed(reply: &Reply) -> Option<mpsc::Receiver<Bytes>> {
    match reply {
        Reply::Success(Value::Stream(s)) => s.take(),
        _ => None,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// A reply whose result is streamed: `encoded` is the whole reply with
/// `needle` (the encoded [`MARK`]) where the result goes.
fn stream_response(
    content_type: &'static str,
    encoded: Vec<u8>,
    needle: &[u8],
    rx: mpsc::Receiver<Bytes>,
) -> Response<Body> {
    let Some(at) = find(&encoded, needle) else {
        return rpc_response(content_type, encoded);
    };
    let mut rx = rx;
    // What the producer has made already; if that is all of it (a shared
    // event.from answer: one chunk, producer gone), the reply goes out as
    // one body with a Content-Length.
    let mut ready: Vec<Bytes> = Vec::new();
    let finished = loop {
        match rx.try_recv() {
            Ok(c) => ready.push(c),
            Err(mpsc::error::TryRecvError::Empty) => break false,
            Err(mpsc::error::TryRecvError::Disconnected) => break true,
        }
    };
    if finished {
        // Sent as it is, in pieces (a shared answer is not copied per
        // waiter), with a Content-Length.
        let encoded = Bytes::from(encoded);
        let mut parts = std::collections::VecDeque::with_capacity(ready.len() + 2);
        parts.push_back(encoded.slice(..at));
        parts.extend(ready);
        parts.push_back(encoded.slice(at + needle.len()..));
        return rpc_response_with(content_type, Body::Parts(parts));
    }
    let mut r = rpc_response(content_type, Vec::new());
    let mut head = encoded[..at].to_vec();
    for c in &ready {
        head.extend_from_slice(c);
    }
    let encoded = Bytes::from(encoded);
    *r.body_mut() = Body::Chunks {
        head: Some(Bytes::from(head)),
        rx,
        tail: Some(encoded.slice(at + needle.len()..)),
    };
    r
}

/// An XML-RPC call.
pub async fn xml(server: &Arc<Api>, meta: CallMeta, body: Bytes) -> Response<Body> {
    let call = xmlrpc::decode_call(&body, &server.domain.config.limits);
    drop(body);
    let call = match call {
        Ok(c) => c,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("malformed XML-RPC request: {e}"),
            )
        }
    };
    let reply = dispatch(server, call, &meta).await;
    let mut out = Vec::with_capacity(256);
    match streamed(&reply) {
        Some(rx) => {
            xmlrpc::encode_reply(&Reply::Success(Value::from(MARK)), &mut out);
            let needle = format!("<value>{MARK}</value>");
            stream_response("text/xml", out, needle.as_bytes(), rx)
        }
        None => {
            xmlrpc::encode_reply(&reply, &mut out);
            rpc_response("text/xml", out)
        }
    }
}

/// A JSON-RPC call.
pub async fn json(server: &Arc<Api>, meta: CallMeta, body: Bytes) -> Response<Body> {
    let call = jsonrpc::decode_call(&body, &server.domain.config.limits);
    drop(body);
    let call = match call {
        Ok(c) => c,
        Err(e) => {
            let mut out = Vec::new();
            jsonrpc::encode_error(None, jsonrpc::Version::V2, -32700, e.0, &mut out);
            let mut r = rpc_response("application/json", out);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let reply = dispatch(server, call.call, &meta).await;
    let mut out = Vec::with_capacity(256);
    match streamed(&reply) {
        Some(rx) => {
            let marked = Reply::Success(Value::from(MARK));
            jsonrpc::encode_reply(&marked, &call.id, call.version, &mut out);
            let needle = format!("\"{MARK}\"");
            stream_response("application/json", out, needle.as_bytes(), rx)
        }
        None => {
            jsonrpc::encode_reply(&reply, &call.id, call.version, &mut out);
            rpc_response("application/json", out)
        }
    }
}
