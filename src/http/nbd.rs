//! The NBD listener (`--nbd-listen`, default `127.0.0.1:10809`): the second
//! network front end of the domain beside HTTP. It runs on a runtime of
//! its own (two worker threads, and its blocking threads for the reads),
//! at a lower CPU priority than the RPC threads: bulk reads by many
//! clients must not delay API calls. Each connection takes a
//! permit (`nbd_max_connections`; beyond it a client is closed at once),
//! negotiates within `tls_handshake_timeout` (`STARTTLS` with the host's
//! certificate is offered, not required), then is served until it
//! disconnects or the server stops. Exports, sessions and reads are
//! `domain::nbd`; the protocol is `wire::nbd`.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::domain::nbd::{self, VdiExports};
use crate::domain::stats::Stats;
use crate::wire::nbd::{negotiate, serve, BoxStream, SessionError, Tls, TlsUpgrade};

fn upgrade(config: Arc<rustls::ServerConfig>) -> TlsUpgrade<TcpStream> {
    Box::new(move |s| {
        Box::pin(async move {
            let t = tokio_rustls::TlsAcceptor::from(config).accept(s).await?;
            Ok(Box::new(t) as BoxStream)
        })
    })
}

/// The niceness of the NBD threads (the RPC threads run at 0).
const NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`NICE`] (on Linux the
/// nice value is per thread).
fn lower_priority() {
    // SAFETY: integer arguments only; `who = 0` is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, NICE);
    }
}

/// Starts the NBD server's thread: its own runtime, at a lower priority,
/// serving `listener` until `stop` is cancelled.
pub fn spawn(
    server: Arc<Api>,
    listener: std::net::TcpListener,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("xapid-nbd")
        .on_thread_start(lower_priority)
        .enable_all()
        .build()?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("xapid-nbd-main".into())
        .spawn(move || {
            lower_priority();
            rt.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(l) => serve_nbd(server, l, stop).await,
                    Err(e) => tracing::warn!(error = %e, "NBD listener unusable"),
                }
            });
        })?;
    Ok(())
}

/// Accepts NBD clients on `listener` until `stop` is cancelled; each runs
/// on its own task (not waited for at shutdown: a reader holds nothing
/// that needs saving).
pub async fn serve_nbd(server: Arc<Api>, listener: TcpListener, stop: CancellationToken) {
    let d = server.domain.clone();
    // One TLS configuration: it serves whichever certificate is current.
    let tls = match crate::auth::tls::server_config(d.tls.served()) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "NBD: STARTTLS is off");
            None
        }
    };
    let permits = Arc::new(Semaphore::new(d.config.nbd_max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "NBD accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "NBD connection refused: too many connections");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (d, stop, tls) = (d.clone(), stop.clone(), tls.clone());
        Stats::add(&d.stats.nbd_accepted, 1);
        Stats::add(&d.stats.nbd_open, 1);
        tokio::spawn(async move {
            let _permit = permit;
            let _open = Open(d.clone());
            tokio::select! {
                _ = stop.cancelled() => {}
                r = connection(&d, stream, tls) => match r {
                    Ok(()) | Err(SessionError::Aborted) => {}
                    Err(e) => tracing::debug!(%peer, error = %e, "NBD connection ended"),
                },
            }
        });
    }
}

/// Counts an NBD connection as open while it lives.
struct Open(Arc<crate::domain::Domain>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0
            .stats
            .nbd_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn connection(
    d: &Arc<crate::domain::Domain>,
    stream: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), SessionError> {
    let exports = VdiExports(d.clone());
    let tls = match tls {
        Some(c) => Tls::Optional(upgrade(c)),
        None => Tls::Off,
    };
    let negotiated = tokio::time::timeout(
        d.config.tls_handshake_timeout,
        negotiate(stream, &exports, tls),
    )
    .await
    .map_err(|_| SessionError::Protocol("handshake timed out"))??;
    let export = nbd::open(d, &negotiated.session.export.name).await;
    let export = match export {
        Ok(e) => e,
        Err(e) => {
            tracing::info!(error = %e, "NBD export refused at transmission");
            return Err(SessionError::Refused(e));
        }
    };
    serve(negotiated.io, &negotiated.session, &export).await
}
