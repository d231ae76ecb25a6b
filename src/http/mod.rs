//! The HTTP server (hyper 1, HTTP/1.1 with keep-alive) on two listeners,
//! plain and TLS: routing, body limits, one connection cap over both, and
//! graceful shutdown.
//!
//! ```text
//! accept, then a permit (one per connection, from the cap both listeners share)
//!    -> [TLS: handshake within tls_handshake_timeout, tls.rs]
//!    -> Conn::serve, the one hyper setup of both: conn watched by GracefulShutdown
//!    -> [plain and host.https_only: 403, nothing read]
//!    -> route: POST /jsonrpc -> rpc::json | POST * -> rpc::xml | OPTIONS | GET / (web.rs)
//! ```

pub mod audit;
pub mod body;
pub mod data;
pub mod metrics;
pub mod nbd;
pub mod overload;
pub mod range;
pub mod rpc;
pub mod tls;
pub mod web;

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
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::wire::records::Format;
use rpc::{plain, Body};

/// The two bound listeners.
pub struct Listeners {
    /// Plain HTTP.
    pub plain: TcpListener,
    /// HTTPS.
    pub tls: TcpListener,
    /// The TLS side of the HTTPS listener ([`tls::acceptor`]).
    pub acceptor: TlsAcceptor,
}

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP: refused while `host.https_only` is set.
    Http,
    /// HTTP over TLS.
    Https,
}

/// What every accepted connection shares.
#[derive(Clone)]
struct Shared {
    server: Arc<Api>,
    permits: Arc<Semaphore>,
    /// Places for connections waiting for a permit.
    waiting: Arc<Semaphore>,
    /// Refusals being written.
    refusing: Arc<Semaphore>,
    stop: CancellationToken,
    /// The HTTPS port, for the reason a refused plain request is given.
    tls_port: u16,
}

/// Serves both listeners until `stop` is cancelled, then lets in-flight
/// calls finish (within the configured grace period). The connection cap
/// (`max_connections`) is shared: a TLS connection holds its permit from
/// accept, through its handshake, to its end.
pub async fn serve(server: Arc<Api>, listeners: Listeners, stop: CancellationToken) {
    let Listeners {
        plain,
        tls,
        acceptor,
    } = listeners;
    let shared = Shared {
        permits: Arc::new(Semaphore::new(server.domain.config.max_connections)),
        waiting: Arc::new(Semaphore::new(server.domain.config.max_waiting_connections)),
        refusing: Arc::new(Semaphore::new(REFUSING)),
        server: server.clone(),
        stop,
        tls_port: tls.local_addr().map_or(0, |a| a.port()),
    };
    let graceful = GracefulShutdown::new();
    tokio::join!(
        accept_loop(&shared, plain, None, &graceful),
        accept_loop(&shared, tls, Some(acceptor), &graceful),
    );
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(server.domain.config.shutdown_grace) => {
            tracing::warn!("shutdown: some connections did not finish in time");
        }
    }
}

/// Accepts on one listener until stopped; each connection runs on its own
/// task, the TLS ones through their handshake first.
async fn accept_loop(
    shared: &Shared,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    graceful: &GracefulShutdown,
) {
    let stop = &shared.stop;
    loop {
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
        // A place under the cap, else a bounded wait for one, else a quick
        // refusal (overload.rs): the accept loop itself never waits.
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        if let Ok(permit) = shared.permits.clone().try_acquire_owned() {
            launch(shared, stream, peer, watcher, permit, &tls);
            continue;
        }
        let is_tls = tls.is_some();
        let Ok(place) = shared.waiting.clone().try_acquire_owned() else {
            refuse(shared, stream, is_tls);
            continue;
        };
        let (shared2, tls2) = (shared.clone(), tls.clone());
        tokio::spawn(async move {
            let wait = shared2.server.domain.config.connection_wait;
            let permit = tokio::select! {
                _ = shared2.stop.cancelled() => return,
                p = tokio::time::timeout(wait, shared2.permits.clone().acquire_owned()) => p,
            };
            drop(place);
            match permit {
                Ok(Ok(permit)) => launch(&shared2, stream, peer, watcher, permit, &tls2),
                _ => refuse(&shared2, stream, is_tls),
            }
        });
    }
}

/// Serves an accepted connection that holds its place under the cap.
fn launch(
    shared: &Shared,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    watcher: Watcher,
    permit: OwnedSemaphorePermit,
    tls: &Option<TlsAcceptor>,
) {
    let conn = Conn {
        shared: shared.clone(),
        peer,
        watcher,
        permit,
    };
    match tls {
        None => {
            tokio::spawn(conn.serve(stream, Scheme::Http));
        }
        Some(acceptor) => {
            tokio::spawn(tls::handshake_then_serve(acceptor.clone(), stream, conn));
        }
    }
}

/// Most refusals being written at once; beyond, a connection is closed
/// without a word (so a storm cannot pile up sockets being answered).
const REFUSING: usize = 256;

/// Refuses a connection for want of a place.
fn refuse(shared: &Shared, stream: tokio::net::TcpStream, tls: bool) {
    match shared.refusing.clone().try_acquire_owned() {
        Ok(p) => {
            tokio::spawn(async move {
                overload::refuse_busy(stream, tls).await;
                drop(p);
            });
        }
        Err(_) => drop(stream),
    }
}

/// One accepted connection, before hyper takes it.
struct Conn {
    shared: Shared,
    peer: SocketAddr,
    /// Keeps shutdown waiting for this connection.
    watcher: Watcher,
    /// Its place under the connection cap, released when it ends.
    permit: OwnedSemaphorePermit,
}

impl Conn {
    /// Serves HTTP/1.1 on `io` (a TCP stream or a TLS stream over one)
    /// until the client goes or shutdown ends it: the one hyper setup of
    /// both listeners.
    async fn serve<I>(self, io: I, scheme: Scheme)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            shared,
            peer,
            watcher,
            permit,
        } = self;
        let tls_port = shared.tls_port;
        let s = shared.server;
        let config = &s.domain.config;
        let io = overload::StallGuard::new(io, config.write_stall_timeout);
        let conn = http1::Builder::new()
            .keep_alive(true)
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .serve_connection(
                TokioIo::new(io),
                service_fn(move |req| {
                    let s = s.clone();
                    async move {
                        if scheme == Scheme::Http && s.domain.tls.https_only() {
                            return Ok::<_, Infallible>(https_only(tls_port));
                        }
                        Ok(route(&s, req, peer).await)
                    }
                }),
            );
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
        drop(permit);
    }
}

/// The answer to every plain-HTTP request while `host.https_only` is set:
/// 403, one line, and the connection closed (the body is not read).
fn https_only(tls_port: u16) -> Response<Body> {
    let mut r = plain(
        StatusCode::FORBIDDEN,
        &format!(
            "plain HTTP is turned off on this server (host.https_only): use HTTPS, port {tls_port}"
        ),
    );
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
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
        (&Method::GET, "/metrics") => return Box::pin(metrics::get(server, req, peer)).await,
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
        // The web view (web.rs): the page and its files.
        Method::GET | Method::HEAD if web::is_asset(req.uri().path()) => {
            return web::serve(req.uri().path(), req.headers());
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
    let idle = server.domain.config.body_idle_timeout;
    let Ok(collected) = tokio::time::timeout(idle, Limited::new(body, max).collect()).await else {
        let mut r = plain(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        );
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return r;
    };
    let body = match collected {
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
