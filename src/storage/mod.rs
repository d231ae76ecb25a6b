//! Storage (issue 3, in progress): what xapid reads and writes of image
//! files itself. So far the qcow2 header (size, backing pointer).

pub mod qcow2_header;
