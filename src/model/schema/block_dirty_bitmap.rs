//! `block_dirty_bitmap`: xapid extension: a named dirty bitmap of a VDI, as QEMU's (block-dirty-bitmap-*): while it is recording, every block xapid writes into the VDI is set in it, recorded on disk before the write. A persistent bitmap survives restarts, and crashes too (it is never inconsistent: the set is a superset of what changed); a transient one goes when the server stops. Its blocks changed can be read over NBD as the context qemu:dirty-bitmap:\<name> of the VDI's export.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `block_dirty_bitmap`.
pub const CLASS: ClassId = 10;

/// The wire name of the class.
pub const NAME: &str = "block_dirty_bitmap";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `name` (`string`, RO): The bitmap's name, unique among the VDI's bitmaps (1 to 1023 bytes).
pub const NAME_: Field<String> = Field::new(CLASS, 1, "name");

/// `VDI` (`VDI ref`, RO): The VDI whose writes the bitmap records.
pub const VDI: Field<Ref> = Field::new(CLASS, 2, "VDI");

/// `granularity` (`int`, RO): Bytes covered by one bit: a power of two from 512 to 2^31.
pub const GRANULARITY: Field<i64> = Field::new(CLASS, 3, "granularity");

/// `count` (`int`, RO): Bytes marked dirty (bits set times the granularity, cut at the VDI's size); brought up to date when an operation that wrote the VDI ends.
pub const COUNT: Field<i64> = Field::new(CLASS, 4, "count");

/// `recording` (`bool`, RO): True while writes are recorded (the bitmap is enabled).
pub const RECORDING: Field<bool> = Field::new(CLASS, 5, "recording");

/// `busy` (`bool`, RO): True while a job or an export uses the bitmap: it can then not be removed, cleared, enabled or disabled (QEMU's busy).
pub const BUSY: Field<bool> = Field::new(CLASS, 6, "busy");

/// `persistent` (`bool`, RO): True if the bitmap survives a restart (qcow2 VDIs only, as QEMU). A persistent bitmap is also kept in the VDI's qcow2 file, in QEMU's bitmaps extension (qemu-img info lists it, qemu-nbd -B exports it), brought up to date whenever no writer has the file open.
pub const PERSISTENT: Field<bool> = Field::new(CLASS, 7, "persistent");

/// `inconsistent` (`bool`, RO): True if the bitmap cannot be trusted (QEMU's state after an unclean stop; xapid's bitmaps never become so, but one read from a qcow2 image may be): only remove is allowed.
pub const INCONSISTENT: Field<bool> = Field::new(CLASS, 8, "inconsistent");
