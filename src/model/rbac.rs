//! Roles and permissions (xapi's RBAC), as the datamodel declares them.
//!
//! Roles are ordered from the most privileged (`pool-admin`) to the least
//! (`read-only`). A set of roles is a [`RoleMask`], bit `i` for the `i`-th
//! role. A message allows "role R and every role above it", so its mask
//! is the bits `0..=i`; a session holds the bits of its subject's roles,
//! and a call is allowed when the two meet (or the session is the local
//! superuser). The empty mask is xapi's `_R_LOCAL_ROOT_ONLY`.
//!
//! Every permission is named as xapi names it: the lower-cased wire name
//! of a message (`vdi.copy`, `task.get_record`), an extra permission
//! (`task.destroy/any`), or `http/<action>` for an HTTP handler. The
//! [`Rbac`] table lists them all with their masks; the `role` class serves
//! it (one row per role and per permission).

use std::collections::HashMap;

use uuid::Uuid;

use super::{MethodKind, MethodTable, Model};

/// A set of roles: bit `i` is the `i`-th role of [`Model::roles`].
pub type RoleMask = u8;

/// Every role.
pub const ALL_ROLES: RoleMask = RoleMask::MAX;

/// The name that allows only the local superuser.
pub const LOCAL_ROOT: &str = "local-root";

/// A role of the datamodel.
#[derive(Debug, Clone)]
pub struct RoleDef {
    /// `pool-admin`, ...
    pub name: String,
    /// Its fixed uuid (its ref is `OpaqueRef:<uuid>`).
    pub uuid: Uuid,
    /// What it is for.
    pub doc: String,
}

/// A permission that belongs to no message.
#[derive(Debug, Clone)]
pub struct ExtraPermission {
    /// Its name, e.g. `task.destroy/any`.
    pub name: String,
    /// The roles that hold it.
    pub roles: RoleMask,
    /// What it allows.
    pub doc: String,
}

/// An HTTP handler with its permission (`http/<name>`).
#[derive(Debug, Clone)]
pub struct HttpAction {
    /// xapi's action name, e.g. `put_import_raw_vdi`.
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// The roles that hold it.
    pub roles: RoleMask,
    /// What it does.
    pub doc: String,
}

/// Parses a role name into the mask of it and every role above it;
/// `local-root` is the empty mask. `None` for an unknown name.
pub fn parse_roles(roles: &[RoleDef], name: &str) -> Option<RoleMask> {
    if name == LOCAL_ROOT {
        return Some(0);
    }
    let i = roles.iter().position(|r| r.name == name)?;
    Some(if i + 1 >= RoleMask::BITS as usize {
        ALL_ROLES
    } else {
        ((1u16 << (i + 1)) - 1) as RoleMask
    })
}

/// The uuid xapi gives a role or permission: the MD5 of its name, taken
/// as the 16 bytes of a uuid.
pub fn md5_uuid(name: &str) -> Uuid {
    use md5::{Digest, Md5};
    let d: [u8; 16] = Md5::digest(name.as_bytes()).into();
    Uuid::from_bytes(d)
}

/// One permission.
#[derive(Debug, Clone)]
pub struct Permission {
    /// Its name (lower case), e.g. `vdi.copy`.
    pub name: String,
    /// Its uuid (the MD5 of the name as the datamodel spells it).
    pub uuid: Uuid,
    /// The roles that hold it.
    pub roles: RoleMask,
}

/// Every role and permission, derived from the model.
#[derive(Debug)]
pub struct Rbac {
    /// The roles, most privileged first.
    pub roles: Vec<RoleDef>,
    /// Every permission, in model order (messages, extras, HTTP).
    pub permissions: Vec<Permission>,
    by_name: HashMap<String, usize>,
}

impl Rbac {
    /// Derives the table: one permission per method that needs a session
    /// (explicit and implicit), then the extras, then the HTTP actions.
    pub fn new(model: &Model) -> Rbac {
        let table = MethodTable::new(model);
        let mut permissions = Vec::new();
        for m in table.all() {
            if !m.session || m.kind == MethodKind::ListMethods {
                continue;
            }
            permissions.push(Permission {
                name: m.permission.clone(),
                uuid: md5_uuid(&m.wire),
                roles: m.roles,
            });
        }
        for p in &model.extra_permissions {
            permissions.push(Permission {
                name: p.name.to_ascii_lowercase(),
                uuid: md5_uuid(&p.name),
                roles: p.roles,
            });
        }
        for h in &model.http_actions {
            let name = format!("http/{}", h.name);
            permissions.push(Permission {
                name: name.to_ascii_lowercase(),
                uuid: md5_uuid(&name),
                roles: h.roles,
            });
        }
        let by_name = permissions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        Rbac {
            roles: model.roles.clone(),
            permissions,
            by_name,
        }
    }

    /// A permission by name.
    pub fn permission(&self, name: &str) -> Option<&Permission> {
        self.by_name.get(name).map(|&i| &self.permissions[i])
    }

    /// The permissions a set of roles holds, in table order.
    pub fn permissions_of(&self, mask: RoleMask) -> impl Iterator<Item = &Permission> {
        self.permissions.iter().filter(move |p| p.roles & mask != 0)
    }

    /// The bit of a role, by uuid.
    pub fn role_bit(&self, uuid: &Uuid) -> Option<RoleMask> {
        self.roles
            .iter()
            .position(|r| r.uuid == *uuid)
            .map(|i| 1 << i)
    }

    /// The names of the roles in a mask, most privileged first, joined
    /// with ", " (as xapi's denial message lists them).
    pub fn role_names(&self, mask: RoleMask) -> String {
        self.roles
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, r)| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How the docs describe a mask: "every role", "local superuser only",
    /// or "R and up".
    pub fn describe(&self, mask: RoleMask) -> String {
        let n = self.roles.len();
        let full: RoleMask = if n >= RoleMask::BITS as usize {
            ALL_ROLES
        } else {
            ((1u16 << n) - 1) as RoleMask
        };
        if mask & full == full {
            return "every role".into();
        }
        if mask & full == 0 {
            return "the local superuser only".into();
        }
        let lowest = (0..n).rev().find(|i| mask & (1 << i) != 0).unwrap_or(0);
        let prefix = ((1u16 << (lowest + 1)) - 1) as RoleMask;
        if mask & full == prefix {
            if lowest == 0 {
                return self.roles[0].name.clone();
            }
            return format!("{} and up", self.roles[lowest].name);
        }
        self.role_names(mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{embedded, load_sources};

    #[test]
    fn uuids_are_xapis() {
        // The uuid Citrix's `xe role-list` shows for pool-operator.
        assert_eq!(
            md5_uuid("pool-operator").to_string(),
            "b9ce9791-0604-50cd-0649-09b3284c7dfd"
        );
        let m = load_sources(embedded()).unwrap();
        assert_eq!(
            m.roles[0].uuid.to_string(),
            "0165f154-ba3e-034e-6b27-5d271af109ba"
        );
        let names: Vec<&str> = m.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pool-admin",
                "pool-operator",
                "vm-power-admin",
                "vm-admin",
                "vm-operator",
                "read-only"
            ]
        );
    }

    #[test]
    fn masks_cover_the_role_and_those_above() {
        let m = load_sources(embedded()).unwrap();
        assert_eq!(parse_roles(&m.roles, "pool-admin"), Some(0b1));
        assert_eq!(parse_roles(&m.roles, "vm-admin"), Some(0b1111));
        assert_eq!(parse_roles(&m.roles, "read-only"), Some(0b11_1111));
        assert_eq!(parse_roles(&m.roles, LOCAL_ROOT), Some(0));
        assert_eq!(parse_roles(&m.roles, "admin"), None);
        let r = Rbac::new(&m);
        assert_eq!(r.describe(0b1111), "vm-admin and up");
        assert_eq!(r.describe(0b11_1111), "every role");
        assert_eq!(r.describe(0b1), "pool-admin");
        assert_eq!(r.describe(0), "the local superuser only");
        assert_eq!(r.role_names(0b11), "pool-admin, pool-operator");
    }

    /// The table the checks use and the permissions the `role` class
    /// serves are one: every method that needs a session has exactly one
    /// permission, with the method's roles, and xapi's defaults hold.
    #[test]
    fn every_method_has_its_permission() {
        let m = load_sources(embedded()).unwrap();
        let r = Rbac::new(&m);
        let t = MethodTable::new(&m);
        for method in t.all().iter().filter(|x| x.session) {
            let p = r.permission(&method.permission).unwrap();
            assert_eq!(p.roles, method.roles, "{}", method.wire);
            assert_eq!(method.permission, method.wire.to_ascii_lowercase());
        }
        let roles = |w: &str| t.lookup(w).unwrap().0.roles;
        let all = parse_roles(&m.roles, "read-only").unwrap();
        assert_eq!(roles("VDI.get_record") & all, all, "getters: every role");
        assert_eq!(roles("task.get_all_records") & all, all);
        assert_eq!(
            roles("VDI.copy"),
            parse_roles(&m.roles, "vm-admin").unwrap()
        );
        assert_eq!(
            roles("VDI.set_name_label"),
            roles("VDI.copy"),
            "setters: the class's"
        );
        assert_eq!(roles("task.cancel"), all, "tasks: ownership decides");
        assert_eq!(roles("subject.create"), 1);
        assert_eq!(
            r.permission("task.destroy/any").unwrap().roles,
            parse_roles(&m.roles, "pool-operator").unwrap()
        );
        assert!(r.permission("http/put_import_raw_vdi").is_some());
        assert!(r.permission("session.login_with_password").is_none());
    }
}
