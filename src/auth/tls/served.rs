//! The certificate the TLS listener serves, and the listener's rustls
//! configuration. The certificate is looked up at every handshake, so a
//! swap reaches the next connection at once; a connection already
//! established keeps the certificate it was made with.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::check::Pair;

/// What is served now.
#[derive(Debug)]
pub struct Current {
    /// The chain and signing key given to rustls.
    pub certified: Arc<CertifiedKey>,
    /// The leaf certificate, PEM.
    pub leaf_pem: String,
    /// Its SHA-256 fingerprint.
    pub fingerprint: String,
}

impl From<&Pair> for Current {
    fn from(p: &Pair) -> Current {
        Current {
            certified: p.certified.clone(),
            leaf_pem: p.leaf_pem.clone(),
            fingerprint: p.fingerprint.clone(),
        }
    }
}

/// The served certificate, swappable while it is served.
pub struct Served {
    current: RwLock<Arc<Current>>,
}

impl fmt::Debug for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Served")
            .field("fingerprint", &self.current().fingerprint)
            .finish()
    }
}

impl Served {
    /// Serves `pair`.
    pub fn new(pair: &Pair) -> Served {
        Served {
            current: RwLock::new(Arc::new(Current::from(pair))),
        }
    }

    /// What is served now.
    pub fn current(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `pair` from the next handshake on.
    pub fn swap(&self, pair: &Pair) {
        let new = Arc::new(Current::from(pair));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = new;
    }
}

impl ResolvesServerCert for Served {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().certified.clone())
    }
}

/// The listener's configuration: TLS 1.3 and 1.2 with ring's default
/// cipher suites and key exchanges, no client certificates, HTTP/1.1
/// offered by ALPN, the certificate from `served`.
pub fn server_config(served: Arc<Served>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(served);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
