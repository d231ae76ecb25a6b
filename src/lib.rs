//! xapid: a XenAPI-compatible server for disk images and the long-running
//! block jobs that copy them.
//!
//! # The way of a call
//!
//! ```text
//! HTTP body -> wire::xmlrpc / wire::jsonrpc decode
//!           -> api::dispatch (model: method, arity, types; session check)
//!           -> api::implicit (getters, setters, records) | api::<class> handlers
//!           -> registry (dashmap rows; durable store for persisted classes)
//!           -> Value -> wire encode -> HTTP reply
//! ```
//!
//! # Layout
//!
//! - [`config`]: command line + config file + environment.
//! - [`model`]: the datamodel (`datamodel/*.toml`), its checks, and what is
//!   derived from it (method table, docs).
//! - [`wire`]: values, datetimes, the XML-RPC and JSON-RPC codecs.
//! - [`http`]: hyper server, routes, limits, connection cap, shutdown.
//! - [`api`]: dispatch, implicit messages, one file per class.
//! - [`jobs`]: the block-job engine (QEMU's state machine so far).
//! - [`registry`]: objects by ref and the durable store (redb).
//! - [`auth`]: password hashes and login throttling.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod jobs;
pub mod model;
pub mod registry;
pub mod storage;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use api::Server;
pub use config::Config;

/// A started server.
pub struct Running {
    /// The address it listens on (the real port when configured with 0).
    pub addr: SocketAddr,
    /// Its state.
    pub server: Arc<Server>,
    stop: CancellationToken,
    http: JoinHandle<()>,
}

/// Builds the server state, binds the listener, and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listen = config.listen;
    let server = api::build(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    api::session::spawn_gc(&server);
    let stop = CancellationToken::new();
    let http = tokio::spawn(http::serve(server.clone(), listener, stop.clone()));
    tracing::info!("listening on http://{addr}/");
    Ok(Running {
        addr,
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
        self.server.registry.events().close();
        let _ = self.http.await;
        let server = self.server;
        server.shutdown.cancel();
        server.tracker.close();
        if tokio::time::timeout(server.config.shutdown_grace, server.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: background work did not stop in time");
        }
        let s = server.clone();
        let _ = tokio::task::spawn_blocking(move || s.registry.close()).await;
        tracing::info!("stopped");
    }
}
