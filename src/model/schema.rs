//! The datamodel as Rust: a module per class with typed field handles,
//! an enum per datamodel enum, an argument struct per explicit message
//! (`args`), and the error codes (`codes`) with a constructor each on
//! `ApiError`.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale). Being generated, this file is
//! exempt from the limit on file length.
//!
//! Class ids and field indices are those of the embedded datamodel, which
//! the server loads at start-up (`model::embedded()`); a test holds every
//! constant against it.

use std::fmt;

use crate::error::ApiError;
use crate::model::field::{next_arg, next_opt_arg, Field, FieldValue, Map};
use crate::model::ClassId;
use crate::wire::{DateTime, Ref, Value};

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

impl fmt::Display for BlockJobErrorPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<BlockJobErrorPolicy> for Value {
    fn from(e: BlockJobErrorPolicy) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for BlockJobErrorPolicy {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(BlockJobErrorPolicy::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for BlockJobIoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<BlockJobIoStatus> for Value {
    fn from(e: BlockJobIoStatus) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for BlockJobIoStatus {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(BlockJobIoStatus::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for BlockJobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<BlockJobStatus> for Value {
    fn from(e: BlockJobStatus) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for BlockJobStatus {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(BlockJobStatus::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for BlockJobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<BlockJobType> for Value {
    fn from(e: BlockJobType) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for BlockJobType {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(BlockJobType::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for EventOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<EventOperation> for Value {
    fn from(e: EventOperation) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for EventOperation {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(EventOperation::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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
            _ => None,
        }
    }
}

impl fmt::Display for StorageOperations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<StorageOperations> for Value {
    fn from(e: StorageOperations) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for StorageOperations {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(StorageOperations::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for TaskAllowedOperations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<TaskAllowedOperations> for Value {
    fn from(e: TaskAllowedOperations) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for TaskAllowedOperations {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(TaskAllowedOperations::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for TaskStatusType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<TaskStatusType> for Value {
    fn from(e: TaskStatusType) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for TaskStatusType {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(TaskStatusType::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for VbdMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<VbdMode> for Value {
    fn from(e: VbdMode) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for VbdMode {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(VbdMode::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for VbdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<VbdType> for Value {
    fn from(e: VbdType) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for VbdType {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(VbdType::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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
            _ => None,
        }
    }
}

impl fmt::Display for VdiOperations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<VdiOperations> for Value {
    fn from(e: VdiOperations) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for VdiOperations {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(VdiOperations::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for VdiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<VdiType> for Value {
    fn from(e: VdiType) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for VdiType {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(VdiType::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

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

impl fmt::Display for VmPowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<VmPowerState> for Value {
    fn from(e: VmPowerState) -> Value {
        Value::from(e.name())
    }
}

impl FieldValue for VmPowerState {
    fn from_value(v: &Value) -> Self {
        v.as_str().and_then(VmPowerState::from_name).unwrap_or_default()
    }

    fn into_value(self) -> Value {
        self.into()
    }
}

/// `session`: A session: what a client holds after logging in. Every call but login names one as its first argument.
pub mod session {
    use super::*;

    /// The class `session`.
    pub const CLASS: ClassId = 0;

    /// The wire name of the class.
    pub const NAME: &str = "session";

    /// `uuid` (`string`, RO): Unique identifier/object reference.
    pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

    /// `this_host` (`host ref`, RO): The host this session is connected to.
    pub const THIS_HOST: Field<Ref> = Field::new(CLASS, 1, "this_host");

    /// `this_user` (`user ref`, RO): Always OpaqueRef:NULL: the user class is deprecated.
    pub const THIS_USER: Field<Ref> = Field::new(CLASS, 2, "this_user");

    /// `last_active` (`datetime`, RO): Time the session was last used, to the second.
    pub const LAST_ACTIVE: Field<DateTime> = Field::new(CLASS, 3, "last_active");

    /// `pool` (`bool`, RO): True if this session relates to intra-pool login; always false here.
    pub const POOL: Field<bool> = Field::new(CLASS, 4, "pool");

    /// `other_config` (`(string -> string) map`, RW): Additional configuration.
    pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 5, "other_config");

    /// `is_local_superuser` (`bool`, RO): True if the session was created with the local root password.
    pub const IS_LOCAL_SUPERUSER: Field<bool> = Field::new(CLASS, 6, "is_local_superuser");

    /// `subject` (`subject ref`, RO): References the subject instance that created the session; OpaqueRef:NULL for local root.
    pub const SUBJECT: Field<Ref> = Field::new(CLASS, 7, "subject");

    /// `validation_time` (`datetime`, RO): Time when the session's credentials were last validated.
    pub const VALIDATION_TIME: Field<DateTime> = Field::new(CLASS, 8, "validation_time");

    /// `auth_user_sid` (`string`, RO): The subject identifier of the user that was externally authenticated; empty for local root.
    pub const AUTH_USER_SID: Field<String> = Field::new(CLASS, 9, "auth_user_sid");

    /// `auth_user_name` (`string`, RO): The name of the user that logged in.
    pub const AUTH_USER_NAME: Field<String> = Field::new(CLASS, 10, "auth_user_name");

    /// `rbac_permissions` (`string set`, RO): List with all RBAC permissions for this session; empty for the local superuser, who has them all.
    pub const RBAC_PERMISSIONS: Field<Vec<String>> = Field::new(CLASS, 11, "rbac_permissions");

    /// `parent` (`session ref`, RO): The session this one was created from; OpaqueRef:NULL for a login.
    pub const PARENT: Field<Ref> = Field::new(CLASS, 12, "parent");

    /// `originator` (`string`, RO): A key string given by the client at login to identify itself (the fourth login argument); sessions are capped per originator.
    pub const ORIGINATOR: Field<String> = Field::new(CLASS, 13, "originator");

    /// `client_certificate` (`bool`, RO): True if the client presented a certificate; always false here.
    pub const CLIENT_CERTIFICATE: Field<bool> = Field::new(CLASS, 14, "client_certificate");
}

/// `task`: A long-running asynchronous operation: clients poll it, watch it with event.from, cancel it and destroy it.
pub mod task {
    use super::*;

    /// The class `task`.
    pub const CLASS: ClassId = 1;

    /// The wire name of the class.
    pub const NAME: &str = "task";

    /// `uuid` (`string`, RO): Unique identifier/object reference.
    pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

    /// `name_label` (`string`, RO): A human-readable name; for API calls the full wire name, e.g. Async.VDI.copy.
    pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

    /// `name_description` (`string`, RO): A notes field containing human-readable description.
    pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

    /// `allowed_operations` (`task_allowed_operations set`, RO): List of the operations allowed in this state: \[cancel\] while the server runs cancellable work for the task; empty once it has finished and for tasks a client drives.
    pub const ALLOWED_OPERATIONS: Field<Vec<TaskAllowedOperations>> = Field::new(CLASS, 3, "allowed_operations");

    /// `current_operations` (`(string -> task_allowed_operations) map`, RO): Links each of the running tasks using this object (by reference) to a current_operation enum which describes the nature of the task.
    pub const CURRENT_OPERATIONS: Field<Map<TaskAllowedOperations>> = Field::new(CLASS, 4, "current_operations");

    /// `created` (`datetime`, RO): Time task was created.
    pub const CREATED: Field<DateTime> = Field::new(CLASS, 5, "created");

    /// `finished` (`datetime`, RO): Time task finished (i.e. succeeded or failed); 19700101T00:00:00Z while pending.
    pub const FINISHED: Field<DateTime> = Field::new(CLASS, 6, "finished");

    /// `status` (`task_status_type`, RO): Current status of the task.
    pub const STATUS: Field<TaskStatusType> = Field::new(CLASS, 7, "status");

    /// `resident_on` (`host ref`, RO): The host on which the task is running.
    pub const RESIDENT_ON: Field<Ref> = Field::new(CLASS, 8, "resident_on");

    /// `progress` (`float`, RO): This field contains the estimated fraction of the task which is complete (0.0 to 1.0). It never decreases, and is 1.0 once the task has finished.
    pub const PROGRESS: Field<f64> = Field::new(CLASS, 9, "progress");

    /// `eta` (`datetime`, RO): While pending: the estimated completion time, from a smoothed rate of observed progress (19700101T00:00:00Z until the rate is known). Once finished: the finish time.
    pub const ETA: Field<DateTime> = Field::new(CLASS, 10, "eta");

    /// `type` (`string`, RO): If the task has completed successfully, this field contains the type of the encoded result (i.e. name of the class whose reference is in the result field). Undefined otherwise.
    pub const TYPE: Field<String> = Field::new(CLASS, 11, "type");

    /// `result` (`string`, RO): If the task has completed successfully, this field contains the result value as the XML-RPC \<value> fragment of the return value (e.g. \<value>OpaqueRef:...\</value>). Undefined otherwise.
    pub const RESULT: Field<String> = Field::new(CLASS, 12, "result");

    /// `error_info` (`string set`, RO): If the task has failed, this field contains the set of associated error strings: the code, then its parameters. Undefined otherwise.
    pub const ERROR_INFO: Field<Vec<String>> = Field::new(CLASS, 13, "error_info");

    /// `other_config` (`(string -> string) map`, RW): Additional configuration. A task that tracks a block job has other_config:block_job = the job's reference.
    pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 14, "other_config");

    /// `subtask_of` (`task ref`, RO): Ref pointing to the task this is a substask of.
    pub const SUBTASK_OF: Field<Ref> = Field::new(CLASS, 15, "subtask_of");

    /// `subtasks` (`task ref set`, RO): List pointing to all the substasks.
    pub const SUBTASKS: Field<Vec<Ref>> = Field::new(CLASS, 16, "subtasks");

    /// `backtrace` (`string`, RO): Function call trace for debugging.
    pub const BACKTRACE: Field<String> = Field::new(CLASS, 17, "backtrace");

    /// `managed` (`bool`, internal): True if the server runs the work of this task (an Async call or a job); false for tasks a client created with task.create and drives itself (internal).
    pub const MANAGED: Field<bool> = Field::new(CLASS, 18, "managed");
}

/// `host`: A physical host: this server. There is exactly one.
pub mod host {
    use super::*;

    /// The class `host`.
    pub const CLASS: ClassId = 2;

    /// The wire name of the class.
    pub const NAME: &str = "host";

    /// `uuid` (`string`, RO): Unique identifier/object reference.
    pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

    /// `name_label` (`string`, RW): A human-readable name.
    pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

    /// `name_description` (`string`, RW): A notes field containing human-readable description.
    pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

    /// `API_version_major` (`int`, RO): Major version number of the API this host speaks.
    pub const API_VERSION_MAJOR: Field<i64> = Field::new(CLASS, 3, "API_version_major");

    /// `API_version_minor` (`int`, RO): Minor version number of the API this host speaks.
    pub const API_VERSION_MINOR: Field<i64> = Field::new(CLASS, 4, "API_version_minor");

    /// `API_version_vendor` (`string`, RO): Identification of the vendor.
    pub const API_VERSION_VENDOR: Field<String> = Field::new(CLASS, 5, "API_version_vendor");

    /// `software_version` (`(string -> string) map`, RO): Version strings: product_brand, product_version, xapi, ...
    pub const SOFTWARE_VERSION: Field<Map<String>> = Field::new(CLASS, 6, "software_version");

    /// `enabled` (`bool`, RO): True if the host is currently enabled.
    pub const ENABLED: Field<bool> = Field::new(CLASS, 7, "enabled");

    /// `hostname` (`string`, RO): The hostname of this host.
    pub const HOSTNAME: Field<String> = Field::new(CLASS, 8, "hostname");

    /// `address` (`string`, RO): The address by which this host can be contacted.
    pub const ADDRESS: Field<String> = Field::new(CLASS, 9, "address");

    /// `other_config` (`(string -> string) map`, RW): Additional configuration.
    pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 10, "other_config");
}

/// `pool`: Pool-wide information: one pool holding this one host.
pub mod pool {
    use super::*;

    /// The class `pool`.
    pub const CLASS: ClassId = 3;

    /// The wire name of the class.
    pub const NAME: &str = "pool";

    /// `uuid` (`string`, RO): Unique identifier/object reference.
    pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

    /// `name_label` (`string`, RW): Short name.
    pub const NAME_LABEL: Field<String> = Field::new(CLASS, 1, "name_label");

    /// `name_description` (`string`, RW): Description.
    pub const NAME_DESCRIPTION: Field<String> = Field::new(CLASS, 2, "name_description");

    /// `master` (`host ref`, RO): The host that is pool master.
    pub const MASTER: Field<Ref> = Field::new(CLASS, 3, "master");

    /// `other_config` (`(string -> string) map`, RW): Additional configuration.
    pub const OTHER_CONFIG: Field<Map<String>> = Field::new(CLASS, 4, "other_config");
}

/// `SR`: A storage repository: a directory on the server's disk holding raw and qcow2 image files. SRs are configured at start-up (--sr NAME=DIR; a default SR under the state directory when none is given) and scanned then.
pub mod sr {
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
}

/// `VDI`: A virtual disk image: one raw or qcow2 file in an SR. Sizes are read from the file; labels, descriptions, other_config and snapshot links are kept by the server and survive restarts.
pub mod vdi {
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

    /// `building` (`task ref`, internal): The task filling this VDI as the new disk of a copy or clone; null once it is complete. A VDI still building when the server restarts is destroyed (internal).
    pub const BUILDING: Field<Ref> = Field::new(CLASS, 23, "building");
}

/// `block_job`: A QEMU-style block job: a long-running copy between disk images (backup, mirror, stream, commit) with QEMU's state machine and verbs. Each job owns a task (block_job.task; task.other_config:block_job names the job) that carries its progress, ETA, result and error.
pub mod block_job {
    use super::*;

    /// The class `block_job`.
    pub const CLASS: ClassId = 6;

    /// The wire name of the class.
    pub const NAME: &str = "block_job";

    /// `uuid` (`string`, RO): Unique identifier/object reference.
    pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

    /// `job_id` (`string`, RO): The job's identifier (QEMU's job-id): options:job_id, or the device VDI's uuid by default. Unique among existing jobs.
    pub const JOB_ID: Field<String> = Field::new(CLASS, 1, "job_id");

    /// `type` (`block_job_type`, RO): The kind of job.
    pub const TYPE: Field<BlockJobType> = Field::new(CLASS, 2, "type");

    /// `status` (`block_job_status`, RO): Where the job is in QEMU's state machine.
    pub const STATUS: Field<BlockJobStatus> = Field::new(CLASS, 3, "status");

    /// `device` (`VDI ref`, RO): The VDI the job works on (its source for backup and mirror).
    pub const DEVICE: Field<Ref> = Field::new(CLASS, 4, "device");

    /// `target` (`VDI ref`, RO): The VDI written to (backup, mirror), the base image of a commit or stream, or null.
    pub const TARGET: Field<Ref> = Field::new(CLASS, 5, "target");

    /// `current_progress` (`int`, RO): Progress so far, in bytes of the image covered (QEMU's current-progress: never decreases).
    pub const CURRENT_PROGRESS: Field<i64> = Field::new(CLASS, 6, "current_progress");

    /// `total_progress` (`int`, RO): Estimated total of the progress (QEMU's total-progress: may move in both directions, e.g. when a mirror's source is written).
    pub const TOTAL_PROGRESS: Field<i64> = Field::new(CLASS, 7, "total_progress");

    /// `speed` (`int`, RO): Speed limit in bytes of data copied per second; 0 means unlimited. Holes and zero ranges that are skipped cost nothing.
    pub const SPEED: Field<i64> = Field::new(CLASS, 8, "speed");

    /// `auto_finalize` (`bool`, RO): If false, the job waits in pending until block_job.finalize.
    pub const AUTO_FINALIZE: Field<bool> = Field::new(CLASS, 9, "auto_finalize");

    /// `auto_dismiss` (`bool`, RO): If false, the job stays concluded (with its error) until block_job.dismiss; otherwise it is removed once it concludes.
    pub const AUTO_DISMISS: Field<bool> = Field::new(CLASS, 10, "auto_dismiss");

    /// `on_source_error` (`block_job_error_policy`, RO): What to do on an I/O error reading the source (on_error of stream and commit).
    pub const ON_SOURCE_ERROR: Field<BlockJobErrorPolicy> = Field::new(CLASS, 11, "on_source_error");

    /// `on_target_error` (`block_job_error_policy`, RO): What to do on an I/O error writing the target.
    pub const ON_TARGET_ERROR: Field<BlockJobErrorPolicy> = Field::new(CLASS, 12, "on_target_error");

    /// `io_status` (`block_job_io_status`, RO): ok, or failed/nospace after an I/O error that stopped the job (until it is resumed).
    pub const IO_STATUS: Field<BlockJobIoStatus> = Field::new(CLASS, 13, "io_status");

    /// `error` (`string`, RO): Why the job failed (empty unless it failed; set once it is concluded).
    pub const ERROR: Field<String> = Field::new(CLASS, 14, "error");

    /// `task` (`task ref`, RO): The task that tracks this job.
    pub const TASK: Field<Ref> = Field::new(CLASS, 15, "task");

    /// `rate` (`int`, RO): Measured rate of data copied, in bytes/s, smoothed over the last few seconds.
    pub const RATE: Field<i64> = Field::new(CLASS, 16, "rate");

    /// `sync` (`string`, RO): Sync mode of a backup or mirror (full, top, none); empty for stream and commit.
    pub const SYNC: Field<String> = Field::new(CLASS, 17, "sync");

    /// `ready` (`bool`, RO): True while a mirror or active commit is in sync and can be completed.
    pub const READY: Field<bool> = Field::new(CLASS, 18, "ready");
}

/// `event`: Asynchronous event registration and handling: watch objects change instead of polling them. Every class but session and event emits add, mod and del events.
pub mod event {
    use super::*;

    /// The class `event`.
    pub const CLASS: ClassId = 7;

    /// The wire name of the class.
    pub const NAME: &str = "event";

    /// `uuid` (`string`, internal): Events are not stored objects; the field only keeps the model uniform (internal).
    pub const UUID: Field<String> = Field::new(CLASS, 0, "uuid");

    /// `id` (`int`, RO): An ID, monotonically increasing, and local to the current session.
    pub const ID: Field<i64> = Field::new(CLASS, 1, "id");

    /// `timestamp` (`datetime`, RO): The time at which the event occurred.
    pub const TIMESTAMP: Field<DateTime> = Field::new(CLASS, 2, "timestamp");

    /// `class` (`string`, RO): The name of the class of the object that changed (lower case).
    pub const CLASS_: Field<String> = Field::new(CLASS, 3, "class");

    /// `operation` (`event_operation`, RO): The operation that was performed.
    pub const OPERATION: Field<EventOperation> = Field::new(CLASS, 4, "operation");

    /// `ref` (`string`, RO): A reference to the object that changed.
    pub const REF: Field<String> = Field::new(CLASS, 5, "ref");

    /// `obj_uuid` (`string`, RO): The uuid of the object that changed (deprecated; not sent by event.from).
    pub const OBJ_UUID: Field<String> = Field::new(CLASS, 6, "obj_uuid");
}

/// `VM`: A virtual machine: here, a named set of disks (VBDs attach VDIs to it). VM.clone and VM.copy copy every disk, each in a subtask of the call's task.
pub mod vm {
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
}

/// `VBD`: A virtual block device: attaches a VDI to a VM.
pub mod vbd {
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
}

/// The parameters of every explicit message, typed and in order (the
/// session excluded). Built with `from_values` from the list dispatch
/// checked against the datamodel and converted (`model::convert`).
pub mod args {
    use super::*;

    /// `session.login_with_password(uname, pwd, [version], [originator])`: Attempt to authenticate the user, returning a session reference if successful. Takes 2 to 4 arguments; the version is ignored and the originator groups sessions for the per-originator cap. A failed attempt is answered after a delay that grows with repeated failures for the same user, without slowing anyone else.
    /// Its `Debug` shows no member: the parameters are secret.
    #[derive(Clone, PartialEq)]
    pub struct SessionLoginWithPassword {
        /// `uname` (`string`): Username for login.
        pub uname: String,
        /// `pwd` (`string`): Password for login.
        pub pwd: String,
        /// `version` (`string`, optional): Client API version (ignored).
        pub version: Option<String>,
        /// `originator` (`string`, optional): Key string for distinguishing different API users sharing the same login name.
        pub originator: Option<String>,
    }

    impl SessionLoginWithPassword {
        /// The wire name.
        pub const WIRE: &str = "session.login_with_password";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            SessionLoginWithPassword {
                uname: next_arg(&mut it),
                pwd: next_arg(&mut it),
                version: next_opt_arg(&mut it),
                originator: next_opt_arg(&mut it),
            }
        }
    }

    impl fmt::Debug for SessionLoginWithPassword {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("SessionLoginWithPassword { .. }")
        }
    }

    /// `session.logout()`: Log out of a session: the session reference becomes invalid and its waiters in event.from return SESSION_INVALID.
    #[derive(Clone, Debug, PartialEq)]
    pub struct SessionLogout;

    impl SessionLogout {
        /// The wire name.
        pub const WIRE: &str = "session.logout";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(_: Vec<Value>) -> Self {
            SessionLogout
        }
    }

    /// `session.local_logout()`: Log out of a session created with a local login; the same as logout here.
    #[derive(Clone, Debug, PartialEq)]
    pub struct SessionLocalLogout;

    impl SessionLocalLogout {
        /// The wire name.
        pub const WIRE: &str = "session.local_logout";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(_: Vec<Value>) -> Self {
            SessionLocalLogout
        }
    }

    /// `session.change_password(old_pwd, new_pwd)`: Change the account password of the logged-in user; the old password must be given. The change is durable before the call returns.
    /// Its `Debug` shows no member: the parameters are secret.
    #[derive(Clone, PartialEq)]
    pub struct SessionChangePassword {
        /// `old_pwd` (`string`): Old password for account.
        pub old_pwd: String,
        /// `new_pwd` (`string`): New password for account.
        pub new_pwd: String,
    }

    impl SessionChangePassword {
        /// The wire name.
        pub const WIRE: &str = "session.change_password";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            SessionChangePassword {
                old_pwd: next_arg(&mut it),
                new_pwd: next_arg(&mut it),
            }
        }
    }

    impl fmt::Debug for SessionChangePassword {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("SessionChangePassword { .. }")
        }
    }

    /// `task.create(label, description)`: Create a new task object which must be manually destroyed. The caller drives it with set_status, set_progress, set_result and set_error_info. With the HTTP header subtask-of: \<task ref>, the new task is a subtask of that task.
    #[derive(Clone, Debug, PartialEq)]
    pub struct TaskCreate {
        /// `label` (`string`): Short label for the new task.
        pub label: String,
        /// `description` (`string`): Longer description for the new task.
        pub description: String,
    }

    impl TaskCreate {
        /// The wire name.
        pub const WIRE: &str = "task.create";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            TaskCreate {
                label: next_arg(&mut it),
                description: next_arg(&mut it),
            }
        }
    }

    /// `task.destroy(self)`: Destroy the task object. A finished task is deleted at once; a pending task is marked (destroy in current_operations) and deleted as soon as it finishes.
    #[derive(Clone, Debug, PartialEq)]
    pub struct TaskDestroy {
        /// `self` (`task ref`): Reference to the task object.
        pub self_: Ref,
    }

    impl TaskDestroy {
        /// The wire name.
        pub const WIRE: &str = "task.destroy";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            TaskDestroy {
                self_: next_arg(&mut it),
            }
        }
    }

    /// `task.cancel(task)`: Request that a task be cancelled: current_operations becomes {\<caller>: cancel}. The work of a server-run task stops at its next check and the task ends cancelled with error_info \[TASK_CANCELLED, task\]; a task a client created is left to that client, which sees the request in current_operations and finishes the task itself (as in xapi). Cancelling a finished task does nothing.
    #[derive(Clone, Debug, PartialEq)]
    pub struct TaskCancel {
        /// `task` (`task ref`): The task.
        pub task: Ref,
    }

    impl TaskCancel {
        /// The wire name.
        pub const WIRE: &str = "task.cancel";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            TaskCancel {
                task: next_arg(&mut it),
            }
        }
    }

    /// `task.set_status(self, value)`: Set the task status (for tasks a client created). A final status finishes the task: progress 1.0, finished and eta now.
    #[derive(Clone, Debug, PartialEq)]
    pub struct TaskSetStatus {
        /// `self` (`task ref`): Reference to the task object.
        pub self_: Ref,
        /// `value` (`task_status_type`): task status value to be set.
        pub value: TaskStatusType,
    }

    impl TaskSetStatus {
        /// The wire name.
        pub const WIRE: &str = "task.set_status";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            TaskSetStatus {
                self_: next_arg(&mut it),
                value: next_arg(&mut it),
            }
        }
    }

    /// `task.set_progress(self, value)`: Set the task progress (for tasks a client created): a fraction from 0.0 to 1.0. Progress never decreases: a value below the current one leaves it unchanged. The eta is re-estimated from the observed rate.
    #[derive(Clone, Debug, PartialEq)]
    pub struct TaskSetProgress {
        /// `self` (`task ref`): Reference to the task object.
        pub self_: Ref,
        /// `value` (`float`): Task progress value to be set.
        pub value: f64,
    }

    impl TaskSetProgress {
        /// The wire name.
        pub const WIRE: &str = "task.set_progress";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            TaskSetProgress {
                self_: next_arg(&mut it),
                value: next_arg(&mut it),
            }
        }
    }

    /// `task.set_result(self, value)`: Set the task result (for tasks a client created).
    #[derive(Clone, Debug, PartialEq)]
    pub struct TaskSetResult {
        /// `self` (`task ref`): Reference to the task object.
        pub self_: Ref,
        /// `value` (`string`): Task result to be set.
        pub value: String,
    }

    impl TaskSetResult {
        /// The wire name.
        pub const WIRE: &str = "task.set_result";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            TaskSetResult {
                self_: next_arg(&mut it),
                value: next_arg(&mut it),
            }
        }
    }

    /// `task.set_error_info(self, value)`: Set the task error info (for tasks a client created).
    #[derive(Clone, Debug, PartialEq)]
    pub struct TaskSetErrorInfo {
        /// `self` (`task ref`): Reference to the task object.
        pub self_: Ref,
        /// `value` (`string set`): Task error info to be set.
        pub value: Vec<String>,
    }

    impl TaskSetErrorInfo {
        /// The wire name.
        pub const WIRE: &str = "task.set_error_info";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            TaskSetErrorInfo {
                self_: next_arg(&mut it),
                value: next_arg(&mut it),
            }
        }
    }

    /// `SR.scan(sr)`: Refreshes the list of VDIs: image files placed in the directory by hand are introduced (raw or qcow2, by content; a qcow2 whose backing file lies outside the SR is skipped), VDIs whose file is gone are forgotten, and sizes and utilisation are read anew from the files.
    #[derive(Clone, Debug, PartialEq)]
    pub struct SrScan {
        /// `sr` (`SR ref`): The SR to scan.
        pub sr: Ref,
    }

    impl SrScan {
        /// The wire name.
        pub const WIRE: &str = "SR.scan";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            SrScan {
                sr: next_arg(&mut it),
            }
        }
    }

    /// `VDI.create(args)`: Create a new VDI: an empty sparse image file in the SR. The record needs SR and virtual_size; name_label, name_description, type, sharable, read_only, other_config and sm_config are optional. sm_config:image-format chooses raw (the default) or qcow2.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VdiCreate {
        /// `args` (`VDI record`): All constructor arguments.
        pub args: Value,
    }

    impl VdiCreate {
        /// The wire name.
        pub const WIRE: &str = "VDI.create";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VdiCreate {
                args: next_arg(&mut it),
            }
        }
    }

    /// `VDI.destroy(self)`: Destroy the VDI and delete its file. A VDI that is the backing image of another VDI cannot be destroyed (VDI_IN_USE).
    #[derive(Clone, Debug, PartialEq)]
    pub struct VdiDestroy {
        /// `self` (`VDI ref`): The VDI to destroy.
        pub self_: Ref,
    }

    impl VdiDestroy {
        /// The wire name.
        pub const WIRE: &str = "VDI.destroy";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VdiDestroy {
                self_: next_arg(&mut it),
            }
        }
    }

    /// `VDI.resize(vdi, size)`: Resize the VDI: grow its virtual size. Shrinking is refused with VDI_TOO_SMALL.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VdiResize {
        /// `vdi` (`VDI ref`): The VDI to resize.
        pub vdi: Ref,
        /// `size` (`int`): The new size of the VDI (in bytes).
        pub size: i64,
    }

    impl VdiResize {
        /// The wire name.
        pub const WIRE: &str = "VDI.resize";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VdiResize {
                vdi: next_arg(&mut it),
                size: next_arg(&mut it),
            }
        }
    }

    /// `VDI.copy(vdi, sr)`: Make a full, sparse-preserving copy of the VDI into the SR (a backup job with sync=full; its task is the call's task, and task.other_config:block_job names the job). The copy has the source's image format and no backing file. If the copy fails or is cancelled, the half-written new VDI is destroyed.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VdiCopy {
        /// `vdi` (`VDI ref`): The VDI to copy.
        pub vdi: Ref,
        /// `sr` (`SR ref`): The destination SR.
        pub sr: Ref,
    }

    impl VdiCopy {
        /// The wire name.
        pub const WIRE: &str = "VDI.copy";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VdiCopy {
                vdi: next_arg(&mut it),
                sr: next_arg(&mut it),
            }
        }
    }

    /// `VDI.clone(vdi, [driver_params])`: Make a full, sparse-preserving copy of the VDI in the same SR (a backup job, as VDI.copy).
    #[derive(Clone, Debug, PartialEq)]
    pub struct VdiClone {
        /// `vdi` (`VDI ref`): The VDI to clone.
        pub vdi: Ref,
        /// `driver_params` (`(string -> string) map`, optional): Optional parameters that can be passed through to backend driver in order to specify storage-type-specific clone options (unused).
        pub driver_params: Option<Map<String>>,
    }

    impl VdiClone {
        /// The wire name.
        pub const WIRE: &str = "VDI.clone";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VdiClone {
                vdi: next_arg(&mut it),
                driver_params: next_opt_arg(&mut it),
            }
        }
    }

    /// `VDI.snapshot(vdi, [driver_params])`: Take an instant external snapshot: the VDI's current image becomes the read-only snapshot VDI, and the VDI continues as a new qcow2 overlay on it (its location is unchanged). Repeated snapshots build a backing chain.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VdiSnapshot {
        /// `vdi` (`VDI ref`): The VDI to snapshot.
        pub vdi: Ref,
        /// `driver_params` (`(string -> string) map`, optional): Optional parameters that are passed through to the backend driver in order to specify storage-type-specific snapshot options (unused).
        pub driver_params: Option<Map<String>>,
    }

    impl VdiSnapshot {
        /// The wire name.
        pub const WIRE: &str = "VDI.snapshot";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VdiSnapshot {
                vdi: next_arg(&mut it),
                driver_params: next_opt_arg(&mut it),
            }
        }
    }

    /// `block_job.backup(device, target, options)`: Start a backup job: a point-in-time copy of device into the existing VDI target (at least as large). options (all optional): job_id, speed (bytes/s), auto_finalize, auto_dismiss, sync (full, the default; top: only data allocated in device's own layer; none: only data overwritten while the job runs, copied before it is overwritten, until the job is cancelled), on_source_error, on_target_error (report, ignore, stop, enospc, auto). Returns once the job has started.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobBackup {
        /// `device` (`VDI ref`): The VDI to back up.
        pub device: Ref,
        /// `target` (`VDI ref`): The VDI to write the copy into.
        pub target: Ref,
        /// `options` (`(string -> string) map`): Job options.
        pub options: Map<String>,
    }

    impl BlockJobBackup {
        /// The wire name.
        pub const WIRE: &str = "block_job.backup";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobBackup {
                device: next_arg(&mut it),
                target: next_arg(&mut it),
                options: next_arg(&mut it),
            }
        }
    }

    /// `block_job.mirror(device, target, options)`: Start a mirror job from device to the existing VDI target (of the same virtual size). It goes ready once the target has caught up and then keeps copying new writes. block_job.complete pivots: device now lives in target's file and SR, the target VDI object is gone and the old source file is deleted. Cancelling in ready leaves both copies (a soft cancel first brings the target in sync; force does not). options: job_id, speed, auto_finalize, auto_dismiss, sync (full, top, none), granularity, on_source_error, on_target_error.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobMirror {
        /// `device` (`VDI ref`): The VDI to mirror.
        pub device: Ref,
        /// `target` (`VDI ref`): The VDI to mirror into.
        pub target: Ref,
        /// `options` (`(string -> string) map`): Job options.
        pub options: Map<String>,
    }

    impl BlockJobMirror {
        /// The wire name.
        pub const WIRE: &str = "block_job.mirror";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobMirror {
                device: next_arg(&mut it),
                target: next_arg(&mut it),
                options: next_arg(&mut it),
            }
        }
    }

    /// `block_job.stream(device, options)`: Start a stream job: copy the data of device's backing chain above base into device, then make base (or nothing) device's backing image. options: job_id, speed, auto_finalize, auto_dismiss, base (a VDI ref or uuid in device's chain; default: the whole chain), on_error.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobStream {
        /// `device` (`VDI ref`): The VDI to stream into.
        pub device: Ref,
        /// `options` (`(string -> string) map`): Job options.
        pub options: Map<String>,
    }

    impl BlockJobStream {
        /// The wire name.
        pub const WIRE: &str = "block_job.stream";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobStream {
                device: next_arg(&mut it),
                options: next_arg(&mut it),
            }
        }
    }

    /// `block_job.commit(device, options)`: Start a commit job: merge the layers from top (default: device) down to just above base (default: top's backing image) into base, and drop the merged layers from device's chain. Committing the active layer (top = device) goes ready like a mirror and needs block_job.complete, after which device lives in base's file and the base VDI object is gone. options: job_id, speed, auto_finalize, auto_dismiss, top, base (VDI refs or uuids), on_error.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobCommit {
        /// `device` (`VDI ref`): The VDI whose chain is committed.
        pub device: Ref,
        /// `options` (`(string -> string) map`): Job options.
        pub options: Map<String>,
    }

    impl BlockJobCommit {
        /// The wire name.
        pub const WIRE: &str = "block_job.commit";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobCommit {
                device: next_arg(&mut it),
                options: next_arg(&mut it),
            }
        }
    }

    /// `block_job.transaction(actions, completion_mode)`: Run several actions as one (QEMU's transaction): every action is prepared first (snapshots taken, backup jobs checked and their VDIs claimed), and either all take effect or none do (snapshots undone, no job left). actions: structs {type, device, target, options}, type backup (options as block_job.backup), snapshot (as VDI.snapshot) or abort (which aborts the whole transaction). completion_mode individual: the jobs finish on their own; grouped (backups only): they wait in waiting until all have finished, go pending together, and the first failure cancels the rest. Returns the backup jobs, in the order of their actions.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobTransaction {
        /// `actions` (`struct set`): The actions, in order.
        pub actions: Vec<Value>,
        /// `completion_mode` (`string`): individual or grouped.
        pub completion_mode: String,
    }

    impl BlockJobTransaction {
        /// The wire name.
        pub const WIRE: &str = "block_job.transaction";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobTransaction {
                actions: next_arg(&mut it),
                completion_mode: next_arg(&mut it),
            }
        }
    }

    /// `block_job.pause(job)`: Pause the job at its next pause point (QEMU's job-pause). Allowed in created, running, paused, ready, standby; a second user pause fails.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobPause {
        /// `job` (`block_job ref`): The job.
        pub job: Ref,
    }

    impl BlockJobPause {
        /// The wire name.
        pub const WIRE: &str = "block_job.pause";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobPause {
                job: next_arg(&mut it),
            }
        }
    }

    /// `block_job.resume(job)`: Resume a job that was paused by block_job.pause or stopped by an I/O error (io_status goes back to ok).
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobResume {
        /// `job` (`block_job ref`): The job.
        pub job: Ref,
    }

    impl BlockJobResume {
        /// The wire name.
        pub const WIRE: &str = "block_job.resume";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobResume {
                job: next_arg(&mut it),
            }
        }
    }

    /// `block_job.cancel(job, [force])`: Cancel the job (QEMU's block-job-cancel). A mirror or active commit in ready with force = false first finishes bringing the target in sync and then ends successfully without pivoting; otherwise the job is aborted and its task ends cancelled. Cancelling a concluded job dismisses it.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobCancel {
        /// `job` (`block_job ref`): The job.
        pub job: Ref,
        /// `force` (`bool`, optional): Abort at once even in ready (default false).
        pub force: Option<bool>,
    }

    impl BlockJobCancel {
        /// The wire name.
        pub const WIRE: &str = "block_job.cancel";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobCancel {
                job: next_arg(&mut it),
                force: next_opt_arg(&mut it),
            }
        }
    }

    /// `block_job.set_speed(job, speed)`: Set the job's speed limit in bytes/s (0 = unlimited). It takes effect at once, also for a job sleeping under the old limit.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobSetSpeed {
        /// `job` (`block_job ref`): The job.
        pub job: Ref,
        /// `speed` (`int`): The new limit (bytes/s, non-negative).
        pub speed: i64,
    }

    impl BlockJobSetSpeed {
        /// The wire name.
        pub const WIRE: &str = "block_job.set_speed";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobSetSpeed {
                job: next_arg(&mut it),
                speed: next_arg(&mut it),
            }
        }
    }

    /// `block_job.complete(job)`: Complete a mirror or an active commit that is ready (or standby): pivot to the copy.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobComplete {
        /// `job` (`block_job ref`): The job.
        pub job: Ref,
    }

    impl BlockJobComplete {
        /// The wire name.
        pub const WIRE: &str = "block_job.complete";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobComplete {
                job: next_arg(&mut it),
            }
        }
    }

    /// `block_job.finalize(job)`: Finalize a job that waits in pending (auto_finalize = false): its changes take effect and it concludes.
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobFinalize {
        /// `job` (`block_job ref`): The job.
        pub job: Ref,
    }

    impl BlockJobFinalize {
        /// The wire name.
        pub const WIRE: &str = "block_job.finalize";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobFinalize {
                job: next_arg(&mut it),
            }
        }
    }

    /// `block_job.dismiss(job)`: Remove a concluded job (auto_dismiss = false).
    #[derive(Clone, Debug, PartialEq)]
    pub struct BlockJobDismiss {
        /// `job` (`block_job ref`): The job.
        pub job: Ref,
    }

    impl BlockJobDismiss {
        /// The wire name.
        pub const WIRE: &str = "block_job.dismiss";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            BlockJobDismiss {
                job: next_arg(&mut it),
            }
        }
    }

    /// `event.register(classes)`: Registers this session with the event system for a set of given classes (legacy; use event.from). A subscription is *, a class name, or class/ref.
    #[derive(Clone, Debug, PartialEq)]
    pub struct EventRegister {
        /// `classes` (`string set`): The classes for which the session will register with the event system.
        pub classes: Vec<String>,
    }

    impl EventRegister {
        /// The wire name.
        pub const WIRE: &str = "event.register";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            EventRegister {
                classes: next_arg(&mut it),
            }
        }
    }

    /// `event.unregister(classes)`: Removes this session's registration with the event system for a set of given classes (legacy).
    #[derive(Clone, Debug, PartialEq)]
    pub struct EventUnregister {
        /// `classes` (`string set`): The classes for which the session's registration with the event system will be removed.
        pub classes: Vec<String>,
    }

    impl EventUnregister {
        /// The wire name.
        pub const WIRE: &str = "event.unregister";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            EventUnregister {
                classes: next_arg(&mut it),
            }
        }
    }

    /// `event.next()`: Blocking call which returns a (possibly empty) batch of events for the classes this session registered for (legacy; use event.from). EVENTS_LOST if the server's queue no longer holds events this session has not read: register again and read everything anew.
    #[derive(Clone, Debug, PartialEq)]
    pub struct EventNext;

    impl EventNext {
        /// The wire name.
        pub const WIRE: &str = "event.next";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(_: Vec<Value>) -> Self {
            EventNext
        }
    }

    /// `event.from(classes, token, timeout)`: Blocking call which returns the events for the given subscriptions since the token, coalesced to one per object (add, mod with its current snapshot, or del without one), as a struct {events, valid_ref_counts, token}. Token "" gives an add for every live object. Blocks until there is at least one event or the timeout (seconds; 0 returns at once, a negative timeout waits 24 h) has passed. Also answered as event_from.
    #[derive(Clone, Debug, PartialEq)]
    pub struct EventFrom {
        /// `classes` (`string set`): Register for events for the indicated classes: *, a class name, or class/ref.
        pub classes: Vec<String>,
        /// `token` (`string`): A token representing the point from which to generate database events; "" for everything.
        pub token: String,
        /// `timeout` (`float`): Return after this many seconds if no events match.
        pub timeout: f64,
    }

    impl EventFrom {
        /// The wire name.
        pub const WIRE: &str = "event.from";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            EventFrom {
                classes: next_arg(&mut it),
                token: next_arg(&mut it),
                timeout: next_arg(&mut it),
            }
        }
    }

    /// `event.get_current_id()`: Return the ID of the most recent event (the current database generation).
    #[derive(Clone, Debug, PartialEq)]
    pub struct EventGetCurrentId;

    impl EventGetCurrentId {
        /// The wire name.
        pub const WIRE: &str = "event.get_current_id";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(_: Vec<Value>) -> Self {
            EventGetCurrentId
        }
    }

    /// `event.inject(class, ref)`: Injects an artificial mod event on the given object and returns a token just before it, so that event.from with that token returns at once with the object.
    #[derive(Clone, Debug, PartialEq)]
    pub struct EventInject {
        /// `class` (`string`): The class of the object.
        pub class: String,
        /// `ref` (`string`): A reference to the object that will be changed.
        pub ref_: String,
    }

    impl EventInject {
        /// The wire name.
        pub const WIRE: &str = "event.inject";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            EventInject {
                class: next_arg(&mut it),
                ref_: next_arg(&mut it),
            }
        }
    }

    /// `VM.create(args)`: Create a new VM. The record may give name_label, name_description and other_config.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VmCreate {
        /// `args` (`VM record`): All constructor arguments.
        pub args: Value,
    }

    impl VmCreate {
        /// The wire name.
        pub const WIRE: &str = "VM.create";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VmCreate {
                args: next_arg(&mut it),
            }
        }
    }

    /// `VM.destroy(self)`: Destroy the VM and its VBDs (its VDIs stay).
    #[derive(Clone, Debug, PartialEq)]
    pub struct VmDestroy {
        /// `self` (`VM ref`): The VM to destroy.
        pub self_: Ref,
    }

    impl VmDestroy {
        /// The wire name.
        pub const WIRE: &str = "VM.destroy";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VmDestroy {
                self_: next_arg(&mut it),
            }
        }
    }

    /// `VM.clone(vm, new_name)`: Make a new VM with a full copy of every disk, each in the SR of its source: one subtask per disk (subtask_of/subtasks), the task's progress the byte-weighted progress of its subtasks. Cancelling the task cancels every subtask and removes what was made; the failure of one disk fails the whole call with that disk's error.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VmClone {
        /// `vm` (`VM ref`): The VM to be cloned.
        pub vm: Ref,
        /// `new_name` (`string`): The name of the cloned VM.
        pub new_name: String,
    }

    impl VmClone {
        /// The wire name.
        pub const WIRE: &str = "VM.clone";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VmClone {
                vm: next_arg(&mut it),
                new_name: next_arg(&mut it),
            }
        }
    }

    /// `VM.copy(vm, new_name, sr)`: As VM.clone, but every disk is copied into the given SR.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VmCopy {
        /// `vm` (`VM ref`): The VM to be copied.
        pub vm: Ref,
        /// `new_name` (`string`): The name of the copied VM.
        pub new_name: String,
        /// `sr` (`SR ref`): The SR for the new disks.
        pub sr: Ref,
    }

    impl VmCopy {
        /// The wire name.
        pub const WIRE: &str = "VM.copy";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VmCopy {
                vm: next_arg(&mut it),
                new_name: next_arg(&mut it),
                sr: next_arg(&mut it),
            }
        }
    }

    /// `VBD.create(args)`: Create a new VBD: the record needs VM and VDI (null for an empty CD drive); userdevice, bootable, mode, type and other_config are optional.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VbdCreate {
        /// `args` (`VBD record`): All constructor arguments.
        pub args: Value,
    }

    impl VbdCreate {
        /// The wire name.
        pub const WIRE: &str = "VBD.create";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VbdCreate {
                args: next_arg(&mut it),
            }
        }
    }

    /// `VBD.destroy(self)`: Destroy the VBD (the VDI stays).
    #[derive(Clone, Debug, PartialEq)]
    pub struct VbdDestroy {
        /// `self` (`VBD ref`): The VBD to destroy.
        pub self_: Ref,
    }

    impl VbdDestroy {
        /// The wire name.
        pub const WIRE: &str = "VBD.destroy";

        /// From the checked parameters, in order; moves them out.
        pub fn from_values(v: Vec<Value>) -> Self {
            let mut it = v.into_iter();
            VbdDestroy {
                self_: next_arg(&mut it),
            }
        }
    }
}

/// Every error code of the datamodel (`datamodel/errors.toml`).
pub mod codes {
    /// `EVENTS_LOST []`: Some events have been lost from the queue and cannot be retrieved: register again and read everything anew.
    pub const EVENTS_LOST: &str = "EVENTS_LOST";

    /// `EVENT_FROM_TOKEN_PARSE_FAILURE [token]`: The event.from token could not be parsed.
    pub const EVENT_FROM_TOKEN_PARSE_FAILURE: &str = "EVENT_FROM_TOKEN_PARSE_FAILURE";

    /// `EVENT_SUBSCRIPTION_PARSE_FAILURE [subscription]`: The server failed to parse your event subscription.
    pub const EVENT_SUBSCRIPTION_PARSE_FAILURE: &str = "EVENT_SUBSCRIPTION_PARSE_FAILURE";

    /// `FIELD_TYPE_ERROR [field]`: The value specified is of the wrong type. The parameter or field name is returned.
    pub const FIELD_TYPE_ERROR: &str = "FIELD_TYPE_ERROR";

    /// `HANDLE_INVALID [class, handle]`: You gave an invalid object reference. The object may have recently been deleted. The class parameter gives the type of reference given, and the handle parameter echoes the bad value given.
    pub const HANDLE_INVALID: &str = "HANDLE_INVALID";

    /// `INTERNAL_ERROR [message]`: The server failed to handle your request, due to an internal error (never for anything a client can cause; the server log has the details).
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";

    /// `INVALID_VALUE [field, value]`: The value given is invalid (an unknown enum value, an out-of-range number, an unparseable datetime).
    pub const INVALID_VALUE: &str = "INVALID_VALUE";

    /// `MAP_DUPLICATE_KEY [type, param_name, ref, key]`: You tried to add a key-value pair to a map, but that key is already there.
    pub const MAP_DUPLICATE_KEY: &str = "MAP_DUPLICATE_KEY";

    /// `MESSAGE_METHOD_UNKNOWN [method]`: You tried to call a method that does not exist. The method name that you used is echoed.
    pub const MESSAGE_METHOD_UNKNOWN: &str = "MESSAGE_METHOD_UNKNOWN";

    /// `MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received]`: You tried to call a method with the incorrect number of parameters. The fully-qualified method name that you used, and the number of received and expected parameters are returned; the counts do not include the session.
    pub const MESSAGE_PARAMETER_COUNT_MISMATCH: &str = "MESSAGE_PARAMETER_COUNT_MISMATCH";

    /// `NOT_IMPLEMENTED [function]`: The function is not implemented.
    pub const NOT_IMPLEMENTED: &str = "NOT_IMPLEMENTED";

    /// `OPERATION_NOT_ALLOWED [reason]`: You attempted an operation that was not allowed.
    pub const OPERATION_NOT_ALLOWED: &str = "OPERATION_NOT_ALLOWED";

    /// `OTHER_OPERATION_IN_PROGRESS [class, object, operation_type, operation_ref]`: Another operation involving the object is currently in progress.
    pub const OTHER_OPERATION_IN_PROGRESS: &str = "OTHER_OPERATION_IN_PROGRESS";

    /// `SESSION_AUTHENTICATION_FAILED [username, message]`: The credentials given by the user are incorrect. Sent after a delay that grows with repeated failures for the same user.
    pub const SESSION_AUTHENTICATION_FAILED: &str = "SESSION_AUTHENTICATION_FAILED";

    /// `SESSION_INVALID [handle]`: You gave an invalid or expired session reference. The Python SDK logs in again when it sees this code.
    pub const SESSION_INVALID: &str = "SESSION_INVALID";

    /// `SESSION_NOT_REGISTERED [handle]`: This session is not registered to receive events (event.next without event.register).
    pub const SESSION_NOT_REGISTERED: &str = "SESSION_NOT_REGISTERED";

    /// `SR_BACKEND_FAILURE [status, stdout, stderr]`: The SR's directory could not be read or written.
    pub const SR_BACKEND_FAILURE: &str = "SR_BACKEND_FAILURE";

    /// `SR_FULL [requested, maximum]`: The storage repository has no room for the request.
    pub const SR_FULL: &str = "SR_FULL";

    /// `TASK_CANCELLED [task]`: The request was asynchronously cancelled.
    pub const TASK_CANCELLED: &str = "TASK_CANCELLED";

    /// `TASK_INTERRUPTED [task, reason]`: The server stopped while this task was running (a crash, kill -9 or power loss); the work it was doing did not complete. Its partial results have been removed.
    pub const TASK_INTERRUPTED: &str = "TASK_INTERRUPTED";

    /// `UUID_INVALID [class, uuid]`: The uuid you supplied was invalid.
    pub const UUID_INVALID: &str = "UUID_INVALID";

    /// `VDI_IN_USE [vdi, operation]`: This operation cannot be performed because this VDI is in use (e.g. it is the backing image of another VDI).
    pub const VDI_IN_USE: &str = "VDI_IN_USE";

    /// `VDI_IO_ERROR [reason]`: Disk I/O failed while reading or writing a disk image.
    pub const VDI_IO_ERROR: &str = "VDI_IO_ERROR";

    /// `VDI_MISSING [sr, vdi]`: The VDI's file is missing from its SR.
    pub const VDI_MISSING: &str = "VDI_MISSING";

    /// `VDI_READ_ONLY [vdi]`: The operation required write access but this VDI is read-only.
    pub const VDI_READ_ONLY: &str = "VDI_READ_ONLY";

    /// `VDI_TOO_SMALL [vdi, minimum_size]`: The VDI is too small: it cannot shrink, and a copy target must be at least as large as its source.
    pub const VDI_TOO_SMALL: &str = "VDI_TOO_SMALL";
}

/// A constructor per error code, a parameter per listed parameter.
impl ApiError {
    /// `EVENTS_LOST []`: Some events have been lost from the queue and cannot be retrieved: register again and read everything anew.
    pub fn events_lost() -> ApiError {
        ApiError {
            code: codes::EVENTS_LOST,
            params: vec![],
        }
    }

    /// `EVENT_FROM_TOKEN_PARSE_FAILURE [token]`: The event.from token could not be parsed.
    pub fn event_from_token_parse_failure(token: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::EVENT_FROM_TOKEN_PARSE_FAILURE,
            params: vec![token.to_string()],
        }
    }

    /// `EVENT_SUBSCRIPTION_PARSE_FAILURE [subscription]`: The server failed to parse your event subscription.
    pub fn event_subscription_parse_failure(subscription: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::EVENT_SUBSCRIPTION_PARSE_FAILURE,
            params: vec![subscription.to_string()],
        }
    }

    /// `FIELD_TYPE_ERROR [field]`: The value specified is of the wrong type. The parameter or field name is returned.
    pub fn field_type_error(field: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::FIELD_TYPE_ERROR,
            params: vec![field.to_string()],
        }
    }

    /// `HANDLE_INVALID [class, handle]`: You gave an invalid object reference. The object may have recently been deleted. The class parameter gives the type of reference given, and the handle parameter echoes the bad value given.
    pub fn handle_invalid(class: impl fmt::Display, handle: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::HANDLE_INVALID,
            params: vec![class.to_string(), handle.to_string()],
        }
    }

    /// `INVALID_VALUE [field, value]`: The value given is invalid (an unknown enum value, an out-of-range number, an unparseable datetime).
    pub fn invalid_value(field: impl fmt::Display, value: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::INVALID_VALUE,
            params: vec![field.to_string(), value.to_string()],
        }
    }

    /// `MAP_DUPLICATE_KEY [type, param_name, ref, key]`: You tried to add a key-value pair to a map, but that key is already there.
    pub fn map_duplicate_key(type_: impl fmt::Display, param_name: impl fmt::Display, ref_: impl fmt::Display, key: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::MAP_DUPLICATE_KEY,
            params: vec![type_.to_string(), param_name.to_string(), ref_.to_string(), key.to_string()],
        }
    }

    /// `MESSAGE_METHOD_UNKNOWN [method]`: You tried to call a method that does not exist. The method name that you used is echoed.
    pub fn message_method_unknown(method: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::MESSAGE_METHOD_UNKNOWN,
            params: vec![method.to_string()],
        }
    }

    /// `MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received]`: You tried to call a method with the incorrect number of parameters. The fully-qualified method name that you used, and the number of received and expected parameters are returned; the counts do not include the session.
    pub fn message_parameter_count_mismatch(method: impl fmt::Display, expected: impl fmt::Display, received: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::MESSAGE_PARAMETER_COUNT_MISMATCH,
            params: vec![method.to_string(), expected.to_string(), received.to_string()],
        }
    }

    /// `NOT_IMPLEMENTED [function]`: The function is not implemented.
    pub fn not_implemented(function: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::NOT_IMPLEMENTED,
            params: vec![function.to_string()],
        }
    }

    /// `OPERATION_NOT_ALLOWED [reason]`: You attempted an operation that was not allowed.
    pub fn operation_not_allowed(reason: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::OPERATION_NOT_ALLOWED,
            params: vec![reason.to_string()],
        }
    }

    /// `OTHER_OPERATION_IN_PROGRESS [class, object, operation_type, operation_ref]`: Another operation involving the object is currently in progress.
    pub fn other_operation_in_progress(class: impl fmt::Display, object: impl fmt::Display, operation_type: impl fmt::Display, operation_ref: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::OTHER_OPERATION_IN_PROGRESS,
            params: vec![class.to_string(), object.to_string(), operation_type.to_string(), operation_ref.to_string()],
        }
    }

    /// `SESSION_AUTHENTICATION_FAILED [username, message]`: The credentials given by the user are incorrect. Sent after a delay that grows with repeated failures for the same user.
    pub fn session_authentication_failed(username: impl fmt::Display, message: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::SESSION_AUTHENTICATION_FAILED,
            params: vec![username.to_string(), message.to_string()],
        }
    }

    /// `SESSION_INVALID [handle]`: You gave an invalid or expired session reference. The Python SDK logs in again when it sees this code.
    pub fn session_invalid(handle: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::SESSION_INVALID,
            params: vec![handle.to_string()],
        }
    }

    /// `SESSION_NOT_REGISTERED [handle]`: This session is not registered to receive events (event.next without event.register).
    pub fn session_not_registered(handle: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::SESSION_NOT_REGISTERED,
            params: vec![handle.to_string()],
        }
    }

    /// `SR_BACKEND_FAILURE [status, stdout, stderr]`: The SR's directory could not be read or written.
    pub fn sr_backend_failure(status: impl fmt::Display, stdout: impl fmt::Display, stderr: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::SR_BACKEND_FAILURE,
            params: vec![status.to_string(), stdout.to_string(), stderr.to_string()],
        }
    }

    /// `SR_FULL [requested, maximum]`: The storage repository has no room for the request.
    pub fn sr_full(requested: impl fmt::Display, maximum: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::SR_FULL,
            params: vec![requested.to_string(), maximum.to_string()],
        }
    }

    /// `TASK_CANCELLED [task]`: The request was asynchronously cancelled.
    pub fn task_cancelled(task: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::TASK_CANCELLED,
            params: vec![task.to_string()],
        }
    }

    /// `TASK_INTERRUPTED [task, reason]`: The server stopped while this task was running (a crash, kill -9 or power loss); the work it was doing did not complete. Its partial results have been removed.
    pub fn task_interrupted(task: impl fmt::Display, reason: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::TASK_INTERRUPTED,
            params: vec![task.to_string(), reason.to_string()],
        }
    }

    /// `UUID_INVALID [class, uuid]`: The uuid you supplied was invalid.
    pub fn uuid_invalid(class: impl fmt::Display, uuid: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::UUID_INVALID,
            params: vec![class.to_string(), uuid.to_string()],
        }
    }

    /// `VDI_IN_USE [vdi, operation]`: This operation cannot be performed because this VDI is in use (e.g. it is the backing image of another VDI).
    pub fn vdi_in_use(vdi: impl fmt::Display, operation: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::VDI_IN_USE,
            params: vec![vdi.to_string(), operation.to_string()],
        }
    }

    /// `VDI_IO_ERROR [reason]`: Disk I/O failed while reading or writing a disk image.
    pub fn vdi_io_error(reason: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::VDI_IO_ERROR,
            params: vec![reason.to_string()],
        }
    }

    /// `VDI_MISSING [sr, vdi]`: The VDI's file is missing from its SR.
    pub fn vdi_missing(sr: impl fmt::Display, vdi: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::VDI_MISSING,
            params: vec![sr.to_string(), vdi.to_string()],
        }
    }

    /// `VDI_READ_ONLY [vdi]`: The operation required write access but this VDI is read-only.
    pub fn vdi_read_only(vdi: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::VDI_READ_ONLY,
            params: vec![vdi.to_string()],
        }
    }

    /// `VDI_TOO_SMALL [vdi, minimum_size]`: The VDI is too small: it cannot shrink, and a copy target must be at least as large as its source.
    pub fn vdi_too_small(vdi: impl fmt::Display, minimum_size: impl fmt::Display) -> ApiError {
        ApiError {
            code: codes::VDI_TOO_SMALL,
            params: vec![vdi.to_string(), minimum_size.to_string()],
        }
    }
}

/// Every class module: its id and name.
#[cfg(test)]
pub(crate) const EVERY_CLASS: &[(ClassId, &str)] = &[
    (session::CLASS, session::NAME),
    (task::CLASS, task::NAME),
    (host::CLASS, host::NAME),
    (pool::CLASS, pool::NAME),
    (sr::CLASS, sr::NAME),
    (vdi::CLASS, vdi::NAME),
    (block_job::CLASS, block_job::NAME),
    (event::CLASS, event::NAME),
    (vm::CLASS, vm::NAME),
    (vbd::CLASS, vbd::NAME),
];

/// Every field handle.
#[cfg(test)]
pub(crate) fn every_field() -> Vec<crate::model::field::Erased> {
    vec![
        session::UUID.erased(),
        session::THIS_HOST.erased(),
        session::THIS_USER.erased(),
        session::LAST_ACTIVE.erased(),
        session::POOL.erased(),
        session::OTHER_CONFIG.erased(),
        session::IS_LOCAL_SUPERUSER.erased(),
        session::SUBJECT.erased(),
        session::VALIDATION_TIME.erased(),
        session::AUTH_USER_SID.erased(),
        session::AUTH_USER_NAME.erased(),
        session::RBAC_PERMISSIONS.erased(),
        session::PARENT.erased(),
        session::ORIGINATOR.erased(),
        session::CLIENT_CERTIFICATE.erased(),
        task::UUID.erased(),
        task::NAME_LABEL.erased(),
        task::NAME_DESCRIPTION.erased(),
        task::ALLOWED_OPERATIONS.erased(),
        task::CURRENT_OPERATIONS.erased(),
        task::CREATED.erased(),
        task::FINISHED.erased(),
        task::STATUS.erased(),
        task::RESIDENT_ON.erased(),
        task::PROGRESS.erased(),
        task::ETA.erased(),
        task::TYPE.erased(),
        task::RESULT.erased(),
        task::ERROR_INFO.erased(),
        task::OTHER_CONFIG.erased(),
        task::SUBTASK_OF.erased(),
        task::SUBTASKS.erased(),
        task::BACKTRACE.erased(),
        task::MANAGED.erased(),
        host::UUID.erased(),
        host::NAME_LABEL.erased(),
        host::NAME_DESCRIPTION.erased(),
        host::API_VERSION_MAJOR.erased(),
        host::API_VERSION_MINOR.erased(),
        host::API_VERSION_VENDOR.erased(),
        host::SOFTWARE_VERSION.erased(),
        host::ENABLED.erased(),
        host::HOSTNAME.erased(),
        host::ADDRESS.erased(),
        host::OTHER_CONFIG.erased(),
        pool::UUID.erased(),
        pool::NAME_LABEL.erased(),
        pool::NAME_DESCRIPTION.erased(),
        pool::MASTER.erased(),
        pool::OTHER_CONFIG.erased(),
        sr::UUID.erased(),
        sr::NAME_LABEL.erased(),
        sr::NAME_DESCRIPTION.erased(),
        sr::ALLOWED_OPERATIONS.erased(),
        sr::CURRENT_OPERATIONS.erased(),
        sr::VDIS.erased(),
        sr::VIRTUAL_ALLOCATION.erased(),
        sr::PHYSICAL_UTILISATION.erased(),
        sr::PHYSICAL_SIZE.erased(),
        sr::TYPE.erased(),
        sr::CONTENT_TYPE.erased(),
        sr::SHARED.erased(),
        sr::OTHER_CONFIG.erased(),
        sr::SM_CONFIG.erased(),
        sr::CONFIG_NAME.erased(),
        sr::PATH.erased(),
        vdi::UUID.erased(),
        vdi::NAME_LABEL.erased(),
        vdi::NAME_DESCRIPTION.erased(),
        vdi::ALLOWED_OPERATIONS.erased(),
        vdi::CURRENT_OPERATIONS.erased(),
        vdi::SR.erased(),
        vdi::VIRTUAL_SIZE.erased(),
        vdi::PHYSICAL_UTILISATION.erased(),
        vdi::TYPE.erased(),
        vdi::SHARABLE.erased(),
        vdi::READ_ONLY.erased(),
        vdi::OTHER_CONFIG.erased(),
        vdi::STORAGE_LOCK.erased(),
        vdi::LOCATION.erased(),
        vdi::MANAGED.erased(),
        vdi::MISSING.erased(),
        vdi::PARENT.erased(),
        vdi::SM_CONFIG.erased(),
        vdi::IS_A_SNAPSHOT.erased(),
        vdi::SNAPSHOT_OF.erased(),
        vdi::SNAPSHOTS.erased(),
        vdi::SNAPSHOT_TIME.erased(),
        vdi::VBDS.erased(),
        vdi::BUILDING.erased(),
        block_job::UUID.erased(),
        block_job::JOB_ID.erased(),
        block_job::TYPE.erased(),
        block_job::STATUS.erased(),
        block_job::DEVICE.erased(),
        block_job::TARGET.erased(),
        block_job::CURRENT_PROGRESS.erased(),
        block_job::TOTAL_PROGRESS.erased(),
        block_job::SPEED.erased(),
        block_job::AUTO_FINALIZE.erased(),
        block_job::AUTO_DISMISS.erased(),
        block_job::ON_SOURCE_ERROR.erased(),
        block_job::ON_TARGET_ERROR.erased(),
        block_job::IO_STATUS.erased(),
        block_job::ERROR.erased(),
        block_job::TASK.erased(),
        block_job::RATE.erased(),
        block_job::SYNC.erased(),
        block_job::READY.erased(),
        event::UUID.erased(),
        event::ID.erased(),
        event::TIMESTAMP.erased(),
        event::CLASS_.erased(),
        event::OPERATION.erased(),
        event::REF.erased(),
        event::OBJ_UUID.erased(),
        vm::UUID.erased(),
        vm::NAME_LABEL.erased(),
        vm::NAME_DESCRIPTION.erased(),
        vm::POWER_STATE.erased(),
        vm::VBDS.erased(),
        vm::OTHER_CONFIG.erased(),
        vm::BUILDING.erased(),
        vbd::UUID.erased(),
        vbd::VM.erased(),
        vbd::VDI.erased(),
        vbd::USERDEVICE.erased(),
        vbd::BOOTABLE.erased(),
        vbd::MODE.erased(),
        vbd::TYPE.erased(),
        vbd::OTHER_CONFIG.erased(),
    ]
}

/// Every enum.
#[cfg(test)]
pub(crate) fn every_enum() -> Vec<crate::model::field::ErasedEnum> {
    use crate::model::field::erase_enum;
    vec![
        erase_enum("block_job_error_policy", BlockJobErrorPolicy::ALL, BlockJobErrorPolicy::name, BlockJobErrorPolicy::from_name),
        erase_enum("block_job_io_status", BlockJobIoStatus::ALL, BlockJobIoStatus::name, BlockJobIoStatus::from_name),
        erase_enum("block_job_status", BlockJobStatus::ALL, BlockJobStatus::name, BlockJobStatus::from_name),
        erase_enum("block_job_type", BlockJobType::ALL, BlockJobType::name, BlockJobType::from_name),
        erase_enum("event_operation", EventOperation::ALL, EventOperation::name, EventOperation::from_name),
        erase_enum("storage_operations", StorageOperations::ALL, StorageOperations::name, StorageOperations::from_name),
        erase_enum("task_allowed_operations", TaskAllowedOperations::ALL, TaskAllowedOperations::name, TaskAllowedOperations::from_name),
        erase_enum("task_status_type", TaskStatusType::ALL, TaskStatusType::name, TaskStatusType::from_name),
        erase_enum("vbd_mode", VbdMode::ALL, VbdMode::name, VbdMode::from_name),
        erase_enum("vbd_type", VbdType::ALL, VbdType::name, VbdType::from_name),
        erase_enum("vdi_operations", VdiOperations::ALL, VdiOperations::name, VdiOperations::from_name),
        erase_enum("vdi_type", VdiType::ALL, VdiType::name, VdiType::from_name),
        erase_enum("vm_power_state", VmPowerState::ALL, VmPowerState::name, VmPowerState::from_name),
    ]
}

/// Every error code.
#[cfg(test)]
pub(crate) const EVERY_CODE: &[&str] = &[
    codes::EVENTS_LOST,
    codes::EVENT_FROM_TOKEN_PARSE_FAILURE,
    codes::EVENT_SUBSCRIPTION_PARSE_FAILURE,
    codes::FIELD_TYPE_ERROR,
    codes::HANDLE_INVALID,
    codes::INTERNAL_ERROR,
    codes::INVALID_VALUE,
    codes::MAP_DUPLICATE_KEY,
    codes::MESSAGE_METHOD_UNKNOWN,
    codes::MESSAGE_PARAMETER_COUNT_MISMATCH,
    codes::NOT_IMPLEMENTED,
    codes::OPERATION_NOT_ALLOWED,
    codes::OTHER_OPERATION_IN_PROGRESS,
    codes::SESSION_AUTHENTICATION_FAILED,
    codes::SESSION_INVALID,
    codes::SESSION_NOT_REGISTERED,
    codes::SR_BACKEND_FAILURE,
    codes::SR_FULL,
    codes::TASK_CANCELLED,
    codes::TASK_INTERRUPTED,
    codes::UUID_INVALID,
    codes::VDI_IN_USE,
    codes::VDI_IO_ERROR,
    codes::VDI_MISSING,
    codes::VDI_READ_ONLY,
    codes::VDI_TOO_SMALL,
];
