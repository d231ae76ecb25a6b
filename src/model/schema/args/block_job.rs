//! The parameters of the messages of `block_job`, typed and in order (the
//! session excluded). Built with `from_values` from the list dispatch
//! checked against the datamodel and converted (`model::convert`).
//!
//! GENERATED from `datamodel/*.toml` by `xapid::model::codegen`: do not
//! edit by hand. After changing the datamodel, run
//! `XAPID_BLESS=1 cargo test --lib codegen` and commit the result (that
//! test fails while this file is stale).

use super::super::*;

/// `block_job.backup(device, target, options)`: Start a backup job: a point-in-time copy of device into the existing VDI target (at least as large). options (all optional): job_id, speed (bytes/s), auto_finalize, auto_dismiss, sync (full, the default; top: only data allocated in device's own layer; none: only data overwritten while the job runs, copied before it is overwritten, until the job is cancelled; bitmap: only what the dirty bitmap named by the option bitmap marked when the job started; incremental: bitmap with bitmap_mode on-success), bitmap (a block_dirty_bitmap of device, by name or ref), bitmap_mode (on-success, never, always: what becomes of the bitmap when the job ends, as QEMU's; refused as QEMU refuses: incremental with another mode, a bitmap without a mode, none with a bitmap, full or top with never), on_source_error, on_target_error (report, ignore, stop, enospc, auto). Returns once the job has started.
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

/// `block_job.transaction(actions, completion_mode)`: Run several actions as one (QEMU's transaction): every action is prepared first (snapshots taken, backup jobs checked and their VDIs claimed), and either all take effect or none do (snapshots undone, no job left). actions: structs {type, device, target, options}, type backup (options as block_job.backup), snapshot (as VDI.snapshot), abort (which aborts the whole transaction), or a dirty bitmap action of device's bitmap name (QEMU's block-dirty-bitmap-* actions, as block_dirty_bitmap's messages): bitmap_add {device, name, options}, bitmap_clear, bitmap_enable, bitmap_disable {device, name}, bitmap_merge {device, name (the target), sources (names)}; an action may name a bitmap an earlier one added. Undone on failure: an added bitmap is removed, a cleared one gets its bits back, recording is set back (an undone merge leaves its bits: a superset). completion_mode individual: the jobs finish on their own; grouped (backups only): they wait in waiting until all have finished, go pending together, and the first failure cancels the rest. Returns the backup jobs, in the order of their actions.
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
