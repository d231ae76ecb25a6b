//! The client verbs: pause and resume (with QEMU's pause nesting), cancel
//! (forced, and soft in ready), complete.

use super::support::{Bench, Cmd, Final};
use crate::jobs::{Ended, JobKind, SyncMode};
use crate::model::schema::{block_job, BlockJobStatus as S, TaskStatusType};
use crate::wire::Ref;

fn stream() -> JobKind {
    JobKind::Stream { base: Ref::NULL }
}

fn mirror() -> JobKind {
    JobKind::Mirror {
        sync: SyncMode::Full,
        granularity: 64 << 10,
    }
}

#[tokio::test(start_paused = true)]
async fn a_user_pause_holds_at_the_next_pause_point_until_resumed() {
    let b = Bench::new().await;
    let (job, mut fake) = b.start(b.spec(stream()).await, None).await;
    job.pause().unwrap();
    assert_eq!(job.pause().unwrap_err().params, ["Job is already paused"]);
    // Still running until the work reaches a pause point.
    assert_eq!(b.status(&job), S::Running);
    fake.send(Cmd::PausePoint);
    b.until_status(&job, S::Paused).await;
    job.resume().unwrap();
    let s = fake.next().await;
    assert!(s.result.is_ok());
    b.until_status(&job, S::Running).await;
    assert_eq!(
        job.resume().unwrap_err().params,
        ["Can't resume a job that was not paused"]
    );
    fake.send(Cmd::Done);
    assert_eq!(job.wait().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_pause_before_the_start_nests_with_the_creation_pause() {
    let b = Bench::new().await;
    let (job, mut fake, start) = b.create(b.spec(stream()).await).await;
    job.pause().unwrap();
    assert_eq!(b.status(&job), S::Created);
    // Starting drops the creation pause; the user's still holds.
    start.go(&job).await;
    fake.send(Cmd::PausePoint);
    b.until_status(&job, S::Paused).await;
    job.resume().unwrap();
    assert!(fake.next().await.result.is_ok());
    fake.send(Cmd::Done);
    assert_eq!(job.wait().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_forced_cancel_stops_the_work_and_cancels_the_task() {
    let b = Bench::new().await;
    let (job, mut fake) = b.start(b.spec(stream()).await, None).await;
    // A paused job is resumed by the cancel.
    job.pause().unwrap();
    fake.send(Cmd::PausePoint);
    b.until_status(&job, S::Paused).await;
    job.cancel(true).unwrap();
    assert_eq!(fake.next().await.result, Err("cancelled".to_string()));
    let err = job.wait().await.unwrap_err();
    assert_eq!(
        err.to_vec(),
        ["TASK_CANCELLED".to_string(), job.task.to_string()]
    );
    assert_eq!(b.task_status(&job), TaskStatusType::Cancelled);
    assert_eq!(fake.finals(), [Final::Abort]);
}

#[tokio::test(start_paused = true)]
async fn a_task_cancel_force_cancels_its_job() {
    let b = Bench::new().await;
    let (job, mut fake) = b.start(b.spec(stream()).await, None).await;
    crate::domain::tasks::cancel_now(&b.d, job.task);
    // The coordinator sees the task's cancellation, then the work its
    // next pause point.
    super::support::until("the cancel", || {
        crate::jobs::job::lock(&job.ctl).cancel == Some(true)
    })
    .await;
    assert!(fake.step(Cmd::PausePoint).await.result.is_err());
    assert_eq!(job.wait().await.unwrap_err().code, "TASK_CANCELLED");
}

#[tokio::test(start_paused = true)]
async fn a_soft_cancel_in_ready_ends_in_sync_without_pivot() {
    let b = Bench::new().await;
    let (job, mut fake) = b.start(b.spec(mirror()).await, None).await;
    fake.send(Cmd::ReadyUntilComplete);
    b.until_status(&job, S::Ready).await;
    assert!(b.field(block_job::READY, &job));
    job.cancel(false).unwrap();
    assert!(fake.next().await.result.is_ok());
    assert_eq!(job.wait().await, Ok(()));
    assert_eq!(fake.finals(), [Final::Commit(Ended::NoPivot)]);
}

#[tokio::test(start_paused = true)]
async fn a_soft_cancel_before_ready_is_a_cancel() {
    let b = Bench::new().await;
    let (job, mut fake) = b.start(b.spec(mirror()).await, None).await;
    job.cancel(false).unwrap();
    assert!(fake.step(Cmd::PausePoint).await.result.is_err());
    assert_eq!(job.wait().await.unwrap_err().code, "TASK_CANCELLED");
}

#[tokio::test(start_paused = true)]
async fn complete_needs_a_ready_mirror_and_pivots_it() {
    let b = Bench::new().await;
    let (job, mut fake) = b.start(b.spec(mirror()).await, None).await;
    let e = job.complete().unwrap_err();
    assert_eq!(
        e.params,
        [format!(
            "Job '{}' in state 'running' cannot accept command verb 'complete'",
            job.id
        )]
    );
    fake.send(Cmd::ReadyUntilComplete);
    b.until_status(&job, S::Ready).await;
    job.complete().unwrap();
    assert!(fake.next().await.result.is_ok());
    assert_eq!(job.wait().await, Ok(()));
    assert_eq!(fake.finals(), [Final::Commit(Ended::Done)]);
    assert_eq!(b.task_status(&job), TaskStatusType::Success);

    // A stream cannot be completed at all.
    let (s, f2) = b.start(b.spec(stream()).await, None).await;
    let e = s.complete().unwrap_err();
    assert_eq!(e.code, "OPERATION_NOT_ALLOWED");
    f2.send(Cmd::Done);
    assert_eq!(s.wait().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_in_pending_aborts_instead_of_finalizing() {
    let b = Bench::new().await;
    let mut spec = b.spec(stream()).await;
    spec.auto_finalize = false;
    let (job, fake) = b.start(spec, None).await;
    fake.send(Cmd::Done);
    b.until_status(&job, S::Pending).await;
    job.cancel(false).unwrap();
    assert_eq!(job.wait().await.unwrap_err().code, "TASK_CANCELLED");
    assert_eq!(fake.finals(), [Final::Abort]);
}
