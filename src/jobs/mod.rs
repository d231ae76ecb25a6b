//! The block-job engine (issue 3, in progress): QEMU's job state machine so
//! far; the job types, rate limiter and transactions follow.

pub mod state;
