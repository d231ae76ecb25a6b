//! Sessions: the check every call makes, creation after a login, idle
//! expiry, the per-originator cap, and root's password (bootstrap and
//! change).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use uuid::Uuid;

use super::{durable, Domain};
use crate::auth::{password, AuthFailure, ROOT};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::model::schema::session;
use crate::model::RowExt;
use crate::registry::{Registry, Write};
use crate::wire::{DateTime, Ref, Value};

/// The store key of root's password hash.
const ROOT_HASH_KEY: &str = "root_password_hash";

/// Live sessions grouped by originator, oldest first, for the cap.
#[derive(Default)]
pub struct Sessions {
    by_originator: Mutex<HashMap<String, VecDeque<Ref>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// Checks the session argument of a call: `SESSION_INVALID [ref]` unless it
/// names a live session. Refreshes `last_active` to the second (memory only).
pub fn check(d: &Domain, v: &Value) -> ApiResult<Ref> {
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
    Ok(r)
}

/// Removes a session and its bookkeeping.
pub fn destroy(d: &Domain, r: Ref) {
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

/// Creates a session row for an authenticated user, evicting the least
/// recently active session of the same originator beyond the cap.
pub fn create(d: &Domain, user: &str, originator: &str) -> Ref {
    let now = DateTime::now();
    let mut f = d.model.default_row(session::CLASS);
    f.set(session::UUID, Uuid::new_v4().to_string());
    f.set(session::THIS_HOST, d.host);
    f.set(session::LAST_ACTIVE, now);
    f.set(session::VALIDATION_TIME, now);
    f.set(session::IS_LOCAL_SUPERUSER, user == ROOT);
    f.set(session::AUTH_USER_NAME, user);
    f.set(session::ORIGINATOR, originator);
    let r = Ref::new();
    // Sessions are never persisted: nothing to wait for.
    let _ = d.registry.insert(session::CLASS, r, f);
    let evict: Vec<Ref> = {
        let Ok(mut m) = d.sessions.by_originator.lock() else {
            return r;
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
    r
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
    write_secret(&path, &pw)?;
    let h = password::hash(&pw).map_err(anyhow::Error::msg)?;
    save(&h).await?;
    tracing::warn!(path = %path.display(), "no root password was given: generated one and saved it (mode 0600); log in as root with it");
    Ok(h)
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(())
}

/// Checks a user's password: `SESSION_AUTHENTICATION_FAILED` if it is
/// wrong (after the login throttle's delay).
pub async fn authenticate(d: &Domain, user: &str, password: &str) -> ApiResult<()> {
    match d.auth.check(user, password).await {
        Ok(()) => Ok(()),
        Err(AuthFailure::Denied) => Err(ApiError::session_authentication_failed(
            user,
            "Authentication failure",
        )),
        Err(AuthFailure::Internal(e)) => Err(ApiError::internal(e)),
    }
}

/// The user a session belongs to ("" when it is gone).
pub fn user_of(d: &Domain, session: Ref) -> String {
    d.registry
        .get_field(session::AUTH_USER_NAME, session)
        .unwrap_or_default()
}

/// Changes the password of the session's user (root): the old one must
/// match; the new hash is durable before it takes effect.
pub async fn change_password(d: &Domain, session: Ref, old: &str, new: &str) -> ApiResult<()> {
    let user = user_of(d, session);
    if new.is_empty() {
        return Err(ApiError::invalid_value(
            "new_pwd",
            "the new password must not be empty",
        ));
    }
    authenticate(d, &user, old).await?;
    let new = new.to_owned();
    let hash = tokio::task::spawn_blocking(move || password::hash(&new))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    durable(
        d.registry
            .put_meta(ROOT_HASH_KEY, hash.clone().into_bytes()),
    )
    .await?;
    d.auth.set_root_hash(hash);
    // A generated password on disk is no longer the password.
    let file = d.config.state_dir.join("root-password");
    if file.exists() {
        if let Err(e) = std::fs::remove_file(&file) {
            tracing::warn!(path = %file.display(), error = %e, "could not remove the generated root password file");
        } else {
            tracing::info!(path = %file.display(), "password changed: removed the generated root password file");
        }
    }
    tracing::info!(user = %user, "password changed");
    Ok(())
}
