//! A job's walk through QEMU's states, as the registry and the task show
//! it.

use super::support::{until, Bench, Cmd, Final};
use crate::jobs::{Ended, JobKind};
use crate::model::schema::{block_job, BlockJobStatus as S, TaskStatusType};

#[tokio::test(start_paused = true)]
async fn created_running_pending_concluded_null() {
    let b = Bench::new().await;
    let mut spec = b
        .spec(JobKind::Stream {
            base: crate::wire::Ref::NULL,
        })
        .await;
    spec.auto_finalize = false;
    spec.auto_dismiss = false;
    let (job, mut fake, start) = b.create(spec).await;
    assert_eq!(b.status(&job), S::Created);
    assert_eq!(b.task_status(&job), TaskStatusType::Pending);

    start.go(&job).await;
    assert_eq!(b.status(&job), S::Running);

    // Progress reaches the object and the task at the next tick.
    let s = fake
        .step(Cmd::Progress {
            total: 1000,
            n: 250,
        })
        .await;
    assert!(s.result.is_ok());
    until("progress", || {
        b.field(block_job::CURRENT_PROGRESS, &job) == 250
    })
    .await;
    assert_eq!(b.field(block_job::TOTAL_PROGRESS, &job), 1000);
    until("task progress", || {
        (b.task_progress(&job) - 0.25).abs() < 1e-9
    })
    .await;

    // Done: the job waits in pending for finalize (no other job to wait
    // for in `waiting`).
    fake.send(Cmd::Done);
    b.until_status(&job, S::Pending).await;
    assert_eq!(b.task_status(&job), TaskStatusType::Pending);
    assert!(fake.finals().is_empty(), "nothing is final before finalize");
    // Verbs of other states are refused with QEMU's message.
    let e = job.dismiss().unwrap_err();
    assert_eq!(
        e.params,
        [format!(
            "Job '{}' in state 'pending' cannot accept command verb 'dismiss'",
            job.id
        )]
    );

    job.finalize().unwrap();
    b.until_status(&job, S::Concluded).await;
    assert_eq!(job.wait().await, Ok(()));
    assert_eq!(fake.finals(), [Final::Commit(Ended::Done)]);
    assert_eq!(b.task_status(&job), TaskStatusType::Success);
    assert_eq!(b.task_progress(&job), 1.0);
    assert_eq!(b.field(block_job::CURRENT_PROGRESS, &job), 1000);
    assert_eq!(b.field(block_job::ERROR, &job), "");

    // Kept until dismissed; then the object and the id are gone.
    assert!(b.jobs.get(job.r).is_ok());
    job.dismiss().unwrap();
    job.wait_removed().await;
    assert_eq!(b.status(&job), S::Null);
    assert!(!b.d.registry.exists(block_job::CLASS, job.r));
    assert!(b.jobs.get(job.r).is_err());
    assert!(b.jobs.ids.get(&job.id).is_none());
}

#[tokio::test(start_paused = true)]
async fn auto_finalize_and_auto_dismiss_need_no_client() {
    let b = Bench::new().await;
    let spec = b
        .spec(JobKind::Stream {
            base: crate::wire::Ref::NULL,
        })
        .await;
    let (job, fake) = b.start(spec, None).await;
    assert_eq!(b.status(&job), S::Running);
    fake.send(Cmd::Done);
    assert_eq!(job.wait().await, Ok(()));
    job.wait_removed().await;
    assert_eq!(b.task_status(&job), TaskStatusType::Success);
    assert_eq!(fake.finals(), [Final::Commit(Ended::Done)]);
    assert!(b.jobs.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_job_kept_for_its_client_shows_its_error() {
    let b = Bench::new().await;
    let mut spec = b
        .spec(JobKind::Stream {
            base: crate::wire::Ref::NULL,
        })
        .await;
    spec.auto_dismiss = false;
    let (job, mut fake) = b.start(spec, None).await;
    let s = fake
        .step(Cmd::Io {
            side: crate::jobs::Side::Source,
            errno: libc::EIO,
            fails: 1,
        })
        .await;
    assert!(s.result.is_err());
    b.until_status(&job, S::Concluded).await;
    let err = job.wait().await.unwrap_err();
    assert_eq!(err.code, "VDI_IO_ERROR");
    assert_eq!(b.field(block_job::ERROR, &job), err.to_vec().join(" "));
    assert_eq!(fake.finals(), [Final::Abort]);
    // In concluded, cancel dismisses (as QEMU).
    job.cancel(false).unwrap();
    job.wait_removed().await;
    until("the object to go", || b.status(&job) == S::Null).await;
}
