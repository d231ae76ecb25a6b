//! What a job is asked to do: its kind, sync mode and error policies, and
//! the whole request ([`Spec`]) that starting a job takes.

use tokio_util::sync::CancellationToken;

use crate::domain::bitmaps::BitmapMode;
use crate::model::schema::BlockJobType;
use crate::wire::Ref;

/// A backup's or mirror's sync mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Everything the device reads as.
    #[default]
    Full,
    /// Only what the device's own layer holds.
    Top,
    /// Only what is written while the job runs.
    None,
    /// Only what a dirty bitmap marks (backup only; with `bitmap_mode`).
    Bitmap,
    /// `bitmap` with `bitmap_mode=on-success` (backup only).
    Incremental,
}

impl SyncMode {
    /// The option's value.
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::Full => "full",
            SyncMode::Top => "top",
            SyncMode::None => "none",
            SyncMode::Bitmap => "bitmap",
            SyncMode::Incremental => "incremental",
        }
    }

    /// Parses the option.
    pub fn from_name(s: &str) -> Option<SyncMode> {
        [
            SyncMode::Full,
            SyncMode::Top,
            SyncMode::None,
            SyncMode::Bitmap,
            SyncMode::Incremental,
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// A point-in-time copy of the device into the target.
    Backup {
        /// Sync mode.
        sync: SyncMode,
    },
    /// Keep the target in sync with the device, then pivot.
    Mirror {
        /// Sync mode.
        sync: SyncMode,
        /// Dirty-tracking granularity in bytes.
        granularity: u64,
    },
    /// Pull the chain's data above `base` into the device.
    Stream {
        /// The layer that stays (null: the whole chain is pulled in).
        base: Ref,
    },
    /// Merge `top` (down to just above `base`) into `base`.
    Commit {
        /// The highest layer merged (the device: an active commit).
        top: Ref,
        /// The layer merged into.
        base: Ref,
    },
}

impl JobKind {
    /// The datamodel's `block_job_type`.
    pub fn job_type(&self) -> BlockJobType {
        match self {
            JobKind::Backup { .. } => BlockJobType::Backup,
            JobKind::Mirror { .. } => BlockJobType::Mirror,
            JobKind::Stream { .. } => BlockJobType::Stream,
            JobKind::Commit { .. } => BlockJobType::Commit,
        }
    }
}

/// An error policy (QEMU's `BlockdevOnError`): the datamodel's
/// `block_job_error_policy`, as generated.
pub use crate::model::schema::BlockJobErrorPolicy as Policy;

/// Which side of a copy failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Reading the source.
    Source,
    /// Writing the target.
    Target,
}

/// What a job is asked to do at its start.
#[derive(Debug)]
pub struct Spec {
    /// What it does.
    pub kind: JobKind,
    /// The VDI it works on.
    pub device: Ref,
    /// The VDI written (backup/mirror), or the base (stream/commit), or null.
    pub target: Ref,
    /// `job_id` option (default: the device's uuid).
    pub job_id: Option<String>,
    /// Bytes per second (0 = unlimited).
    pub speed: u64,
    /// `auto_finalize`.
    pub auto_finalize: bool,
    /// `auto_dismiss`.
    pub auto_dismiss: bool,
    /// `on_source_error` (`on_error` of stream and commit).
    pub on_source_error: Policy,
    /// `on_target_error`.
    pub on_target_error: Policy,
    /// The task to report through (an `Async.` call's), or none: the job
    /// creates its own.
    pub task: Option<Ref>,
    /// Fired by `task.cancel` on that task.
    pub cancel: Option<CancellationToken>,
    /// Whose task the job's own task is (a subject identifier, `""` for
    /// root).
    pub owner: String,
    /// The target was just created (reads as zeroes): zero ranges need not
    /// be written.
    pub fresh_target: bool,
    /// The device is only read: writes to it are refused while the job
    /// runs instead of being hooked (VDI.copy/clone, so copies of one VDI
    /// run side by side).
    pub read_only_device: bool,
    /// A backup's dirty bitmap and what becomes of it (QEMU's `bitmap`
    /// and `bitmap-mode`).
    pub bitmap: Option<(Ref, BitmapMode)>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            kind: JobKind::Backup {
                sync: SyncMode::Full,
            },
            device: Ref::NULL,
            target: Ref::NULL,
            job_id: None,
            speed: 0,
            auto_finalize: true,
            auto_dismiss: true,
            on_source_error: Policy::Report,
            on_target_error: Policy::Report,
            task: None,
            cancel: None,
            owner: String::new(),
            fresh_target: false,
            read_only_device: false,
            bitmap: None,
        }
    }
}
