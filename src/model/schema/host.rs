//! `host`: A physical host: this server. There is exactly one.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `host`.
pub const CLASS: ClassId = 2;

/// The wire name of the class.
pub const NAME: &str = "host";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `name_label` (`string`, RW): A human-readable name.
pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

/// `name_description` (`string`, RW): A notes field containing human-readable description.
pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

/// `API_version_major` (`int`, RO): Major version number of the API this host speaks.
pub const API_VERSION_MAJOR: Field<i64> = Field::new(CLASS, 3, "API_version_major");

/// `API_version_minor` (`int`, RO): Minor version number of the API this host speaks.
pub const API_VERSION_MINOR: Field<i64> = Field::new(CLASS, 4, "API_version_minor");

/// `API_version_vendor` (`string`, RO): Identification of the vendor.
pub const API_VERSION_VENDOR: Field<String> = Field::new(CLASS, 5, "API_version_vendor");

/// `software_version` (`(string -> string) map`, RO): Version strings: product_brand, product_version, xapi, ...
pub const SOFTWARE_VERSION: Field<Map<String>> = Field::new(CLASS, 6, "software_version");

/// `enabled` (`bool`, RO): True if the host is currently enabled.
pub const ENABLED: Field<bool> = Field::new(CLASS, 7, "enabled");

/// `hostname` (`string`, RO): The hostname of this host.
pub const HOSTNAME: Field<String> = Field::new(CLASS, 8, "hostname");

/// `address` (`string`, RO): The address by which this host can be contacted.
pub const ADDRESS: Field<String> = Field::new(CLASS, 9, "address");

/// `other_config` (`(string -> string) map`, RW): Additional configuration.
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 10, "other_config");

/// `https_only` (`bool`, RO): True if the plain-HTTP listener refuses every request (HTTP 403) and the API is served over HTTPS only; set with host.set_https_only. Kept across restarts.
pub const HTTPS_ONLY: Field<bool> = Field::new(CLASS, 11, "https_only");
