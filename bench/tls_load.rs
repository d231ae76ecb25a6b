//! Load for the TLS benchmarks (bench/tls_bench.py), in two modes, on a
//! current-thread runtime (pin it to one CPU):
//!
//! - `handshakes ADDR SECS CONNS`: CONNS connections at a time, each
//!   connecting, handshaking (TLS 1.3, no resumption), sending `GET /`,
//!   reading the answer and closing; prints full handshakes per second.
//! - `rpc URL SECS CONNS BODIES`: CONNS keep-alive connections (plain or
//!   TLS, after the URL's scheme), each POSTing the XML-RPC bodies of the
//!   file BODIES (separated by NUL bytes) in turn and reading each answer
//!   before the next; prints calls per second. Its work per call is a
//!   write and a read and, over TLS, one record sealed and one opened: a
//!   fraction of the server's, so one core of it keeps one core of a
//!   server busy (wrk with a Lua request function does not, over TLS).
//!
//! It does not verify the server's certificate or signature (a benchmark,
//! not a client to copy): per handshake it then does less work than the
//! server (no ECDSA verification).
//!
//! `cargo run --release --example tls_load -- handshakes 127.0.0.1:8443 8 16`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Takes any certificate and any signature: the load generator must not
/// be the bottleneck (see the module's doc).
#[derive(Debug)]
struct NoVerify;

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA256,
            SignatureScheme::ED25519,
        ]
    }
}

/// One connection: connect, handshake, `GET /`, read to the end.
async fn handshake(connector: &TlsConnector, addr: &str) -> std::io::Result<()> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("127.0.0.1").expect("a name");
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut buf = Vec::with_capacity(512);
    tls.read_to_end(&mut buf).await?;
    if !buf.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other("not a 200"));
    }
    Ok(())
}

/// Reads one HTTP/1.1 response with a Content-Length from `io`, using
/// `buf` across calls; fails on anything but a 200.
async fn response<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let bad = |what: &str| std::io::Error::other(what.to_string());
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head"))?;
            if !head.starts_with("HTTP/1.1 200") {
                return Err(bad(head));
            }
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .ok_or_else(|| bad("no content-length"))?;
            let total = end + 4 + len;
            while buf.len() < total {
                if read_more(io, buf).await? == 0 {
                    return Err(bad("closed"));
                }
            }
            buf.drain(..total);
            return Ok(());
        }
        if read_more(io, buf).await? == 0 {
            return Err(bad("closed"));
        }
    }
}

async fn read_more<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16384];
    let n = io.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Calls on one kept-alive connection until `end`; counts them.
async fn calls<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    requests: Arc<Vec<Vec<u8>>>,
    start: usize,
    end: Instant,
    done: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(16384);
    let mut i = start;
    while Instant::now() < end {
        io.write_all(&requests[i % requests.len()]).await?;
        response(&mut io, &mut buf).await?;
        done.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    Ok(())
}

fn client_config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn usage() -> ! {
    eprintln!("usage: tls_load handshakes ADDR SECS CONNS | tls_load rpc URL SECS CONNS BODIES");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
    };
    let (mode, target) = match (args.first(), args.get(1)) {
        (Some(m), Some(t)) => (m.clone(), t.clone()),
        _ => usage(),
    };
    let secs = num(2, 8);
    let conns = num(3, 16) as usize;
    let connector = TlsConnector::from(client_config());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let what = match mode.as_str() {
        "handshakes" => {
            rt.block_on(async {
                let workers: Vec<_> = (0..conns)
                    .map(|_| {
                        let (connector, addr) = (connector.clone(), target.clone());
                        let (done, errors) = (done.clone(), errors.clone());
                        tokio::spawn(async move {
                            while Instant::now() < end {
                                match handshake(&connector, &addr).await {
                                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                                };
                            }
                        })
                    })
                    .collect();
                for w in workers {
                    let _ = w.await;
                }
            });
            "handshakes"
        }
        "rpc" => {
            let Some(file) = args.get(4) else { usage() };
            let (tls, addr) = match (
                target.strip_prefix("https://"),
                target.strip_prefix("http://"),
            ) {
                (Some(a), _) => (true, a.trim_end_matches('/').to_string()),
                (None, Some(a)) => (false, a.trim_end_matches('/').to_string()),
                _ => usage(),
            };
            let bodies = std::fs::read(file).expect("the bodies file");
            let requests: Arc<Vec<Vec<u8>>> = Arc::new(
                bodies
                    .split(|&b| b == 0)
                    .filter(|b| !b.is_empty())
                    .map(|b| {
                        let mut r = format!(
                            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(b);
                        r
                    })
                    .collect(),
            );
            rt.block_on(async {
                let workers: Vec<_> = (0..conns)
                    .map(|k| {
                        let (connector, addr, requests) =
                            (connector.clone(), addr.clone(), requests.clone());
                        let (done, errors) = (done.clone(), errors.clone());
                        tokio::spawn(async move {
                            let r = async {
                                let tcp = TcpStream::connect(&addr).await?;
                                tcp.set_nodelay(true)?;
                                let first = k * 7919;
                                if tls {
                                    let name = ServerName::try_from("127.0.0.1").expect("a name");
                                    let s = connector.connect(name, tcp).await?;
                                    calls(s, requests, first, end, done).await
                                } else {
                                    calls(tcp, requests, first, end, done).await
                                }
                            };
                            if r.await.is_err() {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                for w in workers {
                    let _ = w.await;
                }
            });
            "calls"
        }
        _ => usage(),
    };
    let took = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{what}={n} secs={took:.2} {what}/s={:.0} errors={}",
        n as f64 / took,
        errors.load(Ordering::Relaxed)
    );
}
