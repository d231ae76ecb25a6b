//! `role`: the static table of roles and permissions
//! ([`crate::domain::roles`]).

use super::{ApiResult, Ctx};
use crate::domain::roles;
use crate::model::schema::args::{
    RoleGetByPermission, RoleGetByPermissionNameLabel, RoleGetPermissions,
    RoleGetPermissionsNameLabel,
};
use crate::wire::{Ref, Value};

fn refs(v: Vec<Ref>) -> Value {
    Value::Array(v.into_iter().map(Value::Ref).collect())
}

fn strings(v: Vec<String>) -> Value {
    Value::Array(v.into_iter().map(Value::from).collect())
}

/// `role.get_permissions(self)`.
pub async fn get_permissions(cx: Ctx, a: RoleGetPermissions) -> ApiResult<Value> {
    roles::permissions(cx.domain(), a.self_).map(refs)
}

/// `role.get_permissions_name_label(self)`.
pub async fn get_permissions_name_label(
    cx: Ctx,
    a: RoleGetPermissionsNameLabel,
) -> ApiResult<Value> {
    roles::permission_names(cx.domain(), a.self_).map(strings)
}

/// `role.get_by_permission(permission)`.
pub async fn get_by_permission(cx: Ctx, a: RoleGetByPermission) -> ApiResult<Value> {
    roles::by_permission(cx.domain(), a.permission).map(refs)
}

/// `role.get_by_permission_name_label(label)`.
pub async fn get_by_permission_name_label(
    cx: Ctx,
    a: RoleGetByPermissionNameLabel,
) -> ApiResult<Value> {
    Ok(refs(roles::by_permission_name(cx.domain(), &a.label)))
}
