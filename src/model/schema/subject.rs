//! `subject`: A user that can log in. xapid has no external directory: a subject whose identifier is `local:\<name>` is a local user, who logs in with `session.login_with_password(\<name>, \<password>)` once a pool-admin has set a password (`subject.set_password`) and given it a role. A new subject has no roles (xapi's licensed behaviour). Removing a role, destroying the subject or changing its password acts on its open sessions at once.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `subject`.
pub const CLASS: ClassId = 12;

/// The wire name of the class.
pub const NAME: &str = "subject";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `subject_identifier` (`string`, RO): The subject identifier, unique in the pool: `local:\<name>` for a local user.
pub const SUBJECT_IDENTIFIER: Field<String> = Field::new(CLASS, 1, "subject_identifier");

/// `other_config` (`(string -> string) map`, RO): Additional configuration: `subject-name` is the user's login name (set from the identifier when not given).
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 2, "other_config");

/// `roles` (`role ref set`, RO): The roles associated with this subject.
pub const ROLES: Field<Vec<Ref>> = Field::new(CLASS, 3, "roles");

/// `password_hash` (`string`, internal): The argon2id hash of a local user's password (PHC string); empty until set. Never shown.
pub const PASSWORD_HASH: Field<String> = Field::new(CLASS, 4, "password_hash");
