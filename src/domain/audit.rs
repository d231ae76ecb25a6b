//! The audit log: one JSON line per call that changes something and per
//! denied call, in `<state-dir>/audit.log` (rotated by size), written
//! before the call's answer goes out.
//!
//! A line holds the time, who called (user name, subject, subject
//! identifier, originator, client address), the call, the object refs it
//! named, whether it was allowed, and its outcome (`ok` with a returned
//! ref, or the error code). Parameters other than refs are never written,
//! so no password or other secret parameter can reach the log.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

use super::sessions::Identity;
use crate::config::Config;
use crate::error::ApiError;
use crate::model::schema::codes;
use crate::storage::journal::Journal;
use crate::wire::{Ref, Value};

/// The audit log.
#[derive(Debug)]
pub struct Audit {
    journal: Journal,
}

/// One audited call.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    /// When (UTC, RFC 3339 with milliseconds).
    pub time: String,
    /// The user name (`root`, a local user's name, or the name a login
    /// tried).
    pub user: &'a str,
    /// The subject (`OpaqueRef:NULL` for root and failed logins).
    pub subject: String,
    /// The subject identifier (`""` for root).
    pub sid: &'a str,
    /// The session's originator.
    pub originator: &'a str,
    /// The client's address.
    pub client: String,
    /// The call, as called (`Async.VDI.copy`).
    pub call: &'a str,
    /// The refs among its parameters.
    pub refs: Vec<String>,
    /// Whether the permission check let it through.
    pub allowed: bool,
    /// `ok` or `error`.
    pub result: &'static str,
    /// The returned ref (a new object, an `Async.` call's task), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returned: Option<String>,
    /// The error code, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// An entry for `call` by `user`, allowed and successful until told
    /// otherwise.
    pub fn new(call: &'a str, user: &'a str, sid: &'a str, originator: &'a str) -> Entry<'a> {
        Entry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            user,
            subject: Ref::NULL.to_string(),
            sid,
            originator,
            client: String::new(),
            call,
            refs: Vec::new(),
            allowed: true,
            result: "ok",
            returned: None,
            error: None,
        }
    }

    /// An entry for `call` by the caller `who`, from `peer`.
    pub fn by(call: &'a str, who: &'a Identity, peer: Option<SocketAddr>) -> Entry<'a> {
        let mut e = Entry::new(call, &who.user, &who.sid, &who.originator).client(peer);
        e.subject = who.subject.to_string();
        e
    }

    /// Records the call's failure: its code, and whether it was a denial.
    pub fn failed(&mut self, err: &ApiError) {
        self.result = "error";
        self.error = Some(err.code);
        self.allowed = err.code != codes::RBAC_PERMISSION_DENIED;
    }

    /// Sets the client address.
    pub fn client(mut self, peer: Option<SocketAddr>) -> Self {
        if let Some(p) = peer {
            self.client = p.to_string();
        }
        self
    }

    /// Collects the refs among parameters (in sets and maps too).
    pub fn refs_of(mut self, params: &[Value]) -> Self {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Ref(r) if !r.is_null() => out.push(r.to_string()),
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                Value::Struct(m) => m.iter().for_each(|(_, x)| walk(x, out)),
                _ => {}
            }
        }
        for p in params {
            walk(p, &mut self.refs);
        }
        self.refs.truncate(64);
        self
    }
}

impl Audit {
    /// Opens `<state-dir>/audit.log`.
    pub fn open(config: &Config) -> anyhow::Result<Audit> {
        let path = Self::path(config);
        let journal = Journal::open(&path, config.audit_log_max_bytes, config.audit_log_keep)
            .map_err(|e| anyhow::anyhow!("cannot open the audit log {}: {e}", path.display()))?;
        Ok(Audit { journal })
    }

    /// Where the log is.
    pub fn path(config: &Config) -> PathBuf {
        config.state_dir.join("audit.log")
    }

    /// Writes an entry. A failure to write is logged, not raised: the call
    /// has happened.
    pub fn record(&self, e: &Entry<'_>) {
        match serde_json::to_vec(e) {
            Ok(line) => {
                if let Err(err) = self.journal.append(&line) {
                    tracing::error!(error = %err, "could not write the audit log");
                }
            }
            Err(err) => tracing::error!(error = %err, "could not encode an audit entry"),
        }
    }

    /// The log's files, oldest first (for `GET /audit_log`).
    pub fn files(&self) -> Vec<PathBuf> {
        self.journal.files()
    }
}
