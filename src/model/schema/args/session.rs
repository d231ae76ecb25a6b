//! The parameters of the messages of `session`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `session.login_with_password(uname, pwd, [version], [originator])`: Attempt to authenticate the user, returning a session reference if successful. `root` is the local superuser; any other name is a local user: the subject `local:\<uname>` with a password set by `subject.set_password`. A local user whose subject has no roles gets RBAC_PERMISSION_DENIED. Takes 2 to 4 arguments; the version is ignored and the originator groups sessions for the per-originator cap. A failed attempt is answered after a delay that grows with repeated failures for the same user, without slowing anyone else.
/// Its `Debug` shows no member: the parameters are secret.
#[derive(Clone, PartialEq)]
pub struct SessionLoginWithPassword {
    /// `uname` (`string`): Username for login.
    pub uname: String,
    /// `pwd` (`string`): Password for login.
    pub pwd: String,
    /// `version` (`string`, optional): Client API version (ignored).
    pub version: Option<String>,
    /// `originator` (`string`, optional): Key string for distinguishing different API users sharing the same login name.
    pub originator: Option<String>,
}

impl SessionLoginWithPassword {
    /// The wire name.
    pub const WIRE: &str = "session.login_with_password";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SessionLoginWithPassword {
            uname: next_arg(&mut it),
            pwd: next_arg(&mut it),
            version: next_opt_arg(&mut it),
            originator: next_opt_arg(&mut it),
        }
    }
}

impl fmt::Debug for SessionLoginWithPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionLoginWithPassword { .. }")
    }
}

/// `session.logout()`: Log out of a session: the session reference becomes invalid and its waiters in event.from return SESSION_INVALID.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionLogout;

impl SessionLogout {
    /// The wire name.
    pub const WIRE: &str = "session.logout";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(_: Vec<Value>) -> Self {
        SessionLogout
    }
}

/// `session.local_logout()`: Log out of a session created with a local login; the same as logout here.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionLocalLogout;

impl SessionLocalLogout {
    /// The wire name.
    pub const WIRE: &str = "session.local_logout";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(_: Vec<Value>) -> Self {
        SessionLocalLogout
    }
}

/// `session.change_password(old_pwd, new_pwd)`: Change the account password of the logged-in user (root or a local user); the old password must be given. The change is durable before the call returns. For a local user, every other session of that user ends at once (SESSION_INVALID). xapi allows only the local superuser here; xapid lets every local user change their own password.
/// Its `Debug` shows no member: the parameters are secret.
#[derive(Clone, PartialEq)]
pub struct SessionChangePassword {
    /// `old_pwd` (`string`): Old password for account.
    pub old_pwd: String,
    /// `new_pwd` (`string`): New password for account.
    pub new_pwd: String,
}

impl SessionChangePassword {
    /// The wire name.
    pub const WIRE: &str = "session.change_password";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SessionChangePassword {
            old_pwd: next_arg(&mut it),
            new_pwd: next_arg(&mut it),
        }
    }
}

impl fmt::Debug for SessionChangePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionChangePassword { .. }")
    }
}

/// `session.get_all_subject_identifiers()`: The subject identifiers of every user with an open session (root's, the empty identifier, is left out).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionGetAllSubjectIdentifiers;

impl SessionGetAllSubjectIdentifiers {
    /// The wire name.
    pub const WIRE: &str = "session.get_all_subject_identifiers";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(_: Vec<Value>) -> Self {
        SessionGetAllSubjectIdentifiers
    }
}

/// `session.logout_subject_identifier(subject_identifier)`: End every session of the user with this subject identifier, but the caller's own; their waiters in event.from return SESSION_INVALID. Root's sessions have no subject identifier: the empty identifier is INVALID_VALUE (xapi would end every root session).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionLogoutSubjectIdentifier {
    /// `subject_identifier` (`string`): The user whose sessions end.
    pub subject_identifier: String,
}

impl SessionLogoutSubjectIdentifier {
    /// The wire name.
    pub const WIRE: &str = "session.logout_subject_identifier";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SessionLogoutSubjectIdentifier {
            subject_identifier: next_arg(&mut it),
        }
    }
}
