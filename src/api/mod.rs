//! The API: dispatch (arity, types and session from the model; the `Async.`
//! wrapper), the implicit messages, and one file per class for its
//! hand-written messages.
//!
//! To find the handler of `C.m`: implicit messages (getters, setters,
//! `get_record`, ...) are in [`implicit`]; explicit ones are listed in
//! [`handlers::TABLE`] and live in the file named after the class.

pub mod args;
pub mod block_job;
pub mod busy;
pub mod dispatch;

pub mod eta;
pub mod event;
pub mod handlers;
pub mod host;
pub mod ids;
pub mod implicit;
pub mod session;
pub mod sr;
pub mod task;
pub mod vbd;
pub mod vdi;
pub mod vm;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use args::Args;
pub use crate::error::{ApiError, ApiResult};
pub use ids::Ids;

use crate::auth::Auth;
use crate::config::Config;
use crate::model::{MethodTable, Model};
use crate::registry::Registry;
use crate::wire::{Ref, Value};

/// A boxed future, for handlers.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An explicit message's implementation.
pub type Handler = fn(Ctx, Args) -> BoxFuture<ApiResult<Value>>;

/// The state every call shares.
pub struct Server {
    /// Configuration.
    pub config: Config,
    /// The datamodel.
    pub model: Arc<Model>,
    /// Every callable method, derived from the model.
    pub methods: MethodTable,
    /// Handlers of explicit messages, by class then message index.
    handlers: Vec<Vec<Handler>>,
    /// All objects.
    pub registry: Registry,
    /// Passwords and login throttling.
    pub auth: Auth,
    /// Names resolved from the model.
    pub ids: Ids,
    /// This host.
    pub host: Ref,
    /// The pool.
    pub pool: Ref,
    /// Session bookkeeping (per-originator caps).
    pub sessions: session::Sessions,
    /// Task bookkeeping (rate estimates, cancellation).
    pub tasks: task::Tasks,
    /// The SRs' directories.
    pub srs: sr::Srs,
    /// Operations in progress on VDIs.
    pub busy: busy::Busy,
    /// Block jobs.
    pub jobs: crate::jobs::engine::Jobs,
    /// Legacy event registrations (event.register/next).
    pub registrations: event::Registrations,
    /// Recently encoded event.from answers, shared among watchers.
    pub event_cache: event::EventCache,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Background work that shutdown waits for.
    pub tracker: TaskTracker,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What a handler knows about its call.
#[derive(Clone)]
pub struct Ctx {
    /// The server.
    pub server: Arc<Server>,
    /// The caller's session (`OpaqueRef:NULL` for login).
    pub session: Ref,
    /// The task this call runs in (`Async.` calls), if any.
    pub task: Option<Ref>,
    /// The task given in the `subtask-of` header, if any.
    pub subtask_of: Option<Ref>,
    /// The wire format of the call (for results streamed in that format).
    pub format: crate::wire::records::Format,
}

impl Server {
    /// The handler of an explicit message.
    pub fn handler(&self, class: usize, message: usize) -> Handler {
        self.handlers[class][message]
    }
}

/// Builds the server state: model, store, root password, host and pool.
pub async fn build(config: Config) -> anyhow::Result<Arc<Server>> {
    let model = Arc::new(crate::model::load_sources(crate::model::embedded())?);
    let methods = MethodTable::new(&model);
    let handlers = handlers::resolve(&model)?;
    let ids = Ids::resolve(&model);
    let (registry, meta) = Registry::open(model.clone(), &config.state_dir)?;
    registry.events().set_capacity(config.event_log_capacity);
    let root_hash = session::bootstrap_root_password(&config, &registry, &meta).await?;
    let auth = Auth::new(
        root_hash,
        config.login_failure_delay,
        config.login_failure_max_delay,
    );
    let (host, pool) = host::bootstrap(&registry, &ids).await?;
    let server = Arc::new(Server {
        config,
        model,
        methods,
        handlers,
        registry,
        auth,
        ids,
        host,
        pool,
        sessions: session::Sessions::default(),
        tasks: task::Tasks::default(),
        srs: sr::Srs::default(),
        busy: busy::Busy::default(),
        jobs: crate::jobs::engine::Jobs::default(),
        registrations: event::Registrations::default(),
        event_cache: event::EventCache::default(),
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
    });
    if server.config.fault_injection {
        tracing::warn!("fault injection is on: VDI.other_config:xapid-fault injects I/O errors");
        crate::storage::fault::enable();
    }
    crate::jobs::engine::recover_after_restart(&server).await?;
    task::recover_after_restart(&server).await?;
    sr::bootstrap(&server).await?;
    vm::recover_after_restart(&server).await?;
    Ok(server)
}
