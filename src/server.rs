//! The composition root: builds the domain, the job engine and the API,
//! and runs restart recovery in one documented order, before the first
//! call is served.
//!
//! Recovery order, and why:
//! 1. **Jobs** ([`jobs::recover`]): a job that was running concludes with
//!    `TASK_INTERRUPTED` and its backup or mirror target is marked
//!    `incomplete`; concluded jobs a client must still dismiss keep their
//!    ids. (Needs the VDI rows only.)
//! 2. **Tasks** ([`tasks::recover_after_restart`]): every task the server
//!    was running ends `failure` with `TASK_INTERRUPTED`; a task that had
//!    succeeded stays a success. The `jobs` of VDIs, VMs and SRs are
//!    rebuilt from the tasks' `objects`.
//! 3. **SRs** ([`srs::bootstrap`]): the configured SRs are found or made,
//!    and every SR whose directory is there is served.
//! 4. **VDIs** ([`vdis::recover_after_restart`]): no claim survives; VDIs
//!    still being made are kept if the task that made them succeeded (step 2
//!    left its status as it was), else deleted; then
//!    ([`snapshots::recover_after_restart`]) snapshots still being taken or
//!    undone end complete or gone, as their files say.
//! 5. **Change logs** ([`cbt::recover_after_restart`]): logs of VDIs that
//!    are gone or no longer tracked go; then
//!    ([`coalesce::recover_after_restart`]) `cbt_metadata` VDIs lose the
//!    file a crash left them (or it becomes a hidden base); transient
//!    dirty bitmaps go ([`bitmaps::recover_after_restart`]).
//! 6. **Partial files** ([`srs::sweep_partials`]): overlays of snapshots
//!    that never got their name.
//! 7. **Scan** ([`scan::scan_all`]): files placed by hand are introduced,
//!    VDIs whose file is gone are forgotten; only now, so no half-made file
//!    is introduced as a VDI.
//! 8. **Leaked clusters** ([`leaks::recover_after_restart`]): every qcow2
//!    VDI is held (a reader) and its file's leaked clusters, which a killed
//!    writer leaves, are freed in the background. After the scan, which
//!    keeps a held VDI whose file is gone.
//! 8. **VMs** ([`vms::recover_after_restart`]): VMs still being made go,
//!    unless their task succeeded.

use std::sync::Arc;
use std::time::Duration;

use crate::api::Api;
use crate::config::Config;
use crate::domain::{
    bitmaps, cbt, coalesce, leaks, scan, sessions, snapshots, srs, tasks, vdis, vms, Domain,
};
use crate::jobs::{self, Jobs};

/// Builds everything and recovers from the last run; returns the API.
pub async fn build(config: Config) -> anyhow::Result<Arc<Api>> {
    let domain = Domain::open(config).await?;
    if domain.config.fault_injection {
        tracing::warn!("fault injection is on: VDI.other_config:xapid-fault injects I/O errors");
        crate::storage::fault::enable();
    }
    let jobs = Jobs::new(domain.clone());
    jobs::recover::recover_after_restart(&jobs).await?;
    tasks::recover_after_restart(&domain).await?;
    srs::bootstrap(&domain).await?;
    vdis::recover_after_restart(&domain).await?;
    snapshots::recover_after_restart(&domain).await?;
    cbt::recover_after_restart(&domain).await?;
    coalesce::recover_after_restart(&domain).await?;
    bitmaps::recover_after_restart(&domain).await?;
    srs::sweep_partials(&domain);
    scan::scan_all(&domain).await;
    // After the scan, which forgets the VDIs whose file is gone (a held
    // VDI it would keep).
    leaks::recover_after_restart(&domain);
    vms::recover_after_restart(&domain).await?;
    Ok(Arc::new(Api::new(domain, jobs)?))
}

/// Runs the session and task collectors every `gc_interval`, and the
/// background coalesce of hidden bases, until shutdown.
pub fn spawn_collectors(d: &Arc<Domain>) {
    coalesce::spawn(d);
    bitmaps::spawn_sync(d);
    let d2 = d.clone();
    let interval = d.config.gc_interval.max(Duration::from_millis(10));
    d.tracker.spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = d2.shutdown.cancelled() => break,
                _ = tick.tick() => {
                    sessions::gc(&d2);
                    tasks::gc(&d2).await;
                }
            }
        }
    });
}
