//! Every job that exists, by ref and by id: the engine's handle, which
//! jobs keep to leave the table when they are dismissed.

use std::sync::Arc;

use dashmap::DashMap;

use super::job::Job;
use crate::domain::Domain;
use crate::error::{ApiError, ApiResult};
use crate::wire::Ref;

/// Every job that exists, by ref and by id.
pub struct Jobs {
    /// The domain the jobs work in.
    pub domain: Arc<Domain>,
    pub(super) by_ref: DashMap<Ref, Arc<Job>>,
    /// Ids in use: those of live jobs and of concluded ones kept for their
    /// clients (also across a restart).
    pub(super) ids: DashMap<String, Ref>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("count", &self.by_ref.len())
            .finish()
    }
}

impl Jobs {
    /// An empty table over `domain`.
    pub fn new(domain: Arc<Domain>) -> Arc<Jobs> {
        Arc::new(Jobs {
            domain,
            by_ref: DashMap::new(),
            ids: DashMap::new(),
        })
    }

    /// A live job, or `HANDLE_INVALID`.
    pub fn get(&self, r: Ref) -> ApiResult<Arc<Job>> {
        self.by_ref
            .get(&r)
            .map(|j| j.clone())
            .ok_or_else(|| ApiError::handle_invalid("block_job", r))
    }

    /// Takes a dismissed job out: its ref and its id are free again.
    pub(super) fn forget(&self, r: Ref, id: &str) {
        self.by_ref.remove(&r);
        self.ids.remove(id);
    }

    /// How many jobs are live.
    pub fn len(&self) -> usize {
        self.by_ref.len()
    }

    /// Whether no job is live.
    pub fn is_empty(&self) -> bool {
        self.by_ref.is_empty()
    }
}
