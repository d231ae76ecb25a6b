//! The TLS server certificate and `host.https_only`: which certificate is
//! served (found, checked or made at start-up), `host.get_server_certificate`,
//! `host.install_server_certificate`, `host.reset_server_certificate` and
//! `host.set_https_only`.
//!
//! The certificate lives in `<state-dir>/tls/` (`server.pem`, `server.key`
//! mode 0600), unless the operator names files with `--tls-cert` and
//! `--tls-key`. At start-up a state-directory pair that does not parse or
//! does not match (a crash between the two renames of an install, a file
//! edited by hand) is replaced by a new self-signed one, with a warning;
//! one outside its dates is served with a warning. An operator's pair gets
//! the checks of an install, and a bad one stops the start. An install or
//! reset writes both files durably, then swaps the served certificate:
//! the next handshake gets it, established connections keep theirs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::auth::tls::{self, CertError, Dates, Offer, Pair, Served, Subject};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::model::schema::host;
use crate::model::RowExt;
use crate::registry::Write;
use crate::storage::secret_file;
use crate::wire::Ref;

use super::Domain;

/// Where the served certificate comes from.
#[derive(Debug, Clone)]
enum Source {
    /// `<state-dir>/tls/`: installed and reset through the API.
    StateDir(PathBuf),
    /// `--tls-cert`/`--tls-key`: the operator's files, never written.
    Operator,
}

/// The TLS state of the host.
pub struct Tls {
    served: Arc<Served>,
    source: Source,
    subject: Subject,
    /// One install or reset at a time (their file writes must not mix).
    changing: tokio::sync::Mutex<()>,
    https_only: AtomicBool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("source", &self.source)
            .field("served", &self.served)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// The served certificate, for the TLS listener.
    pub fn served(&self) -> Arc<Served> {
        self.served.clone()
    }

    /// True while plain HTTP is refused (`host.https_only`).
    pub fn https_only(&self) -> bool {
        self.https_only.load(Ordering::Relaxed)
    }
}

/// Seconds since the epoch.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn text(bytes: Vec<u8>, path: &Path) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not PEM text", path.display()))
}

fn log_served(path: &Path, pair: &Pair) {
    tracing::info!(
        "TLS certificate: {} (SHA-256 fingerprint {}, valid until {})",
        path.display(),
        pair.fingerprint,
        tls::rfc3339(pair.not_after)
    );
}

/// The operator's certificate and key, with every check of an install.
fn operator_pair(cert: &Path, key: &Path) -> anyhow::Result<Pair> {
    let read = |p: &Path| -> anyhow::Result<String> {
        let bytes = secret_file::read_small(p)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?
            .ok_or_else(|| anyhow::anyhow!("{} does not exist", p.display()))?;
        text(bytes, p)
    };
    let (c, k) = (read(cert)?, read(key)?);
    let offer = Offer {
        certificate: &c,
        private_key: &k,
        chain: "",
    };
    tls::check(offer, now(), Dates::Enforce).map_err(|e| {
        anyhow::anyhow!(
            "refusing to start: --tls-cert {} with --tls-key {}: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// A new self-signed pair, written into `dir`.
fn make_pair(dir: &Path, subject: &Subject) -> anyhow::Result<Pair> {
    let pair = tls::self_signed(subject, now()).map_err(anyhow::Error::msg)?;
    secret_file::write_pair(dir, pair.cert_pem.as_bytes(), pair.key_pem.as_bytes()).map_err(
        |e| {
            anyhow::anyhow!(
                "cannot write the TLS certificate into {}: {e}",
                dir.display()
            )
        },
    )?;
    Ok(pair)
}

/// The pair in the state directory, or a new one if there is none or it
/// cannot be served.
fn state_pair(dir: &Path, subject: &Subject) -> anyhow::Result<Pair> {
    let files = secret_file::read_pair(dir).map_err(|e| {
        anyhow::anyhow!("cannot read the TLS certificate in {}: {e}", dir.display())
    })?;
    let Some(files) = files else {
        let pair = make_pair(dir, subject)?;
        tracing::info!("no TLS certificate yet: generated a self-signed one (ECDSA P-256)");
        return Ok(pair);
    };
    let found = match (String::from_utf8(files.cert), String::from_utf8(files.key)) {
        (Ok(c), Ok(k)) => {
            let offer = Offer {
                certificate: &c,
                private_key: &k,
                chain: "",
            };
            tls::check(offer, now(), Dates::Ignore)
        }
        _ => Err(CertError::Invalid),
    };
    match found {
        Ok(pair) => {
            if let Err(e) = pair.valid_at(now()) {
                tracing::warn!(
                    "the TLS certificate in {} is served, but {e}: install a new one \
                     (host.install_server_certificate) or make one (host.reset_server_certificate)",
                    dir.display()
                );
            }
            Ok(pair)
        }
        Err(e) => {
            tracing::warn!(
                "the TLS certificate in {} cannot be served ({e}): generating a new self-signed one",
                dir.display()
            );
            make_pair(dir, subject)
        }
    }
}

/// Finds, checks or makes the certificate to serve (see the module's
/// doc); `https_only` is the host's persisted flag.
pub fn bootstrap(config: &Config, host_name: &str, https_only: bool) -> anyhow::Result<Tls> {
    let subject = Subject::new(host_name, &[config.listen, config.listen_tls]);
    let (pair, source, path) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (operator_pair(cert, key)?, Source::Operator, cert.clone()),
        _ => {
            let dir = config.state_dir.join("tls");
            let pair = state_pair(&dir, &subject)?;
            (
                pair,
                Source::StateDir(dir.clone()),
                dir.join(secret_file::CERT),
            )
        }
    };
    log_served(&path, &pair);
    if https_only {
        tracing::info!("host.https_only is set: plain HTTP answers 403");
    }
    Ok(Tls {
        served: Arc::new(Served::new(&pair)),
        source,
        subject,
        changing: tokio::sync::Mutex::new(()),
        https_only: AtomicBool::new(https_only),
    })
}

/// xapi's error for a refused certificate.
pub fn api_error(e: CertError) -> ApiError {
    match e {
        CertError::KeyInvalid => ApiError::server_certificate_key_invalid(),
        CertError::KeyAlgorithmNotSupported(a) => {
            ApiError::server_certificate_key_algorithm_not_supported(a)
        }
        CertError::KeyRsaLengthNotSupported(n) => {
            ApiError::server_certificate_key_rsa_length_not_supported(n)
        }
        CertError::KeyRsaMultiNotSupported => {
            ApiError::server_certificate_key_rsa_multi_not_supported()
        }
        CertError::Invalid => ApiError::server_certificate_invalid(),
        CertError::NotValidYet { now, not_before } => {
            ApiError::server_certificate_not_valid_yet(now, not_before)
        }
        CertError::Expired { now, not_after } => {
            ApiError::server_certificate_expired(now, not_after)
        }
        CertError::KeyMismatch => ApiError::server_certificate_key_mismatch(),
        CertError::SignatureNotSupported => ApiError::server_certificate_signature_not_supported(),
        CertError::ChainInvalid => ApiError::server_certificate_chain_invalid(),
    }
}

fn this_host(d: &Domain, h: Ref) -> ApiResult<()> {
    if h == d.host {
        Ok(())
    } else {
        Err(ApiError::handle_invalid(host::NAME, h))
    }
}

/// The state directory the API may write, or OPERATION_NOT_ALLOWED.
fn writable(t: &Tls) -> ApiResult<PathBuf> {
    match &t.source {
        Source::StateDir(dir) => Ok(dir.clone()),
        Source::Operator => Err(ApiError::not_allowed(
            "the TLS certificate comes from --tls-cert and --tls-key: replace those files and restart",
        )),
    }
}

/// `host.get_server_certificate`: the served leaf, PEM.
pub fn server_certificate(d: &Domain, h: Ref) -> ApiResult<String> {
    this_host(d, h)?;
    Ok(d.tls.served.current().leaf_pem.clone())
}

/// Writes `pair` durably, then serves it.
async fn put(d: &Domain, dir: PathBuf, pair: Pair, what: &str) -> ApiResult<()> {
    let (cert, key) = (pair.cert_pem.clone(), pair.key_pem.clone());
    let d2 = dir.clone();
    super::blocking(move || secret_file::write_pair(&d2, cert.as_bytes(), key.as_bytes()))
        .await?
        .map_err(|e| {
            ApiError::internal(format_args!(
                "writing the TLS certificate into {}: {e}",
                dir.display()
            ))
        })?;
    d.tls.served.swap(&pair);
    tracing::info!(
        "{what}: {} (SHA-256 fingerprint {}, valid until {}); new connections get it",
        dir.join(secret_file::CERT).display(),
        pair.fingerprint,
        tls::rfc3339(pair.not_after)
    );
    Ok(())
}

/// Runs a check or a generation off the RPC threads (RSA keys take
/// milliseconds to load).
async fn compute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// `host.install_server_certificate`: xapi's checks, then the files, then
/// the swap. The key never reaches an error or the log.
pub async fn install(
    d: &Domain,
    h: Ref,
    certificate: String,
    private_key: String,
    chain: String,
) -> ApiResult<()> {
    this_host(d, h)?;
    let dir = writable(&d.tls)?;
    let _one = d.tls.changing.lock().await;
    let pair = compute(move || {
        let offer = Offer {
            certificate: &certificate,
            private_key: &private_key,
            chain: &chain,
        };
        tls::check(offer, now(), Dates::Enforce)
    })
    .await?
    .map_err(api_error)?;
    put(d, dir, pair, "installed a new TLS certificate").await
}

/// `host.reset_server_certificate`: a new self-signed certificate, as at
/// first start.
pub async fn reset(d: &Domain, h: Ref) -> ApiResult<()> {
    this_host(d, h)?;
    let dir = writable(&d.tls)?;
    let _one = d.tls.changing.lock().await;
    let subject = d.tls.subject.clone();
    let pair = compute(move || tls::self_signed(&subject, now()))
        .await?
        .map_err(ApiError::internal)?;
    put(d, dir, pair, "made a new self-signed TLS certificate").await
}

/// `host.set_https_only`: durable, then in force for the next plain-HTTP
/// request (of any connection).
pub async fn set_https_only(d: &Domain, h: Ref, value: bool) -> ApiResult<()> {
    this_host(d, h)?;
    let ((), commit) = d.registry.update(host::CLASS, h, Write::Durable, |f| {
        f.set(host::HTTPS_ONLY, value);
        // Under the row's lock: the flag follows the row's order of writes.
        d.tls.https_only.store(value, Ordering::Relaxed);
        Ok(())
    })?;
    super::durable(commit).await?;
    tracing::info!(
        "host.https_only = {value}: plain HTTP {}",
        if value { "answers 403" } else { "is served" }
    );
    Ok(())
}
