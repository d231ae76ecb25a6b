//! Storage (issue 3, in progress): what xapid reads and writes of image
//! files itself. So far: path safety for SR directories, the qcow2 header
//! (size, backing pointer), and sparse-aware copying of raw data.

pub mod path;
pub mod qcow2_header;
pub mod sparse;
