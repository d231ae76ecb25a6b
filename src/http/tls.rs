//! The HTTPS listener's side of a connection: the TLS handshake, bounded
//! by `tls_handshake_timeout` (a client that sends nothing, dribbles, or
//! sends something that is not TLS is dropped and its permit freed), then
//! the same connection serving as plain HTTP.

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::{Conn, Scheme};
use crate::api::Api;

/// The acceptor of the HTTPS listener: rustls over the domain's served
/// certificate (swapped by install and reset without a restart).
pub fn acceptor(server: &Api) -> anyhow::Result<TlsAcceptor> {
    let config = crate::auth::tls::server_config(server.domain.tls.served())
        .map_err(|e| anyhow::anyhow!("cannot configure TLS: {e}"))?;
    Ok(TlsAcceptor::from(config))
}

/// Runs the handshake on `stream` within the configured timeout, then
/// serves the connection; a failed, slow or stopped handshake ends it.
pub(super) async fn handshake_then_serve(acceptor: TlsAcceptor, stream: TcpStream, conn: Conn) {
    let peer = conn.peer;
    let limit = conn.shared.server.domain.config.tls_handshake_timeout;
    let stop = conn.shared.stop.clone();
    let tls = tokio::select! {
        _ = stop.cancelled() => return,
        r = tokio::time::timeout(limit, acceptor.accept(stream)) => r,
    };
    match tls {
        Ok(Ok(tls)) => conn.serve(tls, Scheme::Https).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, ?limit, "TLS handshake timed out"),
    }
}
