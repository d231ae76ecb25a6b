//! The engine on its own: real domain, fake work, paused time.

mod policies;
mod speed;
mod support;
mod txn;
mod verbs;
mod walk;
