//! The parameters of the messages of `host`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `host.get_server_certificate(host)`: Get the installed server public TLS certificate, in PEM form (the leaf certificate only, without the chain).
#[derive(Clone, Debug, PartialEq)]
pub struct HostGetServerCertificate {
    /// `host` (`host ref`): The host.
    pub host: Ref,
}

impl HostGetServerCertificate {
    /// The wire name.
    pub const WIRE: &str = "host.get_server_certificate";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        HostGetServerCertificate {
            host: next_arg(&mut it),
        }
    }
}

/// `host.install_server_certificate(host, certificate, private_key, [certificate_chain])`: Install the TLS server certificate. The checks, in xapi's order: the key (RSA of 2048 to 4096 bits, or ECDSA on P-256 or P-384), the certificate (parses, valid now), the key matches it, its signature uses SHA-256 or better, the chain parses. Both files are written durably, and new TLS connections get the certificate at once; established ones keep theirs. Refused with OPERATION_NOT_ALLOWED while the certificate comes from --tls-cert. The parameters are never logged, and the key never appears in an error.
/// Its `Debug` shows no member: the parameters are secret.
#[derive(Clone, PartialEq)]
pub struct HostInstallServerCertificate {
    /// `host` (`host ref`): The host.
    pub host: Ref,
    /// `certificate` (`string`): The server certificate, in PEM form (certificates after the first are taken as the start of the chain).
    pub certificate: String,
    /// `private_key` (`string`): The unencrypted private key of the certificate, in PEM form (PKCS#8; PKCS#1 RSA and SEC1 EC keys are taken too).
    pub private_key: String,
    /// `certificate_chain` (`string`, optional): The intermediate certificates, in PEM form (default: none).
    pub certificate_chain: Option<String>,
}

impl HostInstallServerCertificate {
    /// The wire name.
    pub const WIRE: &str = "host.install_server_certificate";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        HostInstallServerCertificate {
            host: next_arg(&mut it),
            certificate: next_arg(&mut it),
            private_key: next_arg(&mut it),
            certificate_chain: next_opt_arg(&mut it),
        }
    }
}

impl fmt::Debug for HostInstallServerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostInstallServerCertificate { .. }")
    }
}

/// `host.reset_server_certificate(host)`: Delete the current TLS server certificate and replace it by a new, self-signed one (as at first start); new TLS connections get it at once. Refused with OPERATION_NOT_ALLOWED while the certificate comes from --tls-cert.
#[derive(Clone, Debug, PartialEq)]
pub struct HostResetServerCertificate {
    /// `host` (`host ref`): The host.
    pub host: Ref,
}

impl HostResetServerCertificate {
    /// The wire name.
    pub const WIRE: &str = "host.reset_server_certificate";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        HostResetServerCertificate {
            host: next_arg(&mut it),
        }
    }
}

/// `host.set_https_only(self, value)`: Close (true) or open (false) the plain-HTTP listener: while https_only is true it answers every request with HTTP 403 and a one-line reason, and processes nothing. Durable before the call returns; kept across restarts.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSetHttpsOnly {
    /// `self` (`host ref`): The host.
    pub self_: Ref,
    /// `value` (`bool`): true: plain HTTP is refused; false: it is served.
    pub value: bool,
}

impl HostSetHttpsOnly {
    /// The wire name.
    pub const WIRE: &str = "host.set_https_only";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        HostSetHttpsOnly {
            self_: next_arg(&mut it),
            value: next_arg(&mut it),
        }
    }
}
