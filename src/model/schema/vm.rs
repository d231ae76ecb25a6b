//! `VM`: A virtual machine: here, a named set of disks (VBDs attach VDIs to it). VM.clone and VM.copy copy every disk, each in a subtask of the call's task.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `VM`.
pub const CLASS: ClassId = 8;

/// The wire name of the class.
pub const NAME: &str = "VM";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `name_label` (`string`, RW): A human-readable name.
pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

/// `name_description` (`string`, RW): A notes field containing human-readable description.
pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

/// `power_state` (`vm_power_state`, RO): Current power state of the machine (always Halted: xapid runs no guests).
pub const POWER_STATE: Field<VmPowerState> = Field::new(CLASS, 3, "power_state");

/// `VBDs` (`VBD ref set`, RO): Virtual block devices.
pub const VBDS: Field<Vec<Ref>> = Field::new(CLASS, 4, "VBDs");

/// `other_config` (`(string -> string) map`, RW): Additional configuration.
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 5, "other_config");

/// `building` (`task ref`, internal): The task making this VM as the result of a clone or copy; null once complete. A VM still building at a restart is deleted (internal).
pub const BUILDING: Field<Ref> = Field::new(CLASS, 6, "building");

/// `jobs` (`task ref set`, RO): xapid extension (as CloudSigma's drives): every task that acted on this VM, in the order they started, kept while the task exists (finished tasks are kept for the retention time, 3 days by default, unless destroyed earlier); a destroyed task leaves the set.
pub const JOBS: Field<Vec<Ref>> = Field::new(CLASS, 7, "jobs");
