//! The parameters of every explicit message, typed and in order (the
//! session excluded), a file per class.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

mod session;
pub use session::*;
mod task;
pub use task::*;
mod host;
pub use host::*;
mod sr;
pub use sr::*;
mod vdi;
pub use vdi::*;
mod block_job;
pub use block_job::*;
mod event;
pub use event::*;
mod vm;
pub use vm::*;
mod vbd;
pub use vbd::*;
mod block_dirty_bitmap;
pub use block_dirty_bitmap::*;
mod role;
pub use role::*;
mod subject;
pub use subject::*;
