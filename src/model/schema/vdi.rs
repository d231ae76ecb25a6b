//! `VDI`: A virtual disk image: one raw or qcow2 file in an SR. Sizes are read from the file; labels, descriptions, other_config and snapshot links are kept by the server and survive restarts.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The class `VDI`.
pub const CLASS: ClassId = 5;

/// The wire name of the class.
pub const NAME: &str = "VDI";

/// `uuid` (`string`, RO): Unique identifier/object reference.
pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

/// `name_label` (`string`, RW): A human-readable name.
pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

/// `name_description` (`string`, RW): A notes field containing human-readable description.
pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

/// `allowed_operations` (`vdi_operations set`, RO): List of the operations allowed in this state.
pub const ALLOWED_OPERATIONS: Field<Vec<VdiOperations>> = Field::new(CLASS, 3, "allowed_operations");

/// `current_operations` (`(string -> vdi_operations) map`, RO): Links each of the running tasks using this object (by reference) to a current_operation enum which describes the nature of the task.
pub const CURRENT_OPERATIONS: Field<Map<VdiOperations>> = Field::new(CLASS, 4, "current_operations");

/// `SR` (`SR ref`, RO): Storage repository in which the VDI resides.
pub const SR: Field<Ref> = Field::new(CLASS, 5, "SR");

/// `virtual_size` (`int`, RO): Size of disk as presented to the guest (in bytes).
pub const VIRTUAL_SIZE: Field<i64> = Field::new(CLASS, 6, "virtual_size");

/// `physical_utilisation` (`int`, RO): Amount of physical space that the disk image is currently taking up on the storage repository (in bytes: blocks of the file allocated on disk).
pub const PHYSICAL_UTILISATION: Field<i64> = Field::new(CLASS, 7, "physical_utilisation");

/// `type` (`vdi_type`, RO): Type of the VDI.
pub const TYPE: Field<VdiType> = Field::new(CLASS, 8, "type");

/// `sharable` (`bool`, RO): True if this disk may be shared.
pub const SHARABLE: Field<bool> = Field::new(CLASS, 9, "sharable");

/// `read_only` (`bool`, RO): True if this VDI may only be read (snapshots are read-only).
pub const READ_ONLY: Field<bool> = Field::new(CLASS, 10, "read_only");

/// `other_config` (`(string -> string) map`, RW): Additional configuration.
pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 11, "other_config");

/// `storage_lock` (`bool`, RO): True if this disk is locked at the storage level.
pub const STORAGE_LOCK: Field<bool> = Field::new(CLASS, 12, "storage_lock");

/// `location` (`string`, RO): Location information: the image's file name in its SR.
pub const LOCATION: Field<String> = Field::new(CLASS, 13, "location");

/// `managed` (`bool`, RO): True if the server manages this VDI.
pub const MANAGED: Field<bool> = Field::new(CLASS, 14, "managed");

/// `missing` (`bool`, RO): True if SR scan operation reported this VDI as not present on disk.
pub const MISSING: Field<bool> = Field::new(CLASS, 15, "missing");

/// `parent` (`VDI ref`, RO): This field is always null. Deprecated.
pub const PARENT: Field<Ref> = Field::new(CLASS, 16, "parent");

/// `sm_config` (`(string -> string) map`, RO): SM dependent data: image-format = raw or qcow2; vhd-parent-like backing = the backing file's name for a qcow2 overlay.
pub const SM_CONFIG: Field<Map<String>> = Field::new(CLASS, 17, "sm_config");

/// `is_a_snapshot` (`bool`, RO): True if this is a snapshot.
pub const IS_A_SNAPSHOT: Field<bool> = Field::new(CLASS, 18, "is_a_snapshot");

/// `snapshot_of` (`VDI ref`, RO): Ref pointing to the VDI this snapshot is of.
pub const SNAPSHOT_OF: Field<Ref> = Field::new(CLASS, 19, "snapshot_of");

/// `snapshots` (`VDI ref set`, RO): List pointing to all the VDIs snapshots.
pub const SNAPSHOTS: Field<Vec<Ref>> = Field::new(CLASS, 20, "snapshots");

/// `snapshot_time` (`datetime`, RO): Date/time when this snapshot was created.
pub const SNAPSHOT_TIME: Field<DateTime> = Field::new(CLASS, 21, "snapshot_time");

/// `VBDs` (`VBD ref set`, RO): The VBDs that attach this VDI to VMs.
pub const VBDS: Field<Vec<Ref>> = Field::new(CLASS, 22, "VBDs");

/// `cbt_enabled` (`bool`, RO): True if changed blocks are tracked for this VDI (VDI.enable_cbt). Every write xapid makes into the VDI is recorded, on disk, before it is made; a snapshot takes the set of blocks changed since the previous snapshot and the VDI starts a new one.
pub const CBT_ENABLED: Field<bool> = Field::new(CLASS, 23, "cbt_enabled");

/// `cbt_prev` (`VDI ref`, internal): The VDI whose change set comes just before this VDI's in its changed-block-tracking chain (the previous snapshot); null at the start of a chain (internal).
pub const CBT_PREV: Field<Ref> = Field::new(CLASS, 24, "cbt_prev");

/// `building` (`task ref`, internal): The task filling this VDI as the new disk of a copy or clone; null once it is complete. A VDI still building when the server restarts is destroyed (internal).
pub const BUILDING: Field<Ref> = Field::new(CLASS, 25, "building");

/// `jobs` (`task ref set`, RO): xapid extension (as CloudSigma's drives): every task that acted on this VDI, in the order they started, kept while the task exists (finished tasks are kept for the retention time, 3 days by default, unless destroyed earlier); a destroyed task leaves the set.
pub const JOBS: Field<Vec<Ref>> = Field::new(CLASS, 26, "jobs");
