//! The API: dispatch (arity, types and session from the model; the `Async.`
//! wrapper), the implicit messages, and one file per class for its
//! hand-written messages. Handlers parse their arguments, make one call
//! into the domain (`crate::domain`) or the jobs (`crate::jobs`), and shape
//! the answer.
//!
//! To find the handler of `C.m`: implicit messages (getters, setters,
//! `get_record`, ...) are in [`implicit`]; explicit ones live in the file
//! named after the class, as `async fn <message>(cx, <argument struct>)`,
//! and are listed in the generated [`table::TABLE`].

pub mod args;
pub mod block_dirty_bitmap;
pub mod block_job;
pub mod call_stats;
pub mod dispatch;
pub mod event;
pub mod handlers;
pub mod host;
pub mod implicit;
pub mod pieces;
pub mod role;
pub mod session;
pub mod sr;
pub mod subject;
// Generated and compared byte for byte with its render: rustfmt must not
// touch it.
#[rustfmt::skip]
pub mod table;
pub mod task;
pub mod vbd;
pub mod vdi;
pub mod vm;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::error::{ApiError, ApiResult};
pub use args::Args;

use crate::domain::sessions::Identity;
use crate::domain::Domain;
use crate::jobs::Jobs;
use crate::model::MethodTable;
use crate::wire::{Ref, Value};
use call_stats::CallStats;

/// A boxed future, for handlers.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An explicit message's implementation as dispatch and `Async.` calls
/// hold it: the generated wrapper around the typed handler.
pub type Handler = fn(Ctx, Args) -> BoxFuture<ApiResult<Value>>;

/// What every call shares: the domain, the jobs, and the API's own tables.
pub struct Api {
    /// Objects and their rules.
    pub domain: Arc<Domain>,
    /// Block jobs.
    pub jobs: Arc<Jobs>,
    /// Every callable method, derived from the model.
    pub methods: MethodTable,
    /// Calls answered, by method and outcome, and their latency.
    pub calls: CallStats,
    /// Handlers of explicit messages, by class then message index.
    handlers: Vec<Vec<Handler>>,
    /// Legacy event registrations (event.register/next).
    pub registrations: event::Registrations,
    /// Recently encoded event.from answers, shared among watchers.
    pub event_cache: event::EventCache,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// The API over a domain and its jobs; fails if a datamodel message has
    /// no handler.
    pub fn new(domain: Arc<Domain>, jobs: Arc<Jobs>) -> anyhow::Result<Api> {
        let methods = MethodTable::new(&domain.model);
        let handlers = handlers::resolve(&domain.model)?;
        Ok(Api {
            domain,
            jobs,
            calls: CallStats::new(&methods),
            methods,
            handlers,
            registrations: event::Registrations::default(),
            event_cache: event::EventCache::default(),
        })
    }

    /// The handler of an explicit message.
    pub fn handler(&self, class: usize, message: usize) -> Handler {
        self.handlers[class][message]
    }
}

/// What a handler knows about its call.
#[derive(Clone)]
pub struct Ctx {
    /// The API.
    pub api: Arc<Api>,
    /// The caller's session (`OpaqueRef:NULL` for login).
    pub session: Ref,
    /// Who the caller is (root's identity for login).
    pub identity: Arc<Identity>,
    /// The task this call runs in (`Async.` calls), if any.
    pub task: Option<Ref>,
    /// The task given in the `subtask-of` header, if any.
    pub subtask_of: Option<Ref>,
    /// The wire format of the call (for results streamed in that format).
    pub format: crate::wire::records::Format,
}

impl Ctx {
    /// The domain.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.api.domain
    }

    /// The jobs.
    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.api.jobs
    }

    /// The ref that operations on behalf of this call are recorded under:
    /// its task, else its session.
    pub fn owner(&self) -> Ref {
        self.task.unwrap_or(self.session)
    }

    /// Who asks, for a copy.
    pub fn caller(&self) -> crate::jobs::copies::Caller {
        crate::jobs::copies::Caller {
            owner: self.owner(),
            task: self.task,
            sid: self.identity.sid.clone(),
        }
    }
}
