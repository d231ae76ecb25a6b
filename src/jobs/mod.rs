//! The block-job engine: QEMU's job state machine ([`state`]) and speed
//! limiter ([`ratelimit`]); the life of a job ([`engine`]) and how it is
//! started ([`setup`]); the job types ([`backup`], [`mirror`] (also active
//! commit), [`stream`], [`commit`]) and what they share ([`copy`]).

pub mod backup;
pub mod commit;
pub mod copy;
pub mod engine;
pub mod mirror;
pub mod ratelimit;
pub mod setup;
pub mod state;
pub mod stream;
