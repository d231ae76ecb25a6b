//! The `role` class: xapi's static table of roles and permissions, served
//! as rows made at start-up from the datamodel (never stored: the table is
//! the same on every server, refs included).

use super::sessions::Identity;
use super::Domain;
use crate::error::{ApiError, ApiResult};
use crate::model::rbac::Rbac;
use crate::model::schema::role;
use crate::model::RowExt;
use crate::registry::Registry;
use crate::wire::Ref;

/// A role's or permission's ref: `OpaqueRef:<uuid>`, as xapi.
fn ref_of(uuid: uuid::Uuid) -> Ref {
    Ref(uuid)
}

/// Makes the rows: one per permission (no subroles, internal), then one
/// per role with its permissions as subroles.
pub fn bootstrap(reg: &Registry, rbac: &Rbac) {
    let model = reg.model().clone();
    for p in &rbac.permissions {
        let mut f = model.default_row(role::CLASS);
        f.set(role::UUID, p.uuid.to_string());
        f.set(role::NAME_LABEL, p.name.as_str());
        f.set(role::NAME_DESCRIPTION, "A basic permission");
        f.set(role::IS_INTERNAL, true);
        // Never persisted: nothing to wait for.
        let _ = reg.insert(role::CLASS, ref_of(p.uuid), f);
    }
    for (i, r) in rbac.roles.iter().enumerate() {
        let subroles: Vec<Ref> = rbac
            .permissions_of(1 << i)
            .map(|p| ref_of(p.uuid))
            .collect();
        let mut f = model.default_row(role::CLASS);
        f.set(role::UUID, r.uuid.to_string());
        f.set(role::NAME_LABEL, r.name.as_str());
        f.set(role::NAME_DESCRIPTION, r.doc.as_str());
        f.set(role::SUBROLES, subroles);
        f.set(role::IS_INTERNAL, false);
        let _ = reg.insert(role::CLASS, ref_of(r.uuid), f);
    }
}

/// `role.get_permissions`: a role's permissions (none for a permission).
pub fn permissions(d: &Domain, r: Ref) -> ApiResult<Vec<Ref>> {
    d.registry.get_field(role::SUBROLES, r)
}

/// `role.get_permissions_name_label`.
pub fn permission_names(d: &Domain, r: Ref) -> ApiResult<Vec<String>> {
    let subs = permissions(d, r)?;
    Ok(subs
        .into_iter()
        .filter_map(|p| d.registry.get_field(role::NAME_LABEL, p).ok())
        .collect())
}

/// `role.get_by_permission`: the roles that hold a permission, most
/// privileged first.
pub fn by_permission(d: &Domain, permission: Ref) -> ApiResult<Vec<Ref>> {
    let name = d.registry.get_field(role::NAME_LABEL, permission)?;
    Ok(by_permission_name(d, &name))
}

/// `role.get_by_permission_name_label`: as [`by_permission`], by name; an
/// unknown name holds no role.
pub fn by_permission_name(d: &Domain, name: &str) -> Vec<Ref> {
    let Some(p) = d.rbac.permission(name) else {
        return Vec::new();
    };
    d.rbac
        .roles
        .iter()
        .enumerate()
        .filter(|(i, _)| p.roles & (1 << i) != 0)
        .map(|(_, r)| ref_of(r.uuid))
        .collect()
}

/// Checks the permission of an HTTP handler (`http/<action>`).
pub fn check_http(d: &Domain, who: &Identity, action: &str) -> ApiResult<()> {
    let name = format!("http/{action}");
    let roles = d.rbac.permission(&name).map_or(0, |p| p.roles);
    if who.allows(roles) {
        Ok(())
    } else {
        Err(denied(d, &name, roles))
    }
}

/// `RBAC_PERMISSION_DENIED [permission, message]` as xapi words it, naming
/// the roles that hold the permission.
pub fn denied(d: &Domain, permission: &str, roles: crate::model::rbac::RoleMask) -> ApiError {
    ApiError::rbac_permission_denied(
        permission,
        format_args!(
            "No permission in user session. (Roles with this permission: {})",
            d.rbac.role_names(roles)
        ),
    )
}
