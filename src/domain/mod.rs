//! The domain: the rules about objects that every layer above it shares
//! (message handlers, the data paths, the block jobs). Tasks and their ETA,
//! sessions, claims on VDIs (with the write hooks of jobs), SRs, VDIs,
//! snapshots, VMs and VBDs, the core of import/export, changed block
//! tracking (`cbt`), hidden bases and their background coalesce
//! (`coalesce`), the NBD exports (`nbd`), and the host's TLS certificate
//! live here, over the registry and the storage layer.
//!
//! ```text
//!   the layers above --> domain (Domain) --> registry (rows, store, events)
//!                                  \------> storage (the only code that touches files)
//! ```
//!
//! The domain never calls up: it knows nothing of the layers above it
//! (`tests/layers.rs` checks it). A job that must see writes made through
//! the server registers a [`claims::WriteHook`] on its claim, and the
//! import path finds it there.

pub mod audit;
pub mod bitmaps;
pub mod cbt;
pub mod claims;
pub mod coalesce;
pub mod eta;
pub mod host;
pub mod leaks;
pub mod local_users;
pub mod nbd;
pub mod pivot;
pub mod roles;
pub mod scan;
pub mod scrape;
pub mod sessions;
pub mod snapshots;
pub mod srs;
pub mod stats;
pub mod subjects;
pub mod task_objects;
pub mod tasks;
pub mod tls;
pub mod transfer;
pub mod vdis;
pub mod vms;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::model::rbac::Rbac;
use crate::model::Model;
use crate::registry::{Commit, Registry};
use crate::wire::Ref;

/// The state every layer above the registry shares.
pub struct Domain {
    /// Configuration.
    pub config: Config,
    /// The datamodel.
    pub model: Arc<Model>,
    /// Roles and permissions, from the datamodel.
    pub rbac: Rbac,
    /// All objects.
    pub registry: Registry,
    /// Passwords and login throttling.
    pub auth: Auth,
    /// The audit log.
    pub audit: audit::Audit,
    /// This host.
    pub host: Ref,
    /// The pool.
    pub pool: Ref,
    /// Live sessions: who each is, and the per-originator caps.
    pub sessions: sessions::Sessions,
    /// Serializes changes to subjects.
    pub subjects: local_users::Subjects,
    /// Task bookkeeping (rate estimates, cancellation, commits on success).
    pub tasks: tasks::Tasks,
    /// The SRs' directories.
    pub srs: srs::Srs,
    /// Operations in progress on VDIs, and the write hooks of jobs.
    pub claims: claims::Claims,
    /// The change logs of changed block tracking.
    pub cbt: cbt::Cbt,
    /// Where the NBD server listens.
    pub nbd: nbd::Nbd,
    /// The named dirty bitmaps' logs.
    pub bitmaps: bitmaps::Bitmaps,
    /// The background coalesce of hidden bases.
    pub coalesce: coalesce::Coalesce,
    /// The served TLS certificate and `host.https_only`.
    pub tls: tls::Tls,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Background work that shutdown waits for.
    pub tracker: TaskTracker,
    /// Counters for `GET /metrics`.
    pub stats: stats::Stats,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Domain {
    /// Opens the store under the configured state directory and makes the
    /// domain: root password, host and pool. Nothing is recovered yet: the
    /// composition root runs recovery in its documented order.
    pub async fn open(config: Config) -> anyhow::Result<Arc<Domain>> {
        let model = Arc::new(crate::model::load_sources(crate::model::embedded())?);
        let (registry, meta) = Registry::open(model.clone(), &config.state_dir)?;
        registry.events().set_capacity(config.event_log_capacity);
        let root_hash = sessions::bootstrap_root_password(&config, &registry, &meta).await?;
        let auth = Auth::new(
            root_hash,
            config.login_failure_delay,
            config.login_failure_max_delay,
        );
        let (host, pool) = host::bootstrap(&registry).await?;
        let rbac = Rbac::new(&model);
        let audit = audit::Audit::open(&config)?;
        roles::bootstrap(&registry, &rbac);
        let https_only = registry
            .get_field(crate::model::schema::host::HTTPS_ONLY, host)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let tls = tls::bootstrap(&config, &host::hostname(), https_only)?;
        let cbt = cbt::Cbt::open(&config.state_dir)?;
        let bitmaps = bitmaps::Bitmaps::open(&config.state_dir)?;
        Ok(Arc::new(Domain {
            config,
            model,
            rbac,
            registry,
            auth,
            audit,
            host,
            pool,
            sessions: sessions::Sessions::default(),
            subjects: local_users::Subjects::default(),
            tasks: tasks::Tasks::default(),
            srs: srs::Srs::default(),
            claims: claims::Claims::default(),
            cbt,
            nbd: nbd::Nbd::default(),
            bitmaps,
            coalesce: coalesce::Coalesce::default(),
            tls,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            stats: stats::Stats::default(),
        }))
    }
}

/// Runs blocking file work off the RPC threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> ApiResult<std::io::Result<T>> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// Waits until a change is on disk; a store failure is a server fault.
pub async fn durable(commit: Commit) -> ApiResult<()> {
    commit.wait().await.map_err(|e| e.api_error())
}

/// A size or count as a datamodel `int`: the model's ints are signed 64-bit,
/// so a value beyond `i64::MAX` (no real file is that large) saturates
/// rather than wrapping negative.
pub fn to_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `VDI_IO_ERROR [message]`: an I/O failure on a VDI, as the client sees it.
pub fn io_error(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::vdi_io_error(format_args!("{what}: {e}"))
}

/// `SR_BACKEND_FAILURE` for a failed file-system operation.
pub fn backend_failure(what: &str, e: impl std::fmt::Display) -> ApiError {
    let msg = e.to_string();
    ApiError::sr_backend_failure(errno_name(&msg), "", format_args!("{what}: {msg}"))
}

/// The errno an I/O error's message names, for `SR_BACKEND_FAILURE`'s
/// first parameter: a full or read-only disk says so, as SM's errors do.
pub fn errno_name(msg: &str) -> &'static str {
    if msg.contains("os error 28") {
        "ENOSPC"
    } else if msg.contains("os error 30") {
        "EROFS"
    } else {
        "EIO"
    }
}

/// `INVALID_VALUE [field, value]`.
pub fn invalid(field: &str, value: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_value(field, value)
}
