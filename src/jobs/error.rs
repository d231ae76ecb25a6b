//! How a job fails, as a kind with its source ([`JobError`]), and the one
//! place that turns it into the XenAPI error clients see
//! ([`JobError::into_api`], called by the coordinator when the job
//! concludes).
//!
//! Workers run on threads of their own and know nothing of XenAPI codes:
//! they report *what* went wrong (cancelled, an I/O error on one side of
//! the copy), and an error policy can match on that kind instead of on a
//! formatted string.

use std::io;

use super::options::Side;
use crate::error::ApiError;
use crate::wire::Ref;

/// Why a job's work (or its finalization) did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job was cancelled (forced, before it was ready, or its group
    /// failed).
    #[error("cancelled")]
    Cancelled,
    /// An I/O error reading the source or writing the target.
    #[error("{what}: {source}")]
    Io {
        /// Which side of the copy failed.
        side: Side,
        /// What the job was doing, as the client reads it.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// An I/O error of a step no error policy governs (finalization, a
    /// range a stream skipped under `ignore`): always `VDI_IO_ERROR`, as
    /// clients have always seen it, even when out of space.
    #[error("{what}: {source}")]
    Step {
        /// What the job was doing.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A failure that already is a XenAPI error (applying effects, a lost
    /// job thread).
    #[error("{0}")]
    Api(ApiError),
}

impl From<ApiError> for JobError {
    fn from(e: ApiError) -> JobError {
        JobError::Api(e)
    }
}

impl JobError {
    /// An I/O error on `side`, described as that side's access.
    pub fn io(side: Side, source: io::Error) -> JobError {
        let what = match side {
            Side::Source => "reading the source",
            Side::Target => "writing the target",
        };
        JobError::Io { side, what, source }
    }

    /// Whether the error is the file system running out of space.
    /// (Only errors an error policy saw count: see [`JobError::Step`].)
    pub fn is_nospace(&self) -> bool {
        matches!(self, JobError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC))
    }

    /// The XenAPI error of a job whose task is `task`: `TASK_CANCELLED
    /// [task]`, `SR_FULL [0, 0]` when out of space (the job knows neither
    /// the size asked for nor the room left), `VDI_IO_ERROR [what: error]`
    /// for other I/O errors and for every error of a step no policy
    /// governs.
    pub fn into_api(self, task: Ref) -> ApiError {
        if self.is_nospace() {
            return ApiError::sr_full(0, 0);
        }
        match self {
            JobError::Cancelled => ApiError::task_cancelled(task),
            e @ (JobError::Io { .. } | JobError::Step { .. }) => ApiError::vdi_io_error(e),
            JobError::Api(e) => e,
        }
    }
}

/// What the work should do about an I/O error.
#[derive(Debug)]
pub enum OnError {
    /// Try the same request again (after a `stop` was resumed, or under
    /// `ignore`).
    Retry,
    /// Give up: the job fails with this error.
    Fail(JobError),
}
