//! Sessions: logins (root and local users), the check every call makes
//! (which yields the caller's [`Identity`]), idle expiry, the
//! per-originator cap, passwords (root's bootstrap, changes), and acting
//! on a subject's open sessions at once when its roles or password change.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use uuid::Uuid;

use super::{durable, local_users, Domain};
use crate::auth::{password, AuthFailure, Stored, ROOT};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::model::rbac::RoleMask;
use crate::model::schema::{session, subject};
use crate::model::RowExt;
use crate::registry::{Registry, UuidHasher, Write};
use crate::storage::secret_file;
use crate::wire::{DateTime, Ref, Value};

/// The store key of root's password hash.
const ROOT_HASH_KEY: &str = "root_password_hash";

/// Who is calling: what a session stands for.
#[derive(Debug)]
pub struct Identity {
    /// The session.
    pub session: Ref,
    /// The subject (`OpaqueRef:NULL` for root).
    pub subject: Ref,
    /// The subject identifier (`""` for root, `local:<name>` for a local
    /// user): task ownership compares it, as xapi compares
    /// `auth_user_sid`.
    pub sid: String,
    /// The login name.
    pub user: String,
    /// The originator given at login.
    pub originator: String,
    /// The local superuser: every call is allowed.
    pub superuser: bool,
    /// The subject's roles; changed in place when a pool-admin changes
    /// them, so open sessions follow at once.
    roles: AtomicU8,
}

impl Identity {
    /// Nobody: the caller of a call without a session (login).
    pub fn anonymous() -> Identity {
        Identity {
            session: Ref::NULL,
            subject: Ref::NULL,
            sid: String::new(),
            user: String::new(),
            originator: String::new(),
            superuser: false,
            roles: AtomicU8::new(0),
        }
    }

    /// A caller known only by the name it gave (a login, for the audit
    /// log).
    pub fn named(user: &str) -> Identity {
        Identity {
            user: user.to_owned(),
            ..Identity::anonymous()
        }
    }

    /// Whether the session may make a call open to `allowed`.
    #[inline]
    pub fn allows(&self, allowed: RoleMask) -> bool {
        self.superuser || self.roles.load(Ordering::Acquire) & allowed != 0
    }

    /// The subject's roles now.
    pub fn roles(&self) -> RoleMask {
        self.roles.load(Ordering::Acquire)
    }
}

/// Live sessions: who each one is, and the per-originator queues for the
/// cap (oldest first).
#[derive(Default)]
pub struct Sessions {
    by_originator: Mutex<HashMap<String, VecDeque<Ref>>>,
    /// Looked up on every call: hashed as the registry hashes refs.
    identities: DashMap<Ref, Arc<Identity>, BuildHasherDefault<UuidHasher>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// Checks the session argument of a call: `SESSION_INVALID [ref]` unless it
/// names a live session. Refreshes `last_active` to the second (memory
/// only). Returns who the session is.
pub fn check(d: &Domain, v: &Value) -> ApiResult<Arc<Identity>> {
    let invalid = || {
        let shown = match v {
            Value::String(s) => s.to_string(),
            Value::Ref(r) => r.to_string(),
            _ => String::new(),
        };
        ApiError::session_invalid(shown)
    };
    let r = match v {
        Value::String(s) => Ref::parse(s).ok_or_else(invalid)?,
        Value::Ref(r) => *r,
        _ => return Err(invalid()),
    };
    let now = DateTime::now();
    let last = d
        .registry
        .read(session::CLASS, r, |row| row.get(session::LAST_ACTIVE))
        .ok_or_else(invalid)?;
    let idle = now.0.saturating_sub(last.0);
    let timeout = d.config.session_idle_timeout.as_secs() as i64;
    if idle > timeout {
        destroy(d, r);
        return Err(invalid());
    }
    // Kept to the second (xapi refreshes it only every 10 minutes): the
    // per-originator cap evicts the least recently active session, and that
    // needs to know which one really is. At most one write a second.
    if idle >= 1 {
        let _ = d.registry.update(session::CLASS, r, Write::Volatile, |f| {
            f.set(session::LAST_ACTIVE, now);
            Ok(())
        });
    }
    identity(d, r).ok_or_else(invalid)
}

/// Who a live session is.
pub fn identity(d: &Domain, r: Ref) -> Option<Arc<Identity>> {
    d.sessions.identities.get(&r).map(|i| i.clone())
}

/// Removes a session and its bookkeeping.
pub fn destroy(d: &Domain, r: Ref) {
    d.sessions.identities.remove(&r);
    if let Some((mut row, _)) = d.registry.remove(session::CLASS, r) {
        let originator = row.fields.take(session::ORIGINATOR);
        if let Ok(mut m) = d.sessions.by_originator.lock() {
            if let Some(q) = m.get_mut(&originator) {
                q.retain(|x| *x != r);
                if q.is_empty() {
                    m.remove(&originator);
                }
            }
        }
        // Event waiters check their session when woken.
        d.registry.events().poke();
    }
}

/// Who logs in.
struct Login {
    subject: Ref,
    sid: String,
    user: String,
    superuser: bool,
    roles: RoleMask,
}

/// Creates a session for an authenticated user, evicting the least
/// recently active session of the same originator beyond the cap.
fn create(d: &Domain, who: Login, originator: &str) -> Arc<Identity> {
    let now = DateTime::now();
    let r = Ref::new();
    let identity = Arc::new(Identity {
        session: r,
        subject: who.subject,
        sid: who.sid,
        user: who.user,
        originator: originator.to_owned(),
        superuser: who.superuser,
        roles: AtomicU8::new(who.roles),
    });
    let mut f = d.model.default_row(session::CLASS);
    f.set(session::UUID, Uuid::new_v4().to_string());
    f.set(session::THIS_HOST, d.host);
    f.set(session::LAST_ACTIVE, now);
    f.set(session::VALIDATION_TIME, now);
    f.set(session::IS_LOCAL_SUPERUSER, identity.superuser);
    f.set(session::SUBJECT, identity.subject);
    f.set(session::AUTH_USER_SID, identity.sid.as_str());
    f.set(session::AUTH_USER_NAME, identity.user.as_str());
    f.set(session::ORIGINATOR, originator);
    if !identity.superuser {
        f.set(session::RBAC_PERMISSIONS, permission_names(d, who.roles));
    }
    // Known before the row is visible: a call naming the session finds it.
    d.sessions.identities.insert(r, identity.clone());
    // Sessions are never persisted: nothing to wait for.
    let _ = d.registry.insert(session::CLASS, r, f);
    let evict: Vec<Ref> = {
        let Ok(mut m) = d.sessions.by_originator.lock() else {
            return identity;
        };
        let q = m.entry(originator.to_owned()).or_default();
        q.push_back(r);
        let mut out = Vec::new();
        while q.len() > d.config.max_sessions_per_originator {
            // The least recently active goes first.
            let victim = q
                .iter()
                .enumerate()
                .filter(|(_, x)| **x != r)
                .min_by_key(|(_, x)| {
                    d.registry
                        .get_field(session::LAST_ACTIVE, **x)
                        .unwrap_or(DateTime::EPOCH)
                })
                .map(|(i, _)| i);
            match victim.and_then(|i| q.remove(i)) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    };
    for v in evict {
        tracing::info!(originator = %originator, "session cap reached: evicting the least recently active session");
        destroy(d, v);
    }
    identity
}

/// The names of the permissions a set of roles holds.
pub fn permission_names(d: &Domain, roles: RoleMask) -> Vec<String> {
    d.rbac
        .permissions_of(roles)
        .map(|p| p.name.clone())
        .collect()
}

/// `session.login_with_password`: root, or a local user (`local:<uname>`)
/// with a password and at least one role. Wrong names and passwords are
/// `SESSION_AUTHENTICATION_FAILED` (after the throttle's delay); a local
/// user without roles is `RBAC_PERMISSION_DENIED`, as in xapi.
pub async fn login(d: &Domain, uname: &str, pwd: &str, originator: &str) -> ApiResult<Ref> {
    if uname == ROOT {
        authenticate(d, uname, pwd, Stored::Root).await?;
        let who = Login {
            subject: Ref::NULL,
            sid: String::new(),
            user: ROOT.into(),
            superuser: true,
            roles: 0,
        };
        return Ok(create(d, who, originator).session);
    }
    let found = local_users::find_local(d, uname);
    let stored = match &found {
        Some(s) => Stored::Hash(s.hash.clone()),
        None => Stored::Unknown,
    };
    authenticate(d, uname, pwd, stored).await?;
    let Some(s) = found else {
        return Err(failed(uname));
    };
    if s.roles == 0 {
        return Err(ApiError::rbac_permission_denied(
            "session.login_with_password",
            format_args!(
                "Subject {uname} (identifier {}) has no roles in this pool",
                s.sid
            ),
        ));
    }
    let who = Login {
        subject: s.subject,
        sid: s.sid,
        user: uname.to_owned(),
        superuser: false,
        roles: s.roles,
    };
    let me = create(d, who, originator);
    // The subject may have changed while the password was checked: its
    // password (or the subject itself) gone means no session; its roles
    // are taken as they are now (changes from here on reach this session,
    // which is registered).
    match local_users::find_local(d, uname) {
        Some(now) if now.subject == s.subject && now.hash == s.hash && now.roles != 0 => {
            set_roles(d, &me, now.roles);
            Ok(me.session)
        }
        _ => {
            destroy(d, me.session);
            Err(failed(uname))
        }
    }
}

fn failed(user: &str) -> ApiError {
    ApiError::session_authentication_failed(user, "Authentication failure")
}

/// Sets a session's roles and its `rbac_permissions`.
fn set_roles(d: &Domain, who: &Identity, roles: RoleMask) {
    if who.roles.swap(roles, Ordering::AcqRel) == roles {
        return;
    }
    let names = permission_names(d, roles);
    let _ = d
        .registry
        .update(session::CLASS, who.session, Write::Volatile, |f| {
            f.set(session::RBAC_PERMISSIONS, names);
            Ok(())
        });
}

/// The open sessions of a subject.
fn sessions_of(d: &Domain, subject: Ref) -> Vec<Arc<Identity>> {
    d.sessions
        .identities
        .iter()
        .filter(|e| !subject.is_null() && e.value().subject == subject)
        .map(|e| e.value().clone())
        .collect()
}

/// The subject identifiers with an open session (root's, `""`, left out),
/// sorted.
pub fn subject_identifiers(d: &Domain) -> Vec<String> {
    let mut v: Vec<String> = d
        .sessions
        .identities
        .iter()
        .filter(|e| !e.value().sid.is_empty())
        .map(|e| e.value().sid.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `session.logout_subject_identifier`: ends the sessions of a user but
/// `keep`. Root's sessions (identifier `""`) are not a user's.
pub fn logout_subject_identifier(d: &Domain, sid: &str, keep: Ref) -> ApiResult<()> {
    if sid.is_empty() {
        return Err(ApiError::invalid_value(
            "subject_identifier",
            "root's sessions have no subject identifier",
        ));
    }
    let victims: Vec<Ref> = d
        .sessions
        .identities
        .iter()
        .filter(|e| e.value().sid == sid && *e.key() != keep)
        .map(|e| *e.key())
        .collect();
    for r in victims {
        destroy(d, r);
    }
    Ok(())
}

/// A subject's roles changed: its open sessions follow at once; with no
/// role left, they end (as a login would be refused).
pub fn roles_changed(d: &Domain, subject: Ref, roles: RoleMask) {
    for who in sessions_of(d, subject) {
        if roles == 0 {
            destroy(d, who.session);
        } else {
            set_roles(d, &who, roles);
        }
    }
    if roles == 0 {
        d.registry.events().poke();
    }
}

/// A subject was destroyed or its password changed: its open sessions end
/// at once (but `keep`, the session that changed its own password).
pub fn end_sessions_of(d: &Domain, subject: Ref, keep: Ref) {
    let mut ended = 0;
    for who in sessions_of(d, subject) {
        if who.session != keep {
            destroy(d, who.session);
            ended += 1;
        }
    }
    if ended > 0 {
        tracing::info!(sessions = ended, "ended the sessions of a changed subject");
    }
}

/// Destroys sessions idle longer than the timeout.
pub fn gc(d: &Domain) {
    let now = DateTime::now().0;
    let timeout = d.config.session_idle_timeout.as_secs() as i64;
    let mut expired = Vec::new();
    d.registry.for_each(session::CLASS, |r, row| {
        if now.saturating_sub(row.get(session::LAST_ACTIVE).0) > timeout {
            expired.push(r);
        }
    });
    for r in expired {
        destroy(d, r);
    }
}

/// Decides root's password hash at start-up: the one given by environment
/// or config file (re-hashed only when it changed), else the stored one,
/// else a generated password written to `<state-dir>/root-password` (0600).
pub async fn bootstrap_root_password(
    config: &Config,
    registry: &Registry,
    meta: &[(String, Vec<u8>)],
) -> anyhow::Result<String> {
    let stored = meta
        .iter()
        .find(|(k, _)| k == ROOT_HASH_KEY)
        .and_then(|(_, v)| String::from_utf8(v.clone()).ok());
    let save = |hash: &str| {
        registry
            .put_meta(ROOT_HASH_KEY, hash.as_bytes().to_vec())
            .wait()
    };
    if let Some(pw) = &config.root_password {
        if let Some(h) = &stored {
            if password::verify(pw, h) {
                return Ok(h.clone());
            }
        }
        let h = password::hash(pw).map_err(anyhow::Error::msg)?;
        save(&h).await?;
        return Ok(h);
    }
    if let Some(h) = stored {
        return Ok(h);
    }
    let pw = password::generate().map_err(anyhow::Error::msg)?;
    let path = config.state_dir.join("root-password");
    secret_file::write_atomic(&path, format!("{pw}\n").as_bytes(), 0o600)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let h = password::hash(&pw).map_err(anyhow::Error::msg)?;
    save(&h).await?;
    tracing::warn!(path = %path.display(), "no root password was given: generated one and saved it (mode 0600); log in as root with it");
    Ok(h)
}

/// Checks a user's password: `SESSION_AUTHENTICATION_FAILED` if it is
/// wrong (after the login throttle's delay).
/// Who a user name and password are, without making a session: for the
/// HTTP basic auth of `GET /metrics`, sent with every scrape. The rules of
/// [`login`] (root, or a local user with a password and a role); a success
/// is remembered a minute ([`crate::auth::Auth::check_remembered`]).
pub async fn verify(d: &Domain, uname: &str, pwd: &str) -> ApiResult<Identity> {
    let (stored, found) = if uname == ROOT {
        (Stored::Root, None)
    } else {
        let found = local_users::find_local(d, uname);
        let stored = match &found {
            Some(s) => Stored::Hash(s.hash.clone()),
            None => Stored::Unknown,
        };
        (stored, found)
    };
    match d.auth.check_remembered(uname, pwd, stored).await {
        Ok(()) => {}
        Err(AuthFailure::Denied) => return Err(failed(uname)),
        Err(AuthFailure::Internal(e)) => return Err(ApiError::internal(e)),
    }
    let (subject, sid, superuser, roles) = match found {
        None if uname == ROOT => (Ref::NULL, String::new(), true, 0),
        Some(s) if s.roles != 0 => (s.subject, s.sid, false, s.roles),
        _ => return Err(failed(uname)),
    };
    Ok(Identity {
        session: Ref::NULL,
        subject,
        sid,
        user: uname.to_owned(),
        originator: String::new(),
        superuser,
        roles: AtomicU8::new(roles),
    })
}

async fn authenticate(d: &Domain, user: &str, password: &str, stored: Stored) -> ApiResult<()> {
    match d.auth.check(user, password, stored).await {
        Ok(()) => Ok(()),
        Err(AuthFailure::Denied) => Err(failed(user)),
        Err(AuthFailure::Internal(e)) => Err(ApiError::internal(e)),
    }
}

/// Hashes a password on a blocking thread.
pub async fn hash_password(pw: &str) -> ApiResult<String> {
    let pw = pw.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// `session.change_password(old, new)` by the session's user: root or a
/// local user. The old password must match; the new hash is durable before
/// it takes effect; a local user's other sessions end.
pub async fn change_password(d: &Domain, who: &Identity, old: &str, new: &str) -> ApiResult<()> {
    if new.is_empty() {
        return Err(ApiError::invalid_value(
            "new_pwd",
            "the new password must not be empty",
        ));
    }
    if !who.superuser {
        let stored = match local_users::find_local(d, &who.user) {
            Some(s) if s.subject == who.subject => Stored::Hash(s.hash),
            _ => Stored::Unknown,
        };
        authenticate(d, &who.user, old, stored).await?;
        store_password(d, who.subject, new, who.session).await?;
        tracing::info!(user = %who.user, "password changed");
        return Ok(());
    }
    authenticate(d, &who.user, old, Stored::Root).await?;
    let hash = hash_password(new).await?;
    durable(
        d.registry
            .put_meta(ROOT_HASH_KEY, hash.clone().into_bytes()),
    )
    .await?;
    d.auth.set_root_hash(hash);
    // A generated password on disk is no longer the password.
    let file = d.config.state_dir.join("root-password");
    match secret_file::remove(&file) {
        Ok(false) => {}
        Ok(true) => {
            tracing::info!(path = %file.display(), "password changed: removed the generated root password file")
        }
        Err(e) => {
            tracing::warn!(path = %file.display(), error = %e, "could not remove the generated root password file")
        }
    }
    tracing::info!(user = %who.user, "password changed");
    Ok(())
}

/// Hashes and stores a local user's password (durable before it counts),
/// then ends the user's sessions but `keep`.
pub async fn store_password(d: &Domain, r: Ref, pw: &str, keep: Ref) -> ApiResult<()> {
    let hash = hash_password(pw).await?;
    let _serial = d.subjects.lock.lock().await;
    let ((), commit) = d.registry.update(subject::CLASS, r, Write::Durable, |f| {
        f.set(subject::PASSWORD_HASH, hash);
        Ok(())
    })?;
    durable(commit).await?;
    end_sessions_of(d, r, keep);
    Ok(())
}
