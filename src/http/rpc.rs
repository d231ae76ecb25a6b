//! The RPC endpoints: XML-RPC on every POST path but `/jsonrpc`, JSON-RPC
//! (v1 and v2) on `/jsonrpc`. Both decode, dispatch and encode; neither ever
//! echoes a request body.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};

use crate::api::dispatch::{dispatch, CallMeta};
use crate::api::Server;
use crate::wire::{jsonrpc, xmlrpc, Ref};

/// The response body type of every route.
pub type Body = Full<Bytes>;

/// `Access-Control-Allow-Origin` (a constant: parsing a header name per
/// reply shows up in profiles).
pub const ACAO: HeaderName = HeaderName::from_static("access-control-allow-origin");
/// `Access-Control-Allow-Headers`.
pub const ACAH: HeaderName = HeaderName::from_static("access-control-allow-headers");

/// `subtask-of`: the parent of tasks the call creates.
pub const SUBTASK_OF: HeaderName = HeaderName::from_static("subtask-of");

/// The headers xapi puts on every RPC reply.
fn rpc_response(content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    let mut h = HeaderMap::with_capacity(4);
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(ACAO, HeaderValue::from_static("*"));
    h.insert(ACAH, HeaderValue::from_static("X-Requested-With"));
    *r.headers_mut() = h;
    r
}

/// A short plain-text error; `reason` never contains request data.
pub fn plain(status: StatusCode, reason: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{reason}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn meta(headers: &HeaderMap) -> CallMeta {
    CallMeta {
        subtask_of: headers
            .get(SUBTASK_OF)
            .and_then(|v| v.to_str().ok())
            .and_then(Ref::parse),
    }
}

/// An XML-RPC call.
pub async fn xml(server: &Arc<Server>, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    let call = match xmlrpc::decode_call(body, &server.config.limits) {
        Ok(c) => c,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("malformed XML-RPC request: {e}"),
            )
        }
    };
    let reply = dispatch(server, call, &meta(headers)).await;
    let mut out = Vec::with_capacity(256);
    xmlrpc::encode_reply(&reply, &mut out);
    rpc_response("text/xml", out)
}

/// A JSON-RPC call.
pub async fn json(server: &Arc<Server>, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    let call = match jsonrpc::decode_call(body, &server.config.limits) {
        Ok(c) => c,
        Err(e) => {
            let mut out = Vec::new();
            jsonrpc::encode_error(None, jsonrpc::Version::V2, -32700, e.0, &mut out);
            let mut r = rpc_response("application/json", out);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let reply = dispatch(server, call.call, &meta(headers)).await;
    let mut out = Vec::with_capacity(256);
    jsonrpc::encode_reply(&reply, &call.id, call.version, &mut out);
    rpc_response("application/json", out)
}
