//! The checks on fixtures made once with openssl (`testdata/`: RSA keys of
//! 1024 and 2048 bits, PKCS#1 and PKCS#8, a three-prime RSA key, P-521 and
//! SEC1 P-256 keys, SHA-1 and PSS signatures; valid until 2125) and on
//! certificates made here with rcgen (dates, mismatches, ECDSA, Ed25519).

use std::net::SocketAddr;

use rcgen::{
    CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::*;

const RSA1024_KEY: &str = include_str!("testdata/rsa1024.key");
const RSA1024_PEM: &str = include_str!("testdata/rsa1024.pem");
const RSA2048_KEY: &str = include_str!("testdata/rsa2048.key");
const RSA2048_PKCS1_KEY: &str = include_str!("testdata/rsa2048-pkcs1.key");
const RSA2048_PEM: &str = include_str!("testdata/rsa2048.pem");
const RSA2048_SHA1_PEM: &str = include_str!("testdata/rsa2048-sha1.pem");
const RSA2048_PSS_PEM: &str = include_str!("testdata/rsa2048-pss.pem");
const RSA3PRIME_KEY: &str = include_str!("testdata/rsa3prime.key");
const P521_KEY: &str = include_str!("testdata/p521.key");
const P256_SEC1_KEY: &str = include_str!("testdata/p256-sec1.key");
const P256_PEM: &str = include_str!("testdata/p256.pem");

/// 2030-01-01T00:00:00Z
const NOW: i64 = 1_893_456_000;

fn offer<'a>(certificate: &'a str, private_key: &'a str) -> Offer<'a> {
    Offer {
        certificate,
        private_key,
        chain: "",
    }
}

fn checked(certificate: &str, private_key: &str) -> Result<Pair, CertError> {
    check(offer(certificate, private_key), NOW, Dates::Enforce)
}

/// A certificate for a new key of `alg`, valid over [from, to] (seconds).
fn made(alg: &'static rcgen::SignatureAlgorithm, from: i64, to: i64) -> (String, String) {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut p = CertificateParams::new(vec!["made.example".to_string()]).unwrap();
    p.not_before = time::OffsetDateTime::from_unix_timestamp(from).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(to).unwrap();
    (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

#[test]
fn rsa_2048_pkcs8_and_pkcs1_pass() {
    let p = checked(RSA2048_PEM, RSA2048_KEY).unwrap();
    assert_eq!(p.kind, KeyKind::Rsa { bits: 2048 });
    assert!(p.key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let p1 = checked(RSA2048_PEM, RSA2048_PKCS1_KEY).unwrap();
    assert!(p1.key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    assert_eq!(p.fingerprint, p1.fingerprint);
    assert_eq!(p.leaf_pem, p.cert_pem);
    assert_eq!(p.certified.cert.len(), 1);
}

#[test]
fn key_errors_come_first_and_name_what_is_wrong() {
    assert_eq!(
        checked(RSA1024_PEM, RSA1024_KEY).unwrap_err(),
        CertError::KeyRsaLengthNotSupported(1024)
    );
    // The key is checked before the certificate, as xapi does.
    assert_eq!(
        checked("junk", RSA1024_KEY).unwrap_err(),
        CertError::KeyRsaLengthNotSupported(1024)
    );
    assert_eq!(
        checked(RSA2048_PEM, RSA3PRIME_KEY).unwrap_err(),
        CertError::KeyRsaMultiNotSupported
    );
    assert_eq!(
        checked(RSA2048_PEM, P521_KEY).unwrap_err(),
        CertError::KeyAlgorithmNotSupported("P521".into())
    );
    let (cert, key) = made(&PKCS_ED25519, NOW - 10, NOW + 10);
    assert_eq!(
        checked(&cert, &key).unwrap_err(),
        CertError::KeyAlgorithmNotSupported("ED25519".into())
    );
    for bad in [
        "",
        "garbage",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ] {
        assert_eq!(
            checked(RSA2048_PEM, bad).unwrap_err(),
            CertError::KeyInvalid,
            "{bad:?}"
        );
    }
    // A certificate where the key should be.
    assert_eq!(
        checked(RSA2048_PEM, RSA2048_PEM).unwrap_err(),
        CertError::KeyInvalid
    );
}

#[test]
fn certificate_errors() {
    for bad in [
        "",
        "garbage",
        RSA2048_KEY,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        assert_eq!(
            checked(bad, RSA2048_KEY).unwrap_err(),
            CertError::Invalid,
            "{bad:?}"
        );
    }
    assert_eq!(
        checked(RSA2048_SHA1_PEM, RSA2048_KEY).unwrap_err(),
        CertError::SignatureNotSupported
    );
    assert_eq!(
        checked(P256_PEM, RSA2048_KEY).unwrap_err(),
        CertError::KeyMismatch
    );
    assert_eq!(
        checked(RSA2048_PEM, P256_SEC1_KEY).unwrap_err(),
        CertError::KeyMismatch
    );
}

#[test]
fn pss_sec1_and_p384_pass() {
    assert!(checked(RSA2048_PSS_PEM, RSA2048_KEY).is_ok());
    let p = checked(P256_PEM, P256_SEC1_KEY).unwrap();
    assert_eq!(p.kind, KeyKind::EcP256);
    assert!(p.key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
    let (cert, key) = made(&PKCS_ECDSA_P384_SHA384, NOW - 10, NOW + 10);
    assert_eq!(checked(&cert, &key).unwrap().kind, KeyKind::EcP384);
}

#[test]
fn dates_are_checked_unless_ignored() {
    let (cert, key) = made(&PKCS_ECDSA_P256_SHA256, NOW - 100, NOW - 1);
    assert_eq!(
        checked(&cert, &key).unwrap_err(),
        CertError::Expired {
            now: "2030-01-01T00:00:00Z".into(),
            not_after: "2029-12-31T23:59:59Z".into()
        }
    );
    let p = check(offer(&cert, &key), NOW, Dates::Ignore).unwrap();
    assert!(p.valid_at(NOW).is_err());
    assert!(p.valid_at(NOW - 50).is_ok());
    let (cert, key) = made(&PKCS_ECDSA_P256_SHA256, NOW + 60, NOW + 100);
    assert_eq!(
        checked(&cert, &key).unwrap_err(),
        CertError::NotValidYet {
            now: "2030-01-01T00:00:00Z".into(),
            not_before: "2030-01-01T00:01:00Z".into()
        }
    );
    // Dates come before the key match.
    let (_, other) = made(&PKCS_ECDSA_P256_SHA256, NOW - 10, NOW + 10);
    assert!(matches!(
        checked(&cert, &other),
        Err(CertError::NotValidYet { .. })
    ));
}

#[test]
fn chains() {
    let (cert, key) = made(&PKCS_ECDSA_P256_SHA256, NOW - 10, NOW + 10);
    let with = |chain: &str| {
        check(
            Offer {
                certificate: &cert,
                private_key: &key,
                chain,
            },
            NOW,
            Dates::Enforce,
        )
    };
    let p = with(RSA2048_PEM).unwrap();
    assert_eq!(p.certified.cert.len(), 2);
    assert_eq!(p.cert_pem.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(p.cert_pem.starts_with(&p.leaf_pem));
    for bad in [
        " ",
        "garbage",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        assert_eq!(with(bad).unwrap_err(), CertError::ChainInvalid, "{bad:?}");
    }
    // Certificates after the first in `certificate` start the chain.
    let both = format!("{cert}{RSA2048_PEM}");
    let p = checked(&both, &key).unwrap();
    assert_eq!(p.certified.cert.len(), 2);
}

#[test]
fn errors_and_debug_never_show_the_key() {
    let p = checked(RSA2048_PEM, RSA2048_KEY).unwrap();
    let body: String = RSA2048_KEY.lines().nth(1).unwrap().to_string();
    assert!(!format!("{p:?}").contains(&body));
    assert!(!format!("{:?}", offer(RSA2048_PEM, RSA2048_KEY)).contains(&body));
    for e in [
        checked(RSA2048_PEM, RSA3PRIME_KEY).unwrap_err(),
        checked(P256_PEM, RSA2048_KEY).unwrap_err(),
    ] {
        assert!(!e.to_string().contains(&body) && !format!("{e:?}").contains(&body));
    }
}

#[test]
fn the_generated_certificate_is_like_gencerts() {
    let listen: Vec<SocketAddr> = [
        "127.0.0.1:8080",
        "0.0.0.0:443",
        "[::]:443",
        "169.254.1.2:1",
        "[fe80::1]:1",
        "127.0.0.1:8443",
        "192.0.2.7:8443",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let subject = Subject::new("host-1", &listen);
    assert_eq!(
        subject.ips,
        [
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "192.0.2.7".parse().unwrap()
        ]
    );
    let p = self_signed(&subject, NOW).unwrap();
    assert_eq!(p.kind, KeyKind::EcP256);
    assert_eq!(p.not_before, NOW - generate::BACKDATE_SECS);
    assert_eq!(p.not_after, NOW + 3650 * 86400);
    let der = &p.certified.cert[0];
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    let cn: Vec<_> = c
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["host-1"]);
    let san = c.subject_alternative_name().unwrap().unwrap().value;
    assert!(san.general_names.contains(&GeneralName::DNSName("host-1")));
    assert!(san
        .general_names
        .contains(&GeneralName::IPAddress(&[127, 0, 0, 1])));
    assert!(san
        .general_names
        .contains(&GeneralName::IPAddress(&[192, 0, 2, 7])));
    assert_eq!(san.general_names.len(), 3);
    // Two generations differ (new key, new serial).
    let q = self_signed(&subject, NOW).unwrap();
    assert_ne!(p.fingerprint, q.fingerprint);
    // The fingerprint is openssl's form: 32 upper-case hex pairs.
    assert_eq!(p.fingerprint.len(), 32 * 3 - 1);
    assert!(p.fingerprint.split(':').all(|h| h.len() == 2
        && h.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())));
    // What was generated reads back as it was written.
    let again = check(offer(&p.cert_pem, &p.key_pem), NOW, Dates::Enforce).unwrap();
    assert_eq!(again.fingerprint, p.fingerprint);
}

#[test]
fn served_swaps_for_the_next_handshake() {
    let subject = Subject::new("h", &[]);
    let a = self_signed(&subject, NOW).unwrap();
    let b = self_signed(&subject, NOW).unwrap();
    let s = std::sync::Arc::new(Served::new(&a));
    assert_eq!(s.current().fingerprint, a.fingerprint);
    s.swap(&b);
    assert_eq!(s.current().fingerprint, b.fingerprint);
    assert_eq!(s.current().leaf_pem, b.leaf_pem);
    assert!(server_config(s).is_ok());
}

#[test]
fn rfc3339_is_utc_with_z() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(NOW), "2030-01-01T00:00:00Z");
}
