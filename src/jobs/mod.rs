//! The block-job engine: a job's life from `created` to `null`, with QEMU's
//! state machine ([`state`]), its verbs, speed limiting ([`ratelimit`]),
//! error policies, and the task that clients follow.
//!
//! A job has two halves. Its *work* ([`work::Work`]) copies data on a
//! thread of its own (image I/O never runs on the RPC runtime) and calls
//! back into [`job::Job`] at its pause points: there it pauses, sleeps under
//! the speed limit, notices cancellation, reports progress and asks what to
//! do about an I/O error. Its *coordinator* ([`coordinator`]), an async
//! task, starts the work, publishes progress ([`progress`]) every tick, and
//! once the work has ended walks the job through waiting, pending,
//! finalization (the work's `commit` or `abort`), concluded and dismissal,
//! and finishes the task.
//!
//! - [`options`]: what a job is asked to do ([`options::Spec`]).
//! - [`error`]: how a job fails ([`error::JobError`]) and the XenAPI error
//!   that becomes; [`clock`]: the time a job's work goes by.
//! - [`start`]: checking, claiming, opening, then starting a job.
//! - [`table`]: every job by ref and id ([`table::Jobs`], the engine's handle).
//! - [`txn`]: transactions; [`group`]: grouped completion.
//! - [`copies`]: `VDI.copy`/`clone` and `VM.copy`/`clone` as jobs.
//! - [`recover`]: jobs after a restart; [`faults`]: fault injection.
//! - The job types: [`backup`], [`mirror`] (also active commit),
//!   [`stream`], [`commit`], and what they share ([`copy`]).
//!
//! Jobs use the domain (`crate::domain`) and storage; they never call the
//! API or HTTP layers. The engine's own tests (`tests/`) run jobs with a
//! fake work on a real domain, under tokio's paused clock.

pub mod backup;
pub mod clock;
pub mod commit;
pub mod coordinator;
pub mod copies;
pub mod copy;
pub mod error;
pub mod faults;
pub mod group;
pub mod job;
pub mod mirror;
pub mod options;
pub mod progress;
pub mod ratelimit;
pub mod recover;
pub mod start;
pub mod state;
pub mod stream;
pub mod table;
pub mod txn;
pub mod work;

#[cfg(test)]
mod tests;

pub use error::{JobError, OnError};
pub use job::Job;
pub use options::{JobKind, Policy, Side, Spec, SyncMode};
pub use table::Jobs;
pub use work::{Effect, Ended, Held, Work};
