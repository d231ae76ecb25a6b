//! The HTTP server (hyper 1, HTTP/1.1 with keep-alive): routing, body
//! limits, a connection cap and graceful shutdown.
//!
//! ```text
//! accept (one permit per connection) -> hyper conn (watched by GracefulShutdown)
//!    -> route: POST /jsonrpc -> rpc::json | POST * -> rpc::xml | OPTIONS | GET /
//! ```

pub mod audit;
pub mod body;
pub mod data;
pub mod rpc;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::wire::records::Format;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use rpc::{plain, Body};

/// Serves until `stop` is cancelled, then lets in-flight calls finish
/// (within the configured grace period).
pub async fn serve(server: Arc<Api>, listener: TcpListener, stop: CancellationToken) {
    let permits = Arc::new(Semaphore::new(server.domain.config.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let s = server.clone();
        let conn = http1::Builder::new().keep_alive(true).serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| {
                let s = s.clone();
                async move { Ok::<_, Infallible>(route(&s, req, peer).await) }
            }),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(server.domain.config.shutdown_grace) => {
            tracing::warn!("shutdown: some connections did not finish in time");
        }
    }
}

async fn route(server: &Arc<Api>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        // Boxed: every connection holds the state of its call in progress,
        // sized for the largest kind of call; the data paths are rare.
        (&Method::PUT, "/import_raw_vdi") => {
            return Box::pin(data::import(server, req, peer)).await
        }
        (&Method::GET, "/export_raw_vdi") => {
            return Box::pin(data::export(server, req, peer)).await
        }
        (&Method::GET, "/audit_log") => return Box::pin(audit::get(server, req, peer)).await,
        _ => {}
    }
    match *req.method() {
        Method::POST => {}
        Method::OPTIONS => {
            let mut r = plain(StatusCode::OK, "");
            let h = r.headers_mut();
            h.insert(rpc::ACAO, HeaderValue::from_static("*"));
            h.insert(
                rpc::ACAH,
                HeaderValue::from_static("X-Requested-With, Content-Type"),
            );
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("POST, OPTIONS"),
            );
            return r;
        }
        Method::GET | Method::HEAD if req.uri().path() == "/" => {
            return plain(
                StatusCode::OK,
                "xapid: XenAPI over XML-RPC (POST /) and JSON-RPC (POST /jsonrpc)",
            );
        }
        _ => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            r.headers_mut()
                .insert("allow", HeaderValue::from_static("POST, OPTIONS"));
            return r;
        }
    }
    let max = server.domain.config.max_body_bytes;
    let too_large = || {
        let mut r = plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        // The rest of the body is not read: the connection cannot be reused.
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let json = req.uri().path() == "/jsonrpc";
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return too_large();
            }
            return plain(StatusCode::BAD_REQUEST, "could not read the request body");
        }
    };
    // The call owns what it needs from the request, and lets go of the
    // rest before it waits (a call may wait long: event.from).
    let format = if json { Format::Json } else { Format::Xml };
    let meta = rpc::meta(&parts.headers, format, Some(peer));
    drop(parts);
    if json {
        rpc::json(server, meta, body).await
    } else {
        rpc::xml(server, meta, body).await
    }
}
