//! What kind of private key was offered, read from its DER (PKCS#8, PKCS#1
//! or SEC1) before the crypto library sees it, so that a key of the wrong
//! kind or size gets xapi's precise error rather than "invalid" (ring
//! refuses RSA keys under 2048 bits without saying why).

use rustls_pki_types::PrivateKeyDer;
use x509_parser::asn1_rs::{Any, Class, FromDer, Oid, Tag};

use super::CertError;

/// The keys xapid serves with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with two primes, of this many modulus bits.
    Rsa {
        /// The modulus length.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
}

const RSA: &str = "1.2.840.113549.1.1.1";
const EC: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";

/// xapi's names for the key types it knows (ocaml-x509's
/// `Key_type.to_string`), by OID; other algorithms are named by their OID.
const NAMES: &[(&str, &str)] = &[
    ("1.3.101.112", "ED25519"),
    ("1.3.101.113", "ED448"),
    ("1.3.101.110", "X25519"),
    ("1.3.101.111", "X448"),
    ("1.2.840.10040.4.1", "DSA"),
    ("1.2.840.113549.1.1.10", "RSASSA-PSS"),
    ("1.3.132.0.33", "P224"),
    ("1.3.132.0.35", "P521"),
];

fn algorithm_name(oid: &Oid<'_>) -> String {
    let id = oid.to_id_string();
    NAMES
        .iter()
        .find(|(o, _)| *o == id)
        .map_or(id, |(_, n)| (*n).to_owned())
}

/// The DER elements one after the other in `body`.
fn elements(mut body: &[u8]) -> Result<Vec<Any<'_>>, CertError> {
    let mut items = Vec::new();
    while !body.is_empty() {
        let (rest, item) = Any::from_der(body).map_err(|_| CertError::KeyInvalid)?;
        items.push(item);
        body = rest;
    }
    Ok(items)
}

/// The elements of a DER SEQUENCE that is the whole of `der`.
fn sequence(der: &[u8]) -> Result<Vec<Any<'_>>, CertError> {
    let (rest, seq) = Any::from_der(der).map_err(|_| CertError::KeyInvalid)?;
    if !rest.is_empty() || seq.tag() != Tag::Sequence || seq.class() != Class::Universal {
        return Err(CertError::KeyInvalid);
    }
    elements(seq.data)
}

fn expect<'a>(item: Option<&Any<'a>>, tag: Tag) -> Result<&'a [u8], CertError> {
    match item {
        Some(a) if a.tag() == tag && a.class() == Class::Universal => Ok(a.data),
        _ => Err(CertError::KeyInvalid),
    }
}

fn oid<'a>(item: Option<&Any<'a>>) -> Result<Oid<'a>, CertError> {
    match item {
        Some(a) if a.tag() == Tag::Oid => a.clone().oid().map_err(|_| CertError::KeyInvalid),
        _ => Err(CertError::KeyInvalid),
    }
}

/// The length in bits of a non-negative DER INTEGER's content octets.
fn bit_length(int: &[u8]) -> usize {
    let Some(first) = int.iter().position(|&b| b != 0) else {
        return 0;
    };
    (int.len() - first) * 8 - int[first].leading_zeros() as usize
}

/// PKCS#1 `RSAPrivateKey`: version 0 has two primes, version 1 more.
fn rsa(der: &[u8]) -> Result<KeyKind, CertError> {
    let items = sequence(der)?;
    let version = expect(items.first(), Tag::Integer)?;
    let modulus = expect(items.get(1), Tag::Integer)?;
    match version {
        [0] => {}
        [1] => return Err(CertError::KeyRsaMultiNotSupported),
        _ => return Err(CertError::KeyInvalid),
    }
    if modulus.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(CertError::KeyInvalid);
    }
    let bits = bit_length(modulus);
    if !(2048..=4096).contains(&bits) {
        return Err(CertError::KeyRsaLengthNotSupported(bits));
    }
    Ok(KeyKind::Rsa { bits })
}

fn curve(oid: &Oid<'_>) -> Result<KeyKind, CertError> {
    match oid.to_id_string().as_str() {
        P256 => Ok(KeyKind::EcP256),
        P384 => Ok(KeyKind::EcP384),
        _ => Err(CertError::KeyAlgorithmNotSupported(algorithm_name(oid))),
    }
}

/// SEC1 `ECPrivateKey`: the curve is the `[0]` parameters.
fn sec1(der: &[u8]) -> Result<KeyKind, CertError> {
    let items = sequence(der)?;
    expect(items.first(), Tag::Integer)?;
    expect(items.get(1), Tag::OctetString)?;
    let params = items
        .iter()
        .skip(2)
        .find(|a| a.class() == Class::ContextSpecific && a.tag() == Tag(0))
        .ok_or(CertError::KeyInvalid)?;
    let (_, inner) = Any::from_der(params.data).map_err(|_| CertError::KeyInvalid)?;
    curve(&oid(Some(&inner))?)
}

/// PKCS#8 `PrivateKeyInfo`: the algorithm, then the key in its own form.
fn pkcs8(der: &[u8]) -> Result<KeyKind, CertError> {
    let items = sequence(der)?;
    expect(items.first(), Tag::Integer)?;
    let alg = elements(expect(items.get(1), Tag::Sequence)?)?;
    let algorithm = oid(alg.first())?;
    let key = expect(items.get(2), Tag::OctetString)?;
    match algorithm.to_id_string().as_str() {
        RSA => rsa(key),
        EC => curve(&oid(alg.get(1))?),
        _ => Err(CertError::KeyAlgorithmNotSupported(algorithm_name(
            &algorithm,
        ))),
    }
}

/// The kind of an offered key, or xapi's error for it.
pub fn inspect(der: &PrivateKeyDer<'_>) -> Result<KeyKind, CertError> {
    match der {
        PrivateKeyDer::Pkcs1(k) => rsa(k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => sec1(k.secret_sec1_der()),
        PrivateKeyDer::Pkcs8(k) => pkcs8(k.secret_pkcs8_der()),
        _ => Err(CertError::KeyInvalid),
    }
}
