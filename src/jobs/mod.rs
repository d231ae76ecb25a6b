//! The block-job engine (issue 3, in progress): QEMU's job state machine so
//! far, and the speed limiter; job types and transactions follow.

pub mod ratelimit;
pub mod state;
