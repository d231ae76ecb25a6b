//! `role`: A set of permissions associated with a subject. Roles and permissions are both rows of this class: a permission is a role with no subroles. The table is fixed (xapi's static roles): refs and uuids are the same on every server (`OpaqueRef:\<uuid>`; pool-admin's uuid is fixed, every other one is the MD5 of its name).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `role`.
pub const CLASS: ClassId = 11;

/// The wire name of the class.
pub const NAME: &str = "role";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `name_label` (`string`, RO): A short user-friendly name for the role (a permission's is its lower-case name, e.g. `vdi.copy`).
pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

/// `name_description` (`string`, RO): What this role is for.
pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

/// `subroles` (`role ref set`, RO): A role's permissions; empty for a permission.
pub const SUBROLES: Field<Vec<Ref>> = Field::new(CLASS, 3, "subroles");

/// `is_internal` (`bool`, RO): Whether the role is only assigned internally: true for permissions, false for the six roles.
pub const IS_INTERNAL: Field<bool> = Field::new(CLASS, 4, "is_internal");
