//! `SR`: A storage repository: a directory on the server's disk holding raw and qcow2 image files. SRs are configured at start-up (--sr NAME=DIR; a default SR under the state directory when none is given) and scanned then.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `SR`.
pub const CLASS: ClassId = 4;

/// The wire name of the class.
pub const NAME: &str = "SR";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `name_label` (`string`, RW): A human-readable name.
pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

/// `name_description` (`string`, RW): A notes field containing human-readable description.
pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

/// `allowed_operations` (`storage_operations set`, RO): List of the operations allowed in this state.
pub const ALLOWED_OPERATIONS: Field<Vec<StorageOperations>> = Field::new(CLASS, 3, "allowed_operations");

/// `current_operations` (`(string -> storage_operations) map`, RO): Links each of the running tasks using this object (by reference) to a current_operation enum which describes the nature of the task.
pub const CURRENT_OPERATIONS: Field<Map<StorageOperations>> = Field::new(CLASS, 4, "current_operations");

/// `VDIs` (`VDI ref set`, RO): All virtual disks known to this storage repository.
pub const VDIS: Field<Vec<Ref>> = Field::new(CLASS, 5, "VDIs");

/// `virtual_allocation` (`int`, RO): Sum of the virtual sizes of all VDIs in this storage repository (in bytes).
pub const VIRTUAL_ALLOCATION: Field<i64> = Field::new(CLASS, 6, "virtual_allocation");

/// `physical_utilisation` (`int`, RO): Physical space currently used by the VDIs' files (in bytes, blocks actually allocated on disk).
pub const PHYSICAL_UTILISATION: Field<i64> = Field::new(CLASS, 7, "physical_utilisation");

/// `physical_size` (`int`, RO): Total physical size of the file system holding the repository (in bytes).
pub const PHYSICAL_SIZE: Field<i64> = Field::new(CLASS, 8, "physical_size");

/// `type` (`string`, RO): Type of the storage repository: file.
pub const TYPE: Field<String> = Field::new(CLASS, 9, "type");

/// `content_type` (`string`, RO): The type of the SR's content, if required (e.g. ISOs).
pub const CONTENT_TYPE: Field<String> = Field::new(CLASS, 10, "content_type");

/// `shared` (`bool`, RO): True if this SR is (capable of being) shared between multiple hosts.
pub const SHARED: Field<bool> = Field::new(CLASS, 11, "shared");

/// `other_config` (`(string -> string) map`, RW): Additional configuration.
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 12, "other_config");

/// `sm_config` (`(string -> string) map`, RO): SM dependent data: path = the directory of the SR on the server.
pub const SM_CONFIG: Field<Map<String>> = Field::new(CLASS, 13, "sm_config");

/// `config_name` (`string`, internal): The NAME this SR was configured with (--sr NAME=DIR), or empty (internal).
pub const CONFIG_NAME: Field<String> = Field::new(CLASS, 14, "config_name");

/// `path` (`string`, internal): The SR's directory (internal).
pub const PATH: Field<String> = Field::new(CLASS, 15, "path");

/// `hidden` (`string set`, internal): Image files of the SR that belong to no VDI but are still the backing file of another image (the files of snapshots destroyed, or data-destroyed, while an image was built on them). A scan never introduces them; the background coalesce folds each into the image above it and deletes it (internal).
pub const HIDDEN: Field<Vec<String>> = Field::new(CLASS, 16, "hidden");

/// `jobs` (`task ref set`, RO): xapid extension (as CloudSigma's drives): every task that acted on this SR, in the order they started, kept while the task exists (finished tasks are kept for the retention time, 3 days by default, unless destroyed earlier); a destroyed task leaves the set.
pub const JOBS: Field<Vec<Ref>> = Field::new(CLASS, 17, "jobs");
