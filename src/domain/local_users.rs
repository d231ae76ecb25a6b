//! Local users (`local:<name>` subjects) as a login sees them: found by
//! login name with their password hash and roles, and the one lock that
//! orders every change to subjects. The bottom of the sessions/subjects
//! pair: `sessions` logs local users in and changes their passwords,
//! `subjects` manages them.

use super::Domain;
use crate::model::rbac::RoleMask;
use crate::model::schema::subject;
use crate::wire::Ref;

/// The prefix of a local user's subject identifier.
pub const LOCAL: &str = "local:";

/// Serializes changes to subjects.
#[derive(Default)]
pub struct Subjects {
    pub(super) lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Subjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subjects").finish_non_exhaustive()
    }
}

/// What a login needs to know about a local user.
#[derive(Debug, Clone)]
pub struct LocalUser {
    /// The subject.
    pub subject: Ref,
    /// Its identifier, `local:<name>`.
    pub sid: String,
    /// Its password hash (empty: none set).
    pub hash: String,
    /// Its roles.
    pub roles: RoleMask,
}

/// The mask of a set of role refs (refs that are not roles count for
/// nothing).
pub fn roles_mask(d: &Domain, roles: &[Ref]) -> RoleMask {
    roles
        .iter()
        .filter_map(|r| d.rbac.role_bit(&r.0))
        .fold(0, |m, b| m | b)
}

/// The local user with this login name.
pub fn find_local(d: &Domain, name: &str) -> Option<LocalUser> {
    let sid = format!("{LOCAL}{name}");
    let mut found = None;
    d.registry.for_each(subject::CLASS, |r, row| {
        if found.is_none() && row.get(subject::SUBJECT_IDENTIFIER) == sid {
            found = Some((r, row.get(subject::PASSWORD_HASH), row.get(subject::ROLES)));
        }
    });
    let (r, hash, roles) = found?;
    Some(LocalUser {
        subject: r,
        sid,
        hash,
        roles: roles_mask(d, &roles),
    })
}
