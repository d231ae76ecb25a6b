//! TLS server certificates: the checks of an offered certificate and key
//! (xapi's, in xapi's order: `check`, with the key's kind read by `key`),
//! the self-signed certificate made at first start (`generate`), and the
//! certificate the listener serves, swapped without a restart (`served`).
//! Pure: no file and no socket here (files: `storage::secret_file`).

pub mod check;
pub mod generate;
pub mod key;
pub mod served;
#[cfg(test)]
mod tests;

pub use check::{check, fingerprint, rfc3339, CertError, Dates, Offer, Pair};
pub use generate::{self_signed, Subject};
pub use key::KeyKind;
pub use served::{server_config, Current, Served};
