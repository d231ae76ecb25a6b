//! `pool`: Pool-wide information: one pool holding this one host.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `pool`.
pub const CLASS: ClassId = 3;

/// The wire name of the class.
pub const NAME: &str = "pool";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `name_label` (`string`, RW): Short name.
pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

/// `name_description` (`string`, RW): Description.
pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

/// `master` (`host ref`, RO): The host that is pool master.
pub const MASTER: Field<Ref> = Field::new(CLASS, 3, "master");

/// `other_config` (`(string -> string) map`, RW): Additional configuration.
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 4, "other_config");
