//! The parameters of the messages of `role`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `role.get_permissions(self)`: The permissions of a role.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleGetPermissions {
    /// `self` (`role ref`): A reference to a role.
    pub self_: Ref,
}

impl RoleGetPermissions {
    /// The wire name.
    pub const WIRE: &str = "role.get_permissions";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        RoleGetPermissions {
            self_: next_arg(&mut it),
        }
    }
}

/// `role.get_permissions_name_label(self)`: The names of the permissions of a role.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleGetPermissionsNameLabel {
    /// `self` (`role ref`): A reference to a role.
    pub self_: Ref,
}

impl RoleGetPermissionsNameLabel {
    /// The wire name.
    pub const WIRE: &str = "role.get_permissions_name_label";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        RoleGetPermissionsNameLabel {
            self_: next_arg(&mut it),
        }
    }
}

/// `role.get_by_permission(permission)`: The roles that hold a permission.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleGetByPermission {
    /// `permission` (`role ref`): A reference to a permission.
    pub permission: Ref,
}

impl RoleGetByPermission {
    /// The wire name.
    pub const WIRE: &str = "role.get_by_permission";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        RoleGetByPermission {
            permission: next_arg(&mut it),
        }
    }
}

/// `role.get_by_permission_name_label(label)`: The roles that hold a permission, by its name (an unknown name gives an empty set).
#[derive(Clone, Debug, PartialEq)]
pub struct RoleGetByPermissionNameLabel {
    /// `label` (`string`): The permission's name, e.g. `vdi.copy`.
    pub label: String,
}

impl RoleGetByPermissionNameLabel {
    /// The wire name.
    pub const WIRE: &str = "role.get_by_permission_name_label";

    /// From the checked parameters, in order; moves them out.
    pub fn from_values(v: Vec<Value>) -> Self {
        let mut it = v.into_iter();
        RoleGetByPermissionNameLabel {
            label: next_arg(&mut it),
        }
    }
}
