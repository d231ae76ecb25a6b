//! The parameters of the messages of `subject`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `subject.create(args)`: Create a subject from a record with `subject_identifier` and optionally `other_config`. A local user's identifier is `local:\<name>`, where the name is 1 to 64 letters, digits, `.`, `_`, `-` or `@`, and not `root`. The new subject has no roles.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectCreate {
    /// `args` (`subject record`): All constructor arguments.
    pub args: Value,
}

impl SubjectCreate {
    /// The wire name.
    pub const WIRE: &str = "subject.create";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SubjectCreate {
            args: next_arg(&mut it),
        }
    }
}

/// `subject.destroy(self)`: Destroy the subject: its open sessions end at once (SESSION_INVALID), including those waiting in event.from.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectDestroy {
    /// `self` (`subject ref`): The subject to destroy.
    pub self_: Ref,
}

impl SubjectDestroy {
    /// The wire name.
    pub const WIRE: &str = "subject.destroy";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SubjectDestroy {
            self_: next_arg(&mut it),
        }
    }
}

/// `subject.add_to_roles(self, role)`: Give the subject a role (one of the six roles; a permission is not a role here). Its open sessions gain the role's permissions at once.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectAddToRoles {
    /// `self` (`subject ref`): The subject.
    pub self_: Ref,
    /// `role` (`role ref`): The role to add.
    pub role: Ref,
}

impl SubjectAddToRoles {
    /// The wire name.
    pub const WIRE: &str = "subject.add_to_roles";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SubjectAddToRoles {
            self_: next_arg(&mut it),
            role: next_arg(&mut it),
        }
    }
}

/// `subject.remove_from_roles(self, role)`: Take a role from the subject. Its open sessions lose the role's permissions at once; a subject left with no roles has its sessions ended (SESSION_INVALID).
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectRemoveFromRoles {
    /// `self` (`subject ref`): The subject.
    pub self_: Ref,
    /// `role` (`role ref`): The role to remove.
    pub role: Ref,
}

impl SubjectRemoveFromRoles {
    /// The wire name.
    pub const WIRE: &str = "subject.remove_from_roles";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SubjectRemoveFromRoles {
            self_: next_arg(&mut it),
            role: next_arg(&mut it),
        }
    }
}

/// `subject.get_permissions_name_label(self)`: The names of every permission the subject holds through its roles.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectGetPermissionsNameLabel {
    /// `self` (`subject ref`): The subject.
    pub self_: Ref,
}

impl SubjectGetPermissionsNameLabel {
    /// The wire name.
    pub const WIRE: &str = "subject.get_permissions_name_label";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SubjectGetPermissionsNameLabel {
            self_: next_arg(&mut it),
        }
    }
}

/// `subject.set_password(self, password)`: xapid extension (xapi delegates passwords to PAM or AD): set a local user's password (argon2id). Durable before the call returns; the user's open sessions end at once.
/// Its `Debug` shows no member: the parameters are secret.
#[derive(Clone, PartialEq)]
pub struct SubjectSetPassword {
    /// `self` (`subject ref`): The local user.
    pub self_: Ref,
    /// `password` (`string`): The new password (not empty).
    pub password: String,
}

impl SubjectSetPassword {
    /// The wire name.
    pub const WIRE: &str = "subject.set_password";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        SubjectSetPassword {
            self_: next_arg(&mut it),
            password: next_arg(&mut it),
        }
    }
}

impl fmt::Debug for SubjectSetPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectSetPassword { .. }")
    }
}
