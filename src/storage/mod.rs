//! Storage (issue 3, in progress): what xapid reads and writes of image
//! files itself. Path safety for SR directories, the qcow2 header (size,
//! backing pointer), sparse-aware copying of raw data, blocking access to
//! raw and qcow2 images and their backing chains (through imago), and
//! off-by-default fault injection for tests of I/O error policies.

pub mod fault;
pub mod files;
pub mod image;
pub mod path;
pub mod qcow2_header;
pub mod sparse;
