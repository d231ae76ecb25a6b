//! The datamodel as Rust, a file per concept: a module per class with
//! typed field handles, an enum per datamodel enum (`enums`), an argument
//! struct per explicit message (`args`), and the error codes (`codes`)
//! with a constructor each on `ApiError`. The imports below serve every
//! file (each starts with `use super::*`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).
//!
//! Class ids and field indices are those of the embedded datamodel, which
//! the server loads at start-up (`model::embedded()`); a test holds every
//! constant against it.

#![allow(unused_imports)]

use std::fmt;

use crate::error::ApiError;
use crate::model::field::{enum_impls, next_arg, next_opt_arg, Field, FieldValue, Map};
use crate::model::ClassId;
use crate::wire::{DateTime, Ref, Value};

mod enums;
pub use enums::*;

pub mod session;
pub mod task;
pub mod host;
pub mod pool;
pub mod sr;
pub mod vdi;
pub mod block_job;
pub mod event;
pub mod vm;
pub mod vbd;
pub mod block_dirty_bitmap;
pub mod role;
pub mod subject;
pub mod args;
pub mod codes;

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
    (block_dirty_bitmap::CLASS, block_dirty_bitmap::NAME),
    (role::CLASS, role::NAME),
    (subject::CLASS, subject::NAME),
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
        task::OBJECTS.erased(),
        task::CREATED_BY.erased(),
        task::BACKTRACE.erased(),
        task::MANAGED.erased(),
        task::OWNER.erased(),
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
        host::HTTPS_ONLY.erased(),
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
        sr::HIDDEN.erased(),
        sr::JOBS.erased(),
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
        vdi::CBT_ENABLED.erased(),
        vdi::CBT_PREV.erased(),
        vdi::BUILDING.erased(),
        vdi::JOBS.erased(),
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
        vm::JOBS.erased(),
        vbd::UUID.erased(),
        vbd::VM.erased(),
        vbd::VDI.erased(),
        vbd::USERDEVICE.erased(),
        vbd::BOOTABLE.erased(),
        vbd::MODE.erased(),
        vbd::TYPE.erased(),
        vbd::OTHER_CONFIG.erased(),
        block_dirty_bitmap::UUID.erased(),
        block_dirty_bitmap::NAME_.erased(),
        block_dirty_bitmap::VDI.erased(),
        block_dirty_bitmap::GRANULARITY.erased(),
        block_dirty_bitmap::COUNT.erased(),
        block_dirty_bitmap::RECORDING.erased(),
        block_dirty_bitmap::BUSY.erased(),
        block_dirty_bitmap::PERSISTENT.erased(),
        block_dirty_bitmap::INCONSISTENT.erased(),
        role::UUID.erased(),
        role::NAME_LABEL.erased(),
        role::NAME_DESCRIPTION.erased(),
        role::SUBROLES.erased(),
        role::IS_INTERNAL.erased(),
        subject::UUID.erased(),
        subject::SUBJECT_IDENTIFIER.erased(),
        subject::OTHER_CONFIG.erased(),
        subject::ROLES.erased(),
        subject::PASSWORD_HASH.erased(),
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
    codes::BLOCK_DIRTY_BITMAP_BUSY,
    codes::BLOCK_DIRTY_BITMAP_EXISTS,
    codes::BLOCK_DIRTY_BITMAP_INCONSISTENT,
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
    codes::RBAC_PERMISSION_DENIED,
    codes::ROLE_ALREADY_EXISTS,
    codes::ROLE_NOT_FOUND,
    codes::SERVER_CERTIFICATE_CHAIN_INVALID,
    codes::SERVER_CERTIFICATE_EXPIRED,
    codes::SERVER_CERTIFICATE_INVALID,
    codes::SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED,
    codes::SERVER_CERTIFICATE_KEY_INVALID,
    codes::SERVER_CERTIFICATE_KEY_MISMATCH,
    codes::SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED,
    codes::SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED,
    codes::SERVER_CERTIFICATE_NOT_VALID_YET,
    codes::SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED,
    codes::SESSION_AUTHENTICATION_FAILED,
    codes::SESSION_INVALID,
    codes::SESSION_NOT_REGISTERED,
    codes::SR_BACKEND_FAILURE,
    codes::SR_BACKEND_FAILURE_460,
    codes::SR_FULL,
    codes::SUBJECT_ALREADY_EXISTS,
    codes::TASK_CANCELLED,
    codes::TASK_INTERRUPTED,
    codes::UUID_INVALID,
    codes::VDI_CBT_ENABLED,
    codes::VDI_INCOMPATIBLE_TYPE,
    codes::VDI_IN_USE,
    codes::VDI_IO_ERROR,
    codes::VDI_MISSING,
    codes::VDI_NO_CBT_METADATA,
    codes::VDI_READ_ONLY,
    codes::VDI_TOO_SMALL,
];
