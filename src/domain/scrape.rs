//! What the domain tells a Prometheus scrape (`GET /metrics`): sessions,
//! event waiters, tasks by status, block jobs by type and state with each
//! live job's progress, rate and speed limit, bytes copied, concluded jobs
//! and their durations, the store's commit latency, SR sizes and free
//! space, NBD connections. Read from the tables and counters at the
//! scrape; nothing is kept for it.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use crate::metrics::{Labels, MetricType, Page};
use crate::model::schema::{
    block_job, session, sr, task, vdi, BlockJobStatus, BlockJobType, TaskStatusType,
};
use crate::storage::files::fs_space;

use super::Domain;

const TASKS: &str = "xapid_tasks";
const JOBS: &str = "xapid_block_jobs";
const JOB_CURRENT: &str = "xapid_block_job_progress_current_bytes";
const JOB_TOTAL: &str = "xapid_block_job_progress_total_bytes";
const JOB_RATE: &str = "xapid_block_job_rate_bytes_per_second";
const JOB_SPEED: &str = "xapid_block_job_speed_limit_bytes_per_second";
const SR_SIZE: &str = "xapid_sr_physical_size_bytes";
const SR_USED: &str = "xapid_sr_physical_utilisation_bytes";
const SR_FREE: &str = "xapid_sr_free_bytes";
const SR_VIRT: &str = "xapid_sr_virtual_allocation_bytes";

/// Writes the domain's part of the page.
pub fn write(d: &Domain, page: &mut Page) {
    page.gauge(
        "xapid_sessions",
        "Sessions open now.",
        vec![],
        d.registry.count(session::CLASS) as f64,
    );
    page.gauge(
        "xapid_event_waiters",
        "event.from and event.next calls waiting for a change now.",
        vec![],
        d.registry.events().waiters() as f64,
    );
    tasks(d, page);
    jobs(d, page);
    page.counter(
        "xapid_block_job_copied_bytes",
        "Bytes of data block jobs (and so VDI and VM copies and clones) have copied.",
        vec![],
        d.stats.job_bytes.load(Ordering::Relaxed),
    );
    const DONE: &str = "xapid_block_jobs_concluded";
    const DONE_HELP: &str =
        "Block jobs concluded, by type and result (success, cancelled or failure).";
    page.declare(DONE, DONE_HELP, MetricType::Counter);
    for ((ty, result), n) in d.stats.concluded() {
        let labels = vec![("type", ty.to_owned()), ("result", result.to_owned())];
        page.counter(DONE, DONE_HELP, labels, n);
    }
    const TOOK: &str = "xapid_block_job_duration_seconds";
    const TOOK_HELP: &str = "How long concluded block jobs ran, from start to conclusion, by type.";
    page.declare(TOOK, TOOK_HELP, MetricType::Histogram);
    for (ty, h) in d.stats.durations() {
        page.histogram(TOOK, TOOK_HELP, vec![("type", ty.to_owned())], h);
    }
    page.histogram(
        "xapid_store_commit_duration_seconds",
        "How long each commit of the durable store took (a batch of changes, fsync included).",
        vec![],
        d.registry.commit_latency(),
    );
    srs(d, page);
    page.gauge(
        "xapid_nbd_connections",
        "NBD connections open now.",
        vec![],
        d.stats.nbd_open.load(Ordering::Relaxed) as f64,
    );
    page.counter(
        "xapid_nbd_connections_accepted",
        "NBD connections accepted since the server started.",
        vec![],
        d.stats.nbd_accepted.load(Ordering::Relaxed),
    );
}

fn tasks(d: &Domain, page: &mut Page) {
    let mut by_status: BTreeMap<&'static str, u64> = [
        TaskStatusType::Pending,
        TaskStatusType::Success,
        TaskStatusType::Failure,
        TaskStatusType::Cancelling,
        TaskStatusType::Cancelled,
    ]
    .into_iter()
    .map(|s| (s.name(), 0))
    .collect();
    d.registry.for_each(task::CLASS, |_, row| {
        *by_status.entry(row.get(task::STATUS).name()).or_default() += 1;
    });
    for (status, n) in by_status {
        page.gauge(
            TASKS,
            "Tasks in the registry, by status (finished tasks stay until destroyed or collected).",
            vec![("status", status.to_owned())],
            n as f64,
        );
    }
}

fn jobs(d: &Domain, page: &mut Page) {
    const HELP: &str = "Block jobs, by type and QEMU state.";
    let mut counts: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
    for ty in [
        BlockJobType::Backup,
        BlockJobType::Mirror,
        BlockJobType::Stream,
        BlockJobType::Commit,
    ] {
        counts.insert((ty.name(), BlockJobStatus::Running.name()), 0);
    }
    let mut live = Vec::new();
    d.registry.for_each(block_job::CLASS, |_, row| {
        let (ty, status) = (row.get(block_job::TYPE), row.get(block_job::STATUS));
        *counts.entry((ty.name(), status.name())).or_default() += 1;
        let device = d
            .registry
            .get_field(vdi::UUID, row.get(block_job::DEVICE))
            .unwrap_or_default();
        let labels: Labels = vec![
            ("job", row.get(block_job::JOB_ID)),
            ("type", ty.name().to_owned()),
            ("device", device),
        ];
        live.push((
            labels,
            [
                row.get(block_job::CURRENT_PROGRESS),
                row.get(block_job::TOTAL_PROGRESS),
                row.get(block_job::RATE),
                row.get(block_job::SPEED),
            ],
        ));
    });
    for ((ty, state), n) in counts {
        let labels = vec![("type", ty.to_owned()), ("state", state.to_owned())];
        page.gauge(JOBS, HELP, labels, n as f64);
    }
    let families = [
        (
            JOB_CURRENT,
            "A live block job's progress (QEMU's current-progress, bytes of the image).",
        ),
        (
            JOB_TOTAL,
            "A live block job's progress total (QEMU's total-progress, bytes).",
        ),
        (
            JOB_RATE,
            "A live block job's copy rate now (block_job.rate).",
        ),
        (JOB_SPEED, "A live block job's speed limit (0: none)."),
    ];
    for (name, help) in families {
        page.declare(name, help, MetricType::Gauge);
    }
    for (labels, values) in live {
        for ((name, help), v) in families.iter().zip(values) {
            page.gauge(name, help, labels.clone(), v as f64);
        }
    }
}

fn srs(d: &Domain, page: &mut Page) {
    let mut rows = Vec::new();
    d.registry.for_each(sr::CLASS, |r, row| {
        rows.push((
            r,
            row.get(sr::UUID),
            row.get(sr::NAME_LABEL),
            row.get(sr::PHYSICAL_UTILISATION),
            row.get(sr::VIRTUAL_ALLOCATION),
        ));
    });
    for (r, uuid, name, used, virt) in rows {
        let labels: Labels = vec![("sr", uuid), ("name", name)];
        // Size and free space from the file system now, when served.
        let space = d.srs.get(r).ok().and_then(|s| fs_space(s.dir.root()));
        if let Some((size, free)) = space {
            page.gauge(
                SR_SIZE,
                "Size of the file system holding the SR.",
                labels.clone(),
                size as f64,
            );
            page.gauge(
                SR_FREE,
                "Bytes free for new data in the file system holding the SR.",
                labels.clone(),
                free as f64,
            );
        }
        page.gauge(
            SR_USED,
            "Bytes allocated on disk by the SR's VDIs.",
            labels.clone(),
            used as f64,
        );
        page.gauge(
            SR_VIRT,
            "Sum of the virtual sizes of the SR's VDIs.",
            labels,
            virt as f64,
        );
    }
}
