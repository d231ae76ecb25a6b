//! The data-moving half of a job ([`Work`]) and what it tells the engine:
//! how it ended, what to do about an I/O error, and the registry changes
//! that finalizing it makes ([`Effect`]). Why it stopped early is a
//! [`JobError`].

use std::io;

use super::error::JobError;
use super::job::Job;
use crate::domain::claims::{Claim, Hook};
use crate::wire::Ref;

/// How the work ended when it did not stop early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Done (a mirror or active commit: completed, so it pivots).
    Done,
    /// A mirror or active commit soft-cancelled in ready: in sync, no pivot.
    NoPivot,
}

/// A change to the registry that finalizing a job makes.
#[derive(Debug)]
pub enum Effect {
    /// Re-read a VDI's file (size, format, backing).
    Refresh(Ref),
    /// `vdi` now lives in `onto`'s file and SR; `onto`'s object is removed,
    /// and `vdi`'s old file is deleted.
    Pivot {
        /// The VDI that moves.
        vdi: Ref,
        /// The VDI whose file it takes over.
        onto: Ref,
    },
}

/// The data-moving half of a job, specific to its type.
pub trait Work: Send + 'static {
    /// Copies; runs on the job's own thread, calling back into `job`.
    fn run(&mut self, job: &Job) -> Result<Ended, JobError>;
    /// Makes a successful job's result take effect (backing pointers,
    /// pivots); blocking, at finalization. Returns the registry changes.
    fn commit(&mut self, ended: Ended) -> io::Result<Vec<Effect>>;
    /// Undoes what can be undone of a failed or cancelled job.
    fn abort(&mut self) {}
    /// Images that writes made through the server (imports) must go
    /// through while the job runs, with the hook that sees them.
    fn hook(&self) -> Option<(Ref, Hook)> {
        None
    }
}

/// Everything a started job holds until it concludes.
pub struct Held {
    /// Claims on the VDIs it uses (a hooked device's claim carries the
    /// work's write hook once the job starts).
    pub claims: Vec<Claim>,
    /// Its work.
    pub work: Box<dyn Work>,
}
