//! The checks of an offered certificate and private key, in xapi's order
//! (`ocaml/gencert/lib.ml`): the key (parses; RSA of 2048 to 4096 bits or
//! ECDSA on P-256/P-384), the certificate (parses; valid now), the key
//! matches the certificate, the certificate's signature uses SHA-256 or
//! better, the chain parses. What passes is a [`Pair`]: the certificate
//! and key normalised to PEM and ready to serve.
//!
//! xapid is a little more permissive than xapi: it takes ECDSA keys (xapi:
//! RSA only), PKCS#1 and SEC1 keys besides PKCS#8, SHA-384 and PSS
//! signatures, and further certificates after the first in `certificate`
//! (taken as the start of the chain). No error and no message here ever
//! contains key material.

use std::fmt;
use std::sync::Arc;

use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::key::{self, KeyKind};

/// Why an offered certificate or key was refused: one variant per xapi
/// error code, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertError {
    /// `SERVER_CERTIFICATE_KEY_INVALID`
    KeyInvalid,
    /// `SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED [algorithm]`
    KeyAlgorithmNotSupported(String),
    /// `SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED [length]`
    KeyRsaLengthNotSupported(usize),
    /// `SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED`
    KeyRsaMultiNotSupported,
    /// `SERVER_CERTIFICATE_INVALID`
    Invalid,
    /// `SERVER_CERTIFICATE_NOT_VALID_YET [now, not_before]` (RFC 3339)
    NotValidYet {
        /// The server's time.
        now: String,
        /// The certificate's start.
        not_before: String,
    },
    /// `SERVER_CERTIFICATE_EXPIRED [now, not_after]` (RFC 3339)
    Expired {
        /// The server's time.
        now: String,
        /// The certificate's end.
        not_after: String,
    },
    /// `SERVER_CERTIFICATE_KEY_MISMATCH`
    KeyMismatch,
    /// `SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED`
    SignatureNotSupported,
    /// `SERVER_CERTIFICATE_CHAIN_INVALID`
    ChainInvalid,
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::KeyInvalid => f.write_str("the private key is not a PEM private key"),
            CertError::KeyAlgorithmNotSupported(a) => {
                write!(f, "the private key's algorithm ({a}) is not supported: RSA or ECDSA P-256/P-384 only")
            }
            CertError::KeyRsaLengthNotSupported(n) => {
                write!(f, "the RSA key has {n} bits: 2048 to 4096 only")
            }
            CertError::KeyRsaMultiNotSupported => {
                f.write_str("the RSA key has more than two primes")
            }
            CertError::Invalid => f.write_str("the certificate is not a PEM X.509 certificate"),
            CertError::NotValidYet { now, not_before } => {
                write!(
                    f,
                    "the certificate is not valid before {not_before} (now {now})"
                )
            }
            CertError::Expired { now, not_after } => {
                write!(f, "the certificate expired at {not_after} (now {now})")
            }
            CertError::KeyMismatch => f.write_str("the private key does not match the certificate"),
            CertError::SignatureNotSupported => {
                f.write_str("the certificate is not signed with SHA-256 or better")
            }
            CertError::ChainInvalid => {
                f.write_str("the certificate chain is not a list of PEM X.509 certificates")
            }
        }
    }
}

impl std::error::Error for CertError {}

/// A certificate, its chain and its key as offered (PEM text).
#[derive(Clone, Copy)]
pub struct Offer<'a> {
    /// The server's certificate (further certificates start the chain).
    pub certificate: &'a str,
    /// Its private key.
    pub private_key: &'a str,
    /// Intermediate certificates; `""` for none.
    pub chain: &'a str,
}

impl fmt::Debug for Offer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Offer { .. }")
    }
}

/// Whether the validity dates are checked against the time given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dates {
    /// Refuse a certificate not valid at that time.
    Enforce,
    /// Do not look (a served certificate read back at start-up: its dates
    /// are reported, not held against it).
    Ignore,
}

/// A certificate and key that passed the checks.
pub struct Pair {
    /// What the TLS listener serves: the chain and the signing key.
    pub certified: Arc<CertifiedKey>,
    /// The leaf then the chain, PEM.
    pub cert_pem: String,
    /// The leaf alone, PEM (what `host.get_server_certificate` answers).
    pub leaf_pem: String,
    /// The private key, PEM, in the form it was given (PKCS#8, PKCS#1 or
    /// SEC1). Never shown by `Debug`.
    pub key_pem: String,
    /// The key's kind.
    pub kind: KeyKind,
    /// SHA-256 of the leaf's DER, as `AB:CD:...` (openssl's form).
    pub fingerprint: String,
    /// Start of validity, seconds since the epoch.
    pub not_before: i64,
    /// End of validity, seconds since the epoch.
    pub not_after: i64,
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair")
            .field("kind", &self.kind)
            .field("fingerprint", &self.fingerprint)
            .field("not_after", &rfc3339(self.not_after))
            .finish_non_exhaustive()
    }
}

impl Pair {
    /// `Ok` if the certificate is valid at `now` (seconds since the epoch),
    /// else xapi's error for it.
    pub fn valid_at(&self, now: i64) -> Result<(), CertError> {
        valid_at(now, self.not_before, self.not_after)
    }
}

fn valid_at(now: i64, not_before: i64, not_after: i64) -> Result<(), CertError> {
    if now < not_before {
        Err(CertError::NotValidYet {
            now: rfc3339(now),
            not_before: rfc3339(not_before),
        })
    } else if now > not_after {
        Err(CertError::Expired {
            now: rfc3339(now),
            not_after: rfc3339(not_after),
        })
    } else {
        Ok(())
    }
}

/// Seconds since the epoch as RFC 3339 in UTC (`2025-01-31T12:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => secs.to_string(),
    }
}

/// `AB:CD:...`: the SHA-256 of `der` as openssl prints fingerprints.
pub fn fingerprint(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let hex: Vec<String> = d.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

fn pem(tag: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der), config)
}

/// Every certificate in a PEM text, each checked to be X.509.
fn certificates(text: &str, invalid: CertError) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid.clone())?;
    if certs.is_empty() {
        return Err(invalid);
    }
    for c in &certs {
        match X509Certificate::from_der(c) {
            Ok(([], _)) => {}
            _ => return Err(invalid),
        }
    }
    Ok(certs)
}

/// The key's public half as the algorithm and key bits of an SPKI.
fn same_key(key: &dyn SigningKey, cert: &X509Certificate<'_>) -> bool {
    let Some(spki) = key.public_key() else {
        return false;
    };
    let Ok((_, ours)) = SubjectPublicKeyInfo::from_der(spki.as_ref()) else {
        return false;
    };
    let theirs = cert.public_key();
    ours.algorithm.algorithm == theirs.algorithm.algorithm
        && ours.subject_public_key.data == theirs.subject_public_key.data
}

const SHA2: &[&str] = &[
    "2.16.840.1.101.3.4.2.1", // SHA-256
    "2.16.840.1.101.3.4.2.2", // SHA-384
    "2.16.840.1.101.3.4.2.3", // SHA-512
];

/// Signatures with SHA-256 or better: RSA PKCS#1 v1.5, ECDSA, EdDSA, and
/// PSS with a SHA-2 hash of at least 256 bits.
fn strong_signature(cert: &X509Certificate<'_>) -> bool {
    let alg = &cert.signature_algorithm;
    match alg.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.11" | "1.2.840.113549.1.1.12" | "1.2.840.113549.1.1.13" => true,
        "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.2.840.10045.4.3.4" => true,
        "1.3.101.112" | "1.3.101.113" => true,
        "1.2.840.113549.1.1.10" => alg
            .parameters
            .as_ref()
            .and_then(|p| RsaSsaPssParams::try_from(p).ok())
            .is_some_and(|p| SHA2.contains(&p.hash_algorithm_oid().to_id_string().as_str())),
        _ => false,
    }
}

fn key_pem(der: &PrivateKeyDer<'_>) -> String {
    match der {
        PrivateKeyDer::Pkcs1(k) => pem("RSA PRIVATE KEY", k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => pem("EC PRIVATE KEY", k.secret_sec1_der()),
        PrivateKeyDer::Pkcs8(k) => pem("PRIVATE KEY", k.secret_pkcs8_der()),
        _ => String::new(),
    }
}

/// Checks an offer at `now` (seconds since the epoch), in xapi's order.
pub fn check(offer: Offer<'_>, now: i64, dates: Dates) -> Result<Pair, CertError> {
    // The key.
    let der = PrivateKeyDer::from_pem_slice(offer.private_key.as_bytes())
        .map_err(|_| CertError::KeyInvalid)?;
    let kind = key::inspect(&der)?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|_| CertError::KeyInvalid)?;
    // The certificate.
    let mut certs = certificates(offer.certificate, CertError::Invalid)?;
    let leaf_der = certs[0].clone();
    let (_, leaf) = X509Certificate::from_der(&leaf_der).map_err(|_| CertError::Invalid)?;
    let not_before = leaf.validity().not_before.timestamp();
    let not_after = leaf.validity().not_after.timestamp();
    if dates == Dates::Enforce {
        valid_at(now, not_before, not_after)?;
    }
    if !same_key(signing.as_ref(), &leaf) {
        return Err(CertError::KeyMismatch);
    }
    if !strong_signature(&leaf) {
        return Err(CertError::SignatureNotSupported);
    }
    // The chain.
    if !offer.chain.is_empty() {
        certs.extend(certificates(offer.chain, CertError::ChainInvalid)?);
    }
    let cert_pem: String = certs.iter().map(|c| pem("CERTIFICATE", c)).collect();
    Ok(Pair {
        leaf_pem: pem("CERTIFICATE", &leaf_der),
        fingerprint: fingerprint(&leaf_der),
        key_pem: key_pem(&der),
        certified: Arc::new(CertifiedKey::new(certs, signing)),
        cert_pem,
        kind,
        not_before,
        not_after,
    })
}
