//! Subjects: the users that may log in besides root, with their roles and
//! (for local users, `local:<name>`) their password hashes. Every change
//! reaches the subject's open sessions at once ([`sessions`]).
//!
//! Changes to subjects are serialized by one lock, so that two changes to
//! the same subject reach its sessions in the order they were made, and two
//! creations cannot both claim one identifier.

use uuid::Uuid;

use super::local_users::{roles_mask, LOCAL};
use super::{durable, sessions, Domain};
use crate::auth::ROOT;
use crate::error::{ApiError, ApiResult};
use crate::model::schema::subject;
use crate::model::{Map, RowExt};
use crate::registry::Write;
use crate::wire::Ref;

/// The `other_config` key of a subject's login name.
pub const SUBJECT_NAME: &str = "subject-name";

/// Checks a subject identifier: a local user's name is 1 to 64 of
/// `[A-Za-z0-9._@-]` and not `root`; any other identifier is 1 to 256
/// printable characters.
fn check_identifier(sid: &str) -> ApiResult<()> {
    let bad = |why: &str| ApiError::invalid_value("subject_identifier", why);
    if let Some(name) = sid.strip_prefix(LOCAL) {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
        if !ok {
            return Err(bad(
                "a local user's name is 1 to 64 letters, digits, '.', '_', '@' or '-'",
            ));
        }
        if name == ROOT {
            return Err(bad("root is the local superuser, not a subject"));
        }
        return Ok(());
    }
    if sid.is_empty() || sid.len() > 256 || sid.chars().any(char::is_control) {
        return Err(bad("must be 1 to 256 printable characters"));
    }
    Ok(())
}

/// `subject.create`: a new subject with no roles. `SUBJECT_ALREADY_EXISTS`
/// for an identifier in use.
pub async fn create(d: &Domain, sid: String, mut other_config: Map<String>) -> ApiResult<Ref> {
    check_identifier(&sid)?;
    if let Some(name) = sid.strip_prefix(LOCAL) {
        match other_config.get(SUBJECT_NAME) {
            None => other_config.0.push((SUBJECT_NAME.into(), name.to_owned())),
            Some(n) if n == name => {}
            Some(_) => {
                return Err(ApiError::invalid_value(
                    "other_config:subject-name",
                    "must be the name in the subject identifier",
                ))
            }
        }
    }
    let _serial = d.subjects.lock.lock().await;
    let mut taken = false;
    d.registry.for_each(subject::CLASS, |_, row| {
        taken |= row.get(subject::SUBJECT_IDENTIFIER) == sid;
    });
    if taken {
        return Err(ApiError::subject_already_exists());
    }
    let mut f = d.model.default_row(subject::CLASS);
    f.set(subject::UUID, Uuid::new_v4().to_string());
    f.set(subject::SUBJECT_IDENTIFIER, sid.as_str());
    f.set(subject::OTHER_CONFIG, other_config);
    let r = Ref::new();
    durable(d.registry.insert(subject::CLASS, r, f)).await?;
    tracing::info!(subject = %sid, "subject created");
    Ok(r)
}

/// `subject.destroy`: the row goes (durably), then its sessions.
pub async fn destroy(d: &Domain, r: Ref) -> ApiResult<()> {
    let _serial = d.subjects.lock.lock().await;
    let Some((row, commit)) = d.registry.remove(subject::CLASS, r) else {
        return Err(ApiError::handle_invalid(subject::NAME, r));
    };
    durable(commit).await?;
    sessions::end_sessions_of(d, r, Ref::NULL);
    tracing::info!(subject = %row.get(subject::SUBJECT_IDENTIFIER), "subject destroyed");
    Ok(())
}

/// Checks that `role` is one of the roles (not a permission):
/// `ROLE_NOT_FOUND` otherwise.
fn check_role(d: &Domain, role_ref: Ref) -> ApiResult<()> {
    if d.rbac.role_bit(&role_ref.0).is_none() {
        return Err(ApiError::role_not_found());
    }
    Ok(())
}

/// `subject.add_to_roles` (`add`) and `subject.remove_from_roles`.
pub async fn change_roles(d: &Domain, r: Ref, role_ref: Ref, add: bool) -> ApiResult<()> {
    if !d.registry.exists(subject::CLASS, r) {
        return Err(ApiError::handle_invalid(subject::NAME, r));
    }
    if add {
        check_role(d, role_ref)?;
    }
    let _serial = d.subjects.lock.lock().await;
    let (roles, commit) = d.registry.update(subject::CLASS, r, Write::Durable, |f| {
        let mut roles: Vec<Ref> = f.field(subject::ROLES);
        let has = roles.contains(&role_ref);
        match (add, has) {
            (true, true) => return Err(ApiError::role_already_exists()),
            (false, false) => return Err(ApiError::role_not_found()),
            (true, false) => roles.push(role_ref),
            (false, true) => roles.retain(|x| *x != role_ref),
        }
        f.set(subject::ROLES, roles.clone());
        Ok(roles)
    })?;
    durable(commit).await?;
    sessions::roles_changed(d, r, roles_mask(d, &roles));
    Ok(())
}

/// `subject.set_password` by a pool-admin: every session of the user ends.
pub async fn set_password(d: &Domain, r: Ref, pw: &str) -> ApiResult<()> {
    if pw.is_empty() {
        return Err(ApiError::invalid_value(
            "password",
            "the password must not be empty",
        ));
    }
    let sid = d
        .registry
        .get_field(subject::SUBJECT_IDENTIFIER, r)
        .map_err(|_| ApiError::handle_invalid(subject::NAME, r))?;
    if !sid.starts_with(LOCAL) {
        return Err(ApiError::invalid_value(
            "self",
            "only a local user (subject_identifier local:<name>) has a password here",
        ));
    }
    sessions::store_password(d, r, pw, Ref::NULL).await
}

/// `subject.get_permissions_name_label`.
pub fn permission_names(d: &Domain, r: Ref) -> ApiResult<Vec<String>> {
    let roles = d.registry.get_field(subject::ROLES, r)?;
    Ok(sessions::permission_names(d, roles_mask(d, &roles)))
}
