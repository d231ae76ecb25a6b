//! A self-signed certificate, as xapi's gencert makes one at first start:
//! valid ten years, CN = the host name, SANs = the host name and the IP
//! addresses the server listens on (unspecified and link-local addresses
//! skipped). xapid's key is ECDSA P-256 where xapi's is RSA-2048: a P-256
//! signature costs the server a small fraction of an RSA-2048 one, which
//! is most of a full handshake's cost, and every client in use takes it.

use std::net::{IpAddr, SocketAddr};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};

use super::check::{check, Dates, Offer, Pair};

/// How long a generated certificate is valid, in days (xapi's default).
pub const VALID_DAYS: i64 = 3650;

/// How far before "now" a generated certificate starts, in seconds: a
/// client whose clock is a little behind still takes it.
pub const BACKDATE_SECS: i64 = 24 * 3600;

/// Who a generated certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The CN and the DNS name in the SANs.
    pub host_name: String,
    /// IP addresses in the SANs.
    pub ips: Vec<IpAddr>,
}

fn link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

impl Subject {
    /// The subject for a host listening on `listen`: each address's IP,
    /// once, except unspecified (`0.0.0.0`, `::`: the host name stands for
    /// them) and link-local ones.
    pub fn new(host_name: &str, listen: &[SocketAddr]) -> Subject {
        let mut ips = Vec::new();
        for a in listen {
            let ip = a.ip();
            if !ip.is_unspecified() && !link_local(&ip) && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        Subject {
            host_name: host_name.to_owned(),
            ips,
        }
    }
}

fn serial() -> Result<SerialNumber, String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| format!("no randomness for a serial number: {e}"))?;
    // Positive and without a leading zero octet.
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&b))
}

fn datetime(secs: i64) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| format!("bad date: {e}"))
}

/// A new key and self-signed certificate for `subject`, valid from a day
/// before `now` (seconds since the epoch) for [`VALID_DAYS`]; checked as
/// an installed one would be.
pub fn self_signed(subject: &Subject, now: i64) -> Result<Pair, String> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, subject.host_name.as_str());
    params.distinguished_name = dn;
    params.subject_alt_names = Vec::new();
    // A host name that is not a DNS name (non-ASCII) stays in the CN only.
    if let Ok(name) = subject.host_name.as_str().try_into() {
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params
        .subject_alt_names
        .extend(subject.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.serial_number = Some(serial()?);
    params.not_before = datetime(now - BACKDATE_SECS)?;
    params.not_after = datetime(now + VALID_DAYS * 24 * 3600)?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the certificate: {e}"))?;
    let key_pem = key.serialize_pem();
    let offer = Offer {
        certificate: &cert.pem(),
        private_key: &key_pem,
        chain: "",
    };
    check(offer, now, Dates::Enforce).map_err(|e| format!("the generated certificate: {e}"))
}
