//! `session`: A session: what a client holds after logging in. Every call but login names one as its first argument.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `session`.
pub const CLASS: ClassId = 0;

/// The wire name of the class.
pub const NAME: &str = "session";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `this_host` (`host ref`, RO): The host this session is connected to.
pub const THIS_HOST: Field<Ref> = Field::new(CLASS, 1, "this_host");

/// `this_user` (`user ref`, RO): Always OpaqueRef:NULL: the user class is deprecated.
pub const THIS_USER: Field<Ref> = Field::new(CLASS, 2, "this_user");

/// `last_active` (`datetime`, RO): Time the session was last used, to the second.
pub const LAST_ACTIVE: Field<DateTime> = Field::new(CLASS, 3, "last_active");

/// `pool` (`bool`, RO): True if this session relates to intra-pool login; always false here.
pub const POOL: Field<bool> = Field::new(CLASS, 4, "pool");

/// `other_config` (`(string -> string) map`, RW): Additional configuration.
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 5, "other_config");

/// `is_local_superuser` (`bool`, RO): True if the session was created with the local root password: the local superuser, allowed every call.
pub const IS_LOCAL_SUPERUSER: Field<bool> = Field::new(CLASS, 6, "is_local_superuser");

/// `subject` (`subject ref`, RO): The subject (local user) the session belongs to; OpaqueRef:NULL for local root.
pub const SUBJECT: Field<Ref> = Field::new(CLASS, 7, "subject");

/// `validation_time` (`datetime`, RO): Time when the session's credentials were last validated.
pub const VALIDATION_TIME: Field<DateTime> = Field::new(CLASS, 8, "validation_time");

/// `auth_user_sid` (`string`, RO): The subject identifier of the user (`local:\<name>` for a local user); empty for local root.
pub const AUTH_USER_SID: Field<String> = Field::new(CLASS, 9, "auth_user_sid");

/// `auth_user_name` (`string`, RO): The name of the user that logged in.
pub const AUTH_USER_NAME: Field<String> = Field::new(CLASS, 10, "auth_user_name");

/// `rbac_permissions` (`string set`, RO): Every RBAC permission of this session (the union over its subject's roles); empty for the local superuser, who has them all. Unlike xapi, it follows role changes of the subject at once.
pub const RBAC_PERMISSIONS: Field<Vec<String>> = Field::new(CLASS, 11, "rbac_permissions");

/// `parent` (`session ref`, RO): The session this one was created from; OpaqueRef:NULL for a login.
pub const PARENT: Field<Ref> = Field::new(CLASS, 12, "parent");

/// `originator` (`string`, RO): A key string given by the client at login to identify itself (the fourth login argument); sessions are capped per originator.
pub const ORIGINATOR: Field<String> = Field::new(CLASS, 13, "originator");

/// `client_certificate` (`bool`, RO): True if the client presented a certificate; always false here.
pub const CLIENT_CERTIFICATE: Field<bool> = Field::new(CLASS, 14, "client_certificate");
