//! What xapid does with qcow2 files below imago: the header (read, and
//! the backing pointer rewritten), persistent dirty bitmaps (with the
//! small cluster allocator they need), and the ordering of imago's metadata
//! writes that keeps a file consistent whenever the process dies.

pub mod bitmaps;
pub(crate) mod guarded_file;
pub mod header;
pub mod leaks;
pub(crate) mod ordering;
pub(crate) mod refcount;
