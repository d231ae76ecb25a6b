//! `VBD`: A virtual block device: attaches a VDI to a VM.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `VBD`.
pub const CLASS: ClassId = 9;

/// The wire name of the class.
pub const NAME: &str = "VBD";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `VM` (`VM ref`, RO): The virtual machine.
pub const VM: Field<Ref> = Field::new(CLASS, 1, "VM");

/// `VDI` (`VDI ref`, RO): The virtual disk.
pub const VDI: Field<Ref> = Field::new(CLASS, 2, "VDI");

/// `userdevice` (`string`, RW): User-friendly device name e.g. 0,1,2,etc.
pub const USERDEVICE: Field<String> = Field::new(CLASS, 3, "userdevice");

/// `bootable` (`bool`, RW): True if this VBD is bootable.
pub const BOOTABLE: Field<bool> = Field::new(CLASS, 4, "bootable");

/// `mode` (`vbd_mode`, RW): The mode the VBD should be mounted with.
pub const MODE: Field<VbdMode> = Field::new(CLASS, 5, "mode");

/// `type` (`vbd_type`, RW): How the VBD will appear to the guest (e.g. disk or CD).
pub const TYPE: Field<VbdType> = Field::new(CLASS, 6, "type");

/// `other_config` (`(string -> string) map`, RW): Additional configuration.
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 7, "other_config");
