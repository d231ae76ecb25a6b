//! `STARTTLS` with a real TLS upgrade (tokio-rustls, a self-signed
//! certificate) and nbdinfo/nbdcopy over `nbds://`.

use std::sync::Arc;

use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpStream;

use super::super::{BoxStream, Tls, TlsUpgrade};
use super::clients::{image, ok, run, scratch};
use super::support::*;

fn upgrade(config: Arc<rustls::ServerConfig>) -> TlsUpgrade<TcpStream> {
    Box::new(move |s| {
        Box::pin(async move {
            let t = tokio_rustls::TlsAcceptor::from(config).accept(s).await?;
            Ok(Box::new(t) as BoxStream)
        })
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn nbdinfo_and_nbdcopy_over_starttls() {
    if std::process::Command::new("nbdinfo")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: nbdinfo is not installed");
        return;
    }
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let d = scratch("tls");
    std::fs::write(d.join("ca-cert.pem"), ck.cert.pem()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    let config = Arc::new(config);
    let mem = image();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let m2 = mem.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let (mem, config) = (Shared(m2.clone()), config.clone());
            tokio::spawn(async move {
                let _ = connection(s, mem, Tls::Required(upgrade(config))).await;
            });
        }
    });
    let uri = format!("nbds://{addr}/disk?tls-certificates={}", d.display());
    let out = ok(&run("nbdinfo", vec![uri.clone()]).await);
    assert!(out.contains("with TLS"), "{out}");
    let raw = d.join("out.raw");
    ok(&run("nbdcopy", vec![uri, raw.display().to_string()]).await);
    assert_eq!(std::fs::read(&raw).unwrap(), mem.bytes);
    // Without TLS, FORCEDTLS refuses.
    let o = run("nbdinfo", vec![format!("nbd://{addr}/disk")]).await;
    assert!(!o.status.success());
    std::fs::remove_dir_all(d).unwrap();
}
