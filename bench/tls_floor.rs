//! The floor of the TLS handshake benchmark: hyper and rustls as xapid
//! uses them (ring, TLS 1.3 and 1.2, an ECDSA P-256 self-signed
//! certificate, HTTP/1.1 by ALPN, a current-thread runtime) answering
//! every request with a canned reply, and nothing else. The gap between
//! this and xapid's handshakes per second is ours.
//!
//! `cargo run --release --example tls_floor -- ADDR`

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

// The same allocator as xapid.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config() -> Arc<ServerConfig> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("a key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("a certificate");
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], der)
        .expect("the certificate");
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18443".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let acceptor = TlsAcceptor::from(config());
        let l = TcpListener::bind(&addr).await.expect("bind");
        eprintln!("listening on https://{}/", l.local_addr().expect("addr"));
        let body = Bytes::from_static(
            b"xapid: XenAPI over XML-RPC (POST /) and JSON-RPC (POST /jsonrpc)\n",
        );
        loop {
            let (c, _) = l.accept().await.expect("accept");
            c.set_nodelay(true).ok();
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(c).await else {
                    return;
                };
                let svc = service_fn(move |_req: Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "text/plain; charset=utf-8")
                                .body(Full::new(body))
                                .expect("a response"),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
}
