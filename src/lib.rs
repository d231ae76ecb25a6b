//! xapid: a XenAPI-compatible server for disk images and the long-running
//! block jobs that copy them.
//!
//! # The way of a call
//!
//! ```text
//! HTTP body -> wire::xmlrpc / wire::jsonrpc decode
//!           -> api::dispatch (model: method, arity, types; session check)
//!           -> api::implicit (getters, setters, records) | api::<class> handler
//!           -> domain (object rules) | jobs (block jobs, copies, transactions)
//!           -> registry (dashmap rows; durable store) + storage (files)
//!           -> Value -> wire encode -> HTTP reply
//! ```
//!
//! # Layers, one way
//!
//! `error <- wire <- model <- registry <- config <- domain <- jobs <- api <-
//! http <- server`; `storage`, `auth` and `metrics` are leaves. A module may use the ones to
//! its left (and the leaves), never one to its right; `tests/layers.rs`
//! checks it. `docs/design.md` ("Layers and who may call whom") has the map.
//!
//! - [`error`]: `ApiError`, the XenAPI failure every layer returns.
//! - [`config`]: command line + config file + environment.
//! - [`wire`]: values, datetimes, the XML-RPC and JSON-RPC codecs.
//! - [`model`]: the datamodel (`datamodel/*.toml`), its checks, and what is
//!   derived from it (method table, docs).
//! - [`registry`]: objects by ref, the change log, and the durable store.
//! - [`storage`]: the only code that touches files: SR directories, raw and
//!   qcow2 images, the snapshot protocol's file steps.
//! - [`auth`]: password hashes, login throttling, and TLS certificates
//!   (checks, generation, the served one).
//! - [`metrics`]: lock-free histograms and the Prometheus page of a scrape.
//! - [`domain`]: the rules about tasks, sessions, claims, SRs, VDIs,
//!   snapshots, VMs and transfers that handlers, HTTP and jobs share.
//! - [`jobs`]: the block-job engine, copies and transactions.
//! - [`api`]: dispatch, implicit messages, one thin file per class.
//! - [`http`]: hyper server on a plain and a TLS listener, routes, limits,
//!   connection cap, data paths.
//! - [`server`]: the composition root and restart recovery.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod server;
pub mod storage;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use api::Api;
pub use config::Config;

/// A started server.
pub struct Running {
    /// The plain-HTTP listener's address (the real port when configured
    /// with 0).
    pub addr: SocketAddr,
    /// The HTTPS listener's address (likewise).
    pub tls_addr: SocketAddr,
    /// The NBD server's address, if it is on.
    pub nbd_addr: Option<SocketAddr>,
    /// Its state.
    pub server: Arc<Api>,
    stop: CancellationToken,
    http: JoinHandle<()>,
}

/// The kernel's queue of connections not yet accepted (capped by
/// `net.core.somaxconn`): deep enough that a burst of clients is accepted,
/// and then served or refused (`http::overload`), rather than having its
/// SYNs dropped and retried a second or more later.
const BACKLOG: u32 = 4096;

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let fail = |e: std::io::Error| anyhow::anyhow!("cannot listen on {addr}: {e}");
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(fail)?;
    // As std's and tokio's own bind: a restarted server gets its port back
    // at once, whatever connections of the last one linger in TIME_WAIT.
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(BACKLOG).map_err(fail)
}

/// Checks the configuration, builds the server state (and its TLS
/// certificate), binds both listeners, and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    config.check()?;
    let (listen, listen_tls, nbd_listen) = (config.listen, config.listen_tls, config.nbd_listen);
    let server = server::build(config).await?;
    let plain = bind(listen).await?;
    let tls = bind(listen_tls).await?;
    let acceptor = http::tls::acceptor(&server)?;
    let (addr, tls_addr) = (plain.local_addr()?, tls.local_addr()?);
    server::spawn_collectors(&server.domain);
    let stop = CancellationToken::new();
    let listeners = http::Listeners {
        plain,
        tls,
        acceptor,
    };
    // The NBD server is an extra: a port another server holds turns it off
    // with a warning rather than stopping the API.
    let mut nbd_addr = None;
    if let Some(a) = nbd_listen {
        match TcpListener::bind(a).await {
            Ok(l) => {
                let bound = l.local_addr()?;
                server.domain.nbd.set_bound(vec![bound]);
                http::nbd::spawn(server.clone(), l.into_std()?, stop.clone())?;
                tracing::info!("listening on nbd://{bound}/");
                nbd_addr = Some(bound);
            }
            Err(e) => tracing::warn!("cannot listen for NBD on {a}: {e}; the NBD server is off"),
        }
    }
    let http = tokio::spawn(http::serve(server.clone(), listeners, stop.clone()));
    tracing::info!("listening on http://{addr}/");
    tracing::info!("listening on https://{tls_addr}/");
    Ok(Running {
        addr,
        tls_addr,
        nbd_addr,
        server,
        stop,
        http,
    })
}

impl Running {
    /// Graceful shutdown: stop accepting, let in-flight calls finish, stop
    /// background work, flush the store.
    pub async fn shutdown(self) {
        self.stop.cancel();
        // Calls blocked in event.from/next answer now rather than hold the
        // shutdown until their timeout.
        self.server.domain.registry.events().close();
        let _ = self.http.await;
        let d = self.server.domain.clone();
        d.shutdown.cancel();
        d.tracker.close();
        if tokio::time::timeout(d.config.shutdown_grace, d.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: background work did not stop in time");
        }
        let d2 = d.clone();
        let _ = tokio::task::spawn_blocking(move || d2.registry.close()).await;
        tracing::info!("stopped");
    }
}
