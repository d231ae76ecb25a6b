//! `block_job`: A QEMU-style block job: a long-running copy between disk images (backup, mirror, stream, commit) with QEMU's state machine and verbs. Each job owns a task (block_job.task; task.other_config:block_job names the job) that carries its progress, ETA, result and error.
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

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

/// `sync` (`string`, RO): Sync mode of a backup (full, top, none, bitmap) or mirror (full, top, none); empty for stream and commit.
pub const SYNC: Field<String> = Field::new(CLASS, 17, "sync");

/// `ready` (`bool`, RO): True while a mirror or active commit is in sync and can be completed.
pub const READY: Field<bool> = Field::new(CLASS, 18, "ready");
