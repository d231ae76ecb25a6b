//! The datamodel's enums, one Rust enum each.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::*;

/// The enum `block_job_error_policy`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BlockJobErrorPolicy {
    /// `report`: fail the job
    #[default]
    Report,
    /// `ignore`: carry on (the request is retried later)
    Ignore,
    /// `enospc`: stop on ENOSPC, report anything else
    Enospc,
    /// `stop`: pause the job until it is resumed
    Stop,
    /// `auto`: as enospc
    Auto,
}

impl BlockJobErrorPolicy {
    /// Every value, in datamodel order.
    pub const ALL: &[BlockJobErrorPolicy] = &[
        BlockJobErrorPolicy::Report,
        BlockJobErrorPolicy::Ignore,
        BlockJobErrorPolicy::Enospc,
        BlockJobErrorPolicy::Stop,
        BlockJobErrorPolicy::Auto,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            BlockJobErrorPolicy::Report => "report",
            BlockJobErrorPolicy::Ignore => "ignore",
            BlockJobErrorPolicy::Enospc => "enospc",
            BlockJobErrorPolicy::Stop => "stop",
            BlockJobErrorPolicy::Auto => "auto",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<BlockJobErrorPolicy> {
        match name {
            "report" => Some(BlockJobErrorPolicy::Report),
            "ignore" => Some(BlockJobErrorPolicy::Ignore),
            "enospc" => Some(BlockJobErrorPolicy::Enospc),
            "stop" => Some(BlockJobErrorPolicy::Stop),
            "auto" => Some(BlockJobErrorPolicy::Auto),
            _ => None,
        }
    }
}

enum_impls!(BlockJobErrorPolicy);

/// The enum `block_job_io_status`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BlockJobIoStatus {
    /// `ok`: no error
    #[default]
    Ok,
    /// `failed`: stopped after an I/O error
    Failed,
    /// `nospace`: stopped after running out of space
    Nospace,
}

impl BlockJobIoStatus {
    /// Every value, in datamodel order.
    pub const ALL: &[BlockJobIoStatus] = &[
        BlockJobIoStatus::Ok,
        BlockJobIoStatus::Failed,
        BlockJobIoStatus::Nospace,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            BlockJobIoStatus::Ok => "ok",
            BlockJobIoStatus::Failed => "failed",
            BlockJobIoStatus::Nospace => "nospace",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<BlockJobIoStatus> {
        match name {
            "ok" => Some(BlockJobIoStatus::Ok),
            "failed" => Some(BlockJobIoStatus::Failed),
            "nospace" => Some(BlockJobIoStatus::Nospace),
            _ => None,
        }
    }
}

enum_impls!(BlockJobIoStatus);

/// The enum `block_job_status`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BlockJobStatus {
    /// `undefined`: erroneous, default state (never seen)
    #[default]
    Undefined,
    /// `created`: created, not started yet
    Created,
    /// `running`: copying
    Running,
    /// `paused`: paused by a user or an error
    Paused,
    /// `ready`: in sync, waiting for complete (mirror, active commit)
    Ready,
    /// `standby`: ready but paused
    Standby,
    /// `waiting`: done, waiting for the other jobs of its transaction
    Waiting,
    /// `pending`: done, waiting to be finalized
    Pending,
    /// `aborting`: failed or cancelled, undoing
    Aborting,
    /// `concluded`: finished; waiting to be dismissed
    Concluded,
    /// `null`: dismissed
    Null,
}

impl BlockJobStatus {
    /// Every value, in datamodel order.
    pub const ALL: &[BlockJobStatus] = &[
        BlockJobStatus::Undefined,
        BlockJobStatus::Created,
        BlockJobStatus::Running,
        BlockJobStatus::Paused,
        BlockJobStatus::Ready,
        BlockJobStatus::Standby,
        BlockJobStatus::Waiting,
        BlockJobStatus::Pending,
        BlockJobStatus::Aborting,
        BlockJobStatus::Concluded,
        BlockJobStatus::Null,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            BlockJobStatus::Undefined => "undefined",
            BlockJobStatus::Created => "created",
            BlockJobStatus::Running => "running",
            BlockJobStatus::Paused => "paused",
            BlockJobStatus::Ready => "ready",
            BlockJobStatus::Standby => "standby",
            BlockJobStatus::Waiting => "waiting",
            BlockJobStatus::Pending => "pending",
            BlockJobStatus::Aborting => "aborting",
            BlockJobStatus::Concluded => "concluded",
            BlockJobStatus::Null => "null",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<BlockJobStatus> {
        match name {
            "undefined" => Some(BlockJobStatus::Undefined),
            "created" => Some(BlockJobStatus::Created),
            "running" => Some(BlockJobStatus::Running),
            "paused" => Some(BlockJobStatus::Paused),
            "ready" => Some(BlockJobStatus::Ready),
            "standby" => Some(BlockJobStatus::Standby),
            "waiting" => Some(BlockJobStatus::Waiting),
            "pending" => Some(BlockJobStatus::Pending),
            "aborting" => Some(BlockJobStatus::Aborting),
            "concluded" => Some(BlockJobStatus::Concluded),
            "null" => Some(BlockJobStatus::Null),
            _ => None,
        }
    }
}

enum_impls!(BlockJobStatus);

/// The enum `block_job_type`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BlockJobType {
    /// `commit`: merge backing-chain layers into a base
    #[default]
    Commit,
    /// `stream`: pull backing data into the top image
    Stream,
    /// `mirror`: keep a target in sync with a device, then pivot
    Mirror,
    /// `backup`: a point-in-time copy into a target
    Backup,
}

impl BlockJobType {
    /// Every value, in datamodel order.
    pub const ALL: &[BlockJobType] = &[
        BlockJobType::Commit,
        BlockJobType::Stream,
        BlockJobType::Mirror,
        BlockJobType::Backup,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            BlockJobType::Commit => "commit",
            BlockJobType::Stream => "stream",
            BlockJobType::Mirror => "mirror",
            BlockJobType::Backup => "backup",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<BlockJobType> {
        match name {
            "commit" => Some(BlockJobType::Commit),
            "stream" => Some(BlockJobType::Stream),
            "mirror" => Some(BlockJobType::Mirror),
            "backup" => Some(BlockJobType::Backup),
            _ => None,
        }
    }
}

enum_impls!(BlockJobType);

/// The enum `event_operation`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EventOperation {
    /// `add`: An object has been created
    #[default]
    Add,
    /// `del`: An object has been deleted
    Del,
    /// `mod`: An object has been modified
    Mod,
}

impl EventOperation {
    /// Every value, in datamodel order.
    pub const ALL: &[EventOperation] = &[
        EventOperation::Add,
        EventOperation::Del,
        EventOperation::Mod,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            EventOperation::Add => "add",
            EventOperation::Del => "del",
            EventOperation::Mod => "mod",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<EventOperation> {
        match name {
            "add" => Some(EventOperation::Add),
            "del" => Some(EventOperation::Del),
            "mod" => Some(EventOperation::Mod),
            _ => None,
        }
    }
}

enum_impls!(EventOperation);

/// The enum `storage_operations`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StorageOperations {
    /// `scan`: Scanning backends for new or deleted VDIs
    #[default]
    Scan,
    /// `destroy`: Destroying the SR
    Destroy,
    /// `forget`: Forgetting about SR
    Forget,
    /// `plug`: Plugging a PBD into this SR
    Plug,
    /// `unplug`: Unplugging a PBD from this SR
    Unplug,
    /// `update`: Refresh the fields on the SR
    Update,
    /// `vdi_create`: Creating a new VDI
    VdiCreate,
    /// `vdi_introduce`: Introducing a new VDI
    VdiIntroduce,
    /// `vdi_destroy`: Destroying a VDI
    VdiDestroy,
    /// `vdi_resize`: Resizing a VDI
    VdiResize,
    /// `vdi_clone`: Cloneing a VDI
    VdiClone,
    /// `vdi_snapshot`: Snapshotting a VDI
    VdiSnapshot,
    /// `vdi_mirror`: Mirroring a VDI
    VdiMirror,
    /// `vdi_enable_cbt`: Enabling changed block tracking for a VDI
    VdiEnableCbt,
    /// `vdi_disable_cbt`: Disabling changed block tracking for a VDI
    VdiDisableCbt,
    /// `vdi_data_destroy`: Deleting the data of the VDI
    VdiDataDestroy,
    /// `vdi_list_changed_blocks`: Exporting a bitmap that shows the changed blocks between two VDIs
    VdiListChangedBlocks,
}

impl StorageOperations {
    /// Every value, in datamodel order.
    pub const ALL: &[StorageOperations] = &[
        StorageOperations::Scan,
        StorageOperations::Destroy,
        StorageOperations::Forget,
        StorageOperations::Plug,
        StorageOperations::Unplug,
        StorageOperations::Update,
        StorageOperations::VdiCreate,
        StorageOperations::VdiIntroduce,
        StorageOperations::VdiDestroy,
        StorageOperations::VdiResize,
        StorageOperations::VdiClone,
        StorageOperations::VdiSnapshot,
        StorageOperations::VdiMirror,
        StorageOperations::VdiEnableCbt,
        StorageOperations::VdiDisableCbt,
        StorageOperations::VdiDataDestroy,
        StorageOperations::VdiListChangedBlocks,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            StorageOperations::Scan => "scan",
            StorageOperations::Destroy => "destroy",
            StorageOperations::Forget => "forget",
            StorageOperations::Plug => "plug",
            StorageOperations::Unplug => "unplug",
            StorageOperations::Update => "update",
            StorageOperations::VdiCreate => "vdi_create",
            StorageOperations::VdiIntroduce => "vdi_introduce",
            StorageOperations::VdiDestroy => "vdi_destroy",
            StorageOperations::VdiResize => "vdi_resize",
            StorageOperations::VdiClone => "vdi_clone",
            StorageOperations::VdiSnapshot => "vdi_snapshot",
            StorageOperations::VdiMirror => "vdi_mirror",
            StorageOperations::VdiEnableCbt => "vdi_enable_cbt",
            StorageOperations::VdiDisableCbt => "vdi_disable_cbt",
            StorageOperations::VdiDataDestroy => "vdi_data_destroy",
            StorageOperations::VdiListChangedBlocks => "vdi_list_changed_blocks",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<StorageOperations> {
        match name {
            "scan" => Some(StorageOperations::Scan),
            "destroy" => Some(StorageOperations::Destroy),
            "forget" => Some(StorageOperations::Forget),
            "plug" => Some(StorageOperations::Plug),
            "unplug" => Some(StorageOperations::Unplug),
            "update" => Some(StorageOperations::Update),
            "vdi_create" => Some(StorageOperations::VdiCreate),
            "vdi_introduce" => Some(StorageOperations::VdiIntroduce),
            "vdi_destroy" => Some(StorageOperations::VdiDestroy),
            "vdi_resize" => Some(StorageOperations::VdiResize),
            "vdi_clone" => Some(StorageOperations::VdiClone),
            "vdi_snapshot" => Some(StorageOperations::VdiSnapshot),
            "vdi_mirror" => Some(StorageOperations::VdiMirror),
            "vdi_enable_cbt" => Some(StorageOperations::VdiEnableCbt),
            "vdi_disable_cbt" => Some(StorageOperations::VdiDisableCbt),
            "vdi_data_destroy" => Some(StorageOperations::VdiDataDestroy),
            "vdi_list_changed_blocks" => Some(StorageOperations::VdiListChangedBlocks),
            _ => None,
        }
    }
}

enum_impls!(StorageOperations);

/// The enum `task_allowed_operations`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TaskAllowedOperations {
    /// `cancel`: refers to the operation "cancel"
    #[default]
    Cancel,
    /// `destroy`: refers to the operation "destroy"
    Destroy,
}

impl TaskAllowedOperations {
    /// Every value, in datamodel order.
    pub const ALL: &[TaskAllowedOperations] = &[
        TaskAllowedOperations::Cancel,
        TaskAllowedOperations::Destroy,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            TaskAllowedOperations::Cancel => "cancel",
            TaskAllowedOperations::Destroy => "destroy",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<TaskAllowedOperations> {
        match name {
            "cancel" => Some(TaskAllowedOperations::Cancel),
            "destroy" => Some(TaskAllowedOperations::Destroy),
            _ => None,
        }
    }
}

enum_impls!(TaskAllowedOperations);

/// The enum `task_status_type`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TaskStatusType {
    /// `pending`: task is in progress
    #[default]
    Pending,
    /// `success`: task was completed successfully
    Success,
    /// `failure`: task has failed
    Failure,
    /// `cancelling`: task is being cancelled
    Cancelling,
    /// `cancelled`: task has been cancelled
    Cancelled,
}

impl TaskStatusType {
    /// Every value, in datamodel order.
    pub const ALL: &[TaskStatusType] = &[
        TaskStatusType::Pending,
        TaskStatusType::Success,
        TaskStatusType::Failure,
        TaskStatusType::Cancelling,
        TaskStatusType::Cancelled,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            TaskStatusType::Pending => "pending",
            TaskStatusType::Success => "success",
            TaskStatusType::Failure => "failure",
            TaskStatusType::Cancelling => "cancelling",
            TaskStatusType::Cancelled => "cancelled",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<TaskStatusType> {
        match name {
            "pending" => Some(TaskStatusType::Pending),
            "success" => Some(TaskStatusType::Success),
            "failure" => Some(TaskStatusType::Failure),
            "cancelling" => Some(TaskStatusType::Cancelling),
            "cancelled" => Some(TaskStatusType::Cancelled),
            _ => None,
        }
    }
}

enum_impls!(TaskStatusType);

/// The enum `vbd_mode`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VbdMode {
    /// `RO`: only read-only access will be allowed
    #[default]
    Ro,
    /// `RW`: read-write access will be allowed
    Rw,
}

impl VbdMode {
    /// Every value, in datamodel order.
    pub const ALL: &[VbdMode] = &[
        VbdMode::Ro,
        VbdMode::Rw,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            VbdMode::Ro => "RO",
            VbdMode::Rw => "RW",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<VbdMode> {
        match name {
            "RO" => Some(VbdMode::Ro),
            "RW" => Some(VbdMode::Rw),
            _ => None,
        }
    }
}

enum_impls!(VbdMode);

/// The enum `vbd_type`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VbdType {
    /// `CD`: VBD will appear to guest as CD
    #[default]
    Cd,
    /// `Disk`: VBD will appear to guest as disk
    Disk,
    /// `Floppy`: VBD will appear as a floppy
    Floppy,
}

impl VbdType {
    /// Every value, in datamodel order.
    pub const ALL: &[VbdType] = &[
        VbdType::Cd,
        VbdType::Disk,
        VbdType::Floppy,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            VbdType::Cd => "CD",
            VbdType::Disk => "Disk",
            VbdType::Floppy => "Floppy",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<VbdType> {
        match name {
            "CD" => Some(VbdType::Cd),
            "Disk" => Some(VbdType::Disk),
            "Floppy" => Some(VbdType::Floppy),
            _ => None,
        }
    }
}

enum_impls!(VbdType);

/// The enum `vdi_operations`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VdiOperations {
    /// `clone`: Cloning the VDI
    #[default]
    Clone,
    /// `copy`: Copying the VDI
    Copy,
    /// `resize`: Resizing the VDI
    Resize,
    /// `snapshot`: Snapshotting the VDI
    Snapshot,
    /// `destroy`: Destroying the VDI
    Destroy,
    /// `update`: Refreshing the fields of the VDI
    Update,
    /// `mirror`: Mirroring the VDI (a mirror job)
    Mirror,
    /// `backup`: Backing up the VDI or into the VDI (a backup job)
    Backup,
    /// `stream`: Pulling backing data into the VDI (a stream job)
    Stream,
    /// `commit`: Merging layers of the VDI's backing chain (a commit job)
    Commit,
    /// `import`: Writing data into the VDI over HTTP (import_raw_vdi)
    Import,
    /// `export`: Reading the VDI's data over HTTP (export_raw_vdi)
    Export,
    /// `blocked`: Operations on this VDI are temporarily blocked
    Blocked,
    /// `enable_cbt`: Enabling changed block tracking for a VDI
    EnableCbt,
    /// `disable_cbt`: Disabling changed block tracking for a VDI
    DisableCbt,
    /// `data_destroy`: Deleting the data of the VDI
    DataDestroy,
    /// `list_changed_blocks`: Exporting a bitmap that shows the changed blocks between two VDIs
    ListChangedBlocks,
}

impl VdiOperations {
    /// Every value, in datamodel order.
    pub const ALL: &[VdiOperations] = &[
        VdiOperations::Clone,
        VdiOperations::Copy,
        VdiOperations::Resize,
        VdiOperations::Snapshot,
        VdiOperations::Destroy,
        VdiOperations::Update,
        VdiOperations::Mirror,
        VdiOperations::Backup,
        VdiOperations::Stream,
        VdiOperations::Commit,
        VdiOperations::Import,
        VdiOperations::Export,
        VdiOperations::Blocked,
        VdiOperations::EnableCbt,
        VdiOperations::DisableCbt,
        VdiOperations::DataDestroy,
        VdiOperations::ListChangedBlocks,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            VdiOperations::Clone => "clone",
            VdiOperations::Copy => "copy",
            VdiOperations::Resize => "resize",
            VdiOperations::Snapshot => "snapshot",
            VdiOperations::Destroy => "destroy",
            VdiOperations::Update => "update",
            VdiOperations::Mirror => "mirror",
            VdiOperations::Backup => "backup",
            VdiOperations::Stream => "stream",
            VdiOperations::Commit => "commit",
            VdiOperations::Import => "import",
            VdiOperations::Export => "export",
            VdiOperations::Blocked => "blocked",
            VdiOperations::EnableCbt => "enable_cbt",
            VdiOperations::DisableCbt => "disable_cbt",
            VdiOperations::DataDestroy => "data_destroy",
            VdiOperations::ListChangedBlocks => "list_changed_blocks",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<VdiOperations> {
        match name {
            "clone" => Some(VdiOperations::Clone),
            "copy" => Some(VdiOperations::Copy),
            "resize" => Some(VdiOperations::Resize),
            "snapshot" => Some(VdiOperations::Snapshot),
            "destroy" => Some(VdiOperations::Destroy),
            "update" => Some(VdiOperations::Update),
            "mirror" => Some(VdiOperations::Mirror),
            "backup" => Some(VdiOperations::Backup),
            "stream" => Some(VdiOperations::Stream),
            "commit" => Some(VdiOperations::Commit),
            "import" => Some(VdiOperations::Import),
            "export" => Some(VdiOperations::Export),
            "blocked" => Some(VdiOperations::Blocked),
            "enable_cbt" => Some(VdiOperations::EnableCbt),
            "disable_cbt" => Some(VdiOperations::DisableCbt),
            "data_destroy" => Some(VdiOperations::DataDestroy),
            "list_changed_blocks" => Some(VdiOperations::ListChangedBlocks),
            _ => None,
        }
    }
}

enum_impls!(VdiOperations);

/// The enum `vdi_type`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VdiType {
    /// `system`: a disk that may be replaced on upgrade
    #[default]
    System,
    /// `user`: a disk that is always preserved on upgrade
    User,
    /// `ephemeral`: a disk that may be reformatted on upgrade
    Ephemeral,
    /// `suspend`: a disk that stores a suspend image
    Suspend,
    /// `crashdump`: a disk that stores VM crashdump information
    Crashdump,
    /// `ha_statefile`: a disk used for HA storage heartbeating
    HaStatefile,
    /// `metadata`: a disk used for HA Pool metadata
    Metadata,
    /// `redo_log`: a disk used for a general metadata redo-log
    RedoLog,
    /// `rrd`: a disk that stores SR-level RRDs
    Rrd,
    /// `pvs_cache`: a disk that stores PVS cache data
    PvsCache,
    /// `cbt_metadata`: Metadata about a snapshot VDI that has been deleted: the set of blocks that changed between some previous version of the disk and the version tracked by the snapshot.
    CbtMetadata,
}

impl VdiType {
    /// Every value, in datamodel order.
    pub const ALL: &[VdiType] = &[
        VdiType::System,
        VdiType::User,
        VdiType::Ephemeral,
        VdiType::Suspend,
        VdiType::Crashdump,
        VdiType::HaStatefile,
        VdiType::Metadata,
        VdiType::RedoLog,
        VdiType::Rrd,
        VdiType::PvsCache,
        VdiType::CbtMetadata,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            VdiType::System => "system",
            VdiType::User => "user",
            VdiType::Ephemeral => "ephemeral",
            VdiType::Suspend => "suspend",
            VdiType::Crashdump => "crashdump",
            VdiType::HaStatefile => "ha_statefile",
            VdiType::Metadata => "metadata",
            VdiType::RedoLog => "redo_log",
            VdiType::Rrd => "rrd",
            VdiType::PvsCache => "pvs_cache",
            VdiType::CbtMetadata => "cbt_metadata",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<VdiType> {
        match name {
            "system" => Some(VdiType::System),
            "user" => Some(VdiType::User),
            "ephemeral" => Some(VdiType::Ephemeral),
            "suspend" => Some(VdiType::Suspend),
            "crashdump" => Some(VdiType::Crashdump),
            "ha_statefile" => Some(VdiType::HaStatefile),
            "metadata" => Some(VdiType::Metadata),
            "redo_log" => Some(VdiType::RedoLog),
            "rrd" => Some(VdiType::Rrd),
            "pvs_cache" => Some(VdiType::PvsCache),
            "cbt_metadata" => Some(VdiType::CbtMetadata),
            _ => None,
        }
    }
}

enum_impls!(VdiType);

/// The enum `vm_power_state`; the default is its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VmPowerState {
    /// `Halted`: VM is offline and not using any resources
    #[default]
    Halted,
    /// `Paused`: All resources have been allocated but the VM itself is paused and its vCPUs are not running
    Paused,
    /// `Running`: Running
    Running,
    /// `Suspended`: VM state has been saved to disk and it is nolonger running. Note that disks remain in-use while the VM is suspended.
    Suspended,
}

impl VmPowerState {
    /// Every value, in datamodel order.
    pub const ALL: &[VmPowerState] = &[
        VmPowerState::Halted,
        VmPowerState::Paused,
        VmPowerState::Running,
        VmPowerState::Suspended,
    ];

    /// The wire spelling.
    pub const fn name(self) -> &'static str {
        match self {
            VmPowerState::Halted => "Halted",
            VmPowerState::Paused => "Paused",
            VmPowerState::Running => "Running",
            VmPowerState::Suspended => "Suspended",
        }
    }

    /// The value spelt `name` exactly (stored values are in the datamodel's
    /// spelling; `model::convert` accepts any case from clients).
    pub fn from_name(name: &str) -> Option<VmPowerState> {
        match name {
            "Halted" => Some(VmPowerState::Halted),
            "Paused" => Some(VmPowerState::Paused),
            "Running" => Some(VmPowerState::Running),
            "Suspended" => Some(VmPowerState::Suspended),
            _ => None,
        }
    }
}

enum_impls!(VmPowerState);

