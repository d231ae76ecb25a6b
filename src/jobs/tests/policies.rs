//! Error policies: what an I/O error on a side does under report, ignore,
//! stop and enospc, and the codes clients then see.

use super::support::{Bench, Cmd, Final};
use crate::jobs::{JobKind, Policy, Side};
use crate::model::schema::{block_job, BlockJobIoStatus, BlockJobStatus as S, TaskStatusType};
use crate::wire::Ref;

async fn job_with(
    b: &Bench,
    source: Policy,
    target: Policy,
) -> (std::sync::Arc<crate::jobs::Job>, super::support::Fake) {
    let mut spec = b.spec(JobKind::Stream { base: Ref::NULL }).await;
    spec.on_source_error = source;
    spec.on_target_error = target;
    b.start(spec, None).await
}

#[tokio::test(start_paused = true)]
async fn report_fails_the_job_with_vdi_io_error() {
    let b = Bench::new().await;
    let (job, mut fake) = job_with(&b, Policy::Report, Policy::Report).await;
    let s = fake
        .step(Cmd::Io {
            side: Side::Target,
            errno: libc::EIO,
            fails: 1,
        })
        .await;
    assert!(s.result.is_err());
    let err = job.wait().await.unwrap_err();
    let want = format!(
        "writing the target: {}",
        std::io::Error::from_raw_os_error(libc::EIO)
    );
    assert_eq!(err.to_vec(), ["VDI_IO_ERROR".to_string(), want]);
    assert_eq!(b.task_status(&job), TaskStatusType::Failure);
    assert_eq!(b.task_error(&job), err.to_vec());
    assert_eq!(fake.finals(), [Final::Abort]);
}

#[tokio::test(start_paused = true)]
async fn no_space_is_sr_full() {
    let b = Bench::new().await;
    let (job, mut fake) = job_with(&b, Policy::Report, Policy::Report).await;
    fake.step(Cmd::Io {
        side: Side::Source,
        errno: libc::ENOSPC,
        fails: 1,
    })
    .await;
    let err = job.wait().await.unwrap_err();
    assert_eq!(err.to_vec(), ["SR_FULL", "0", "0"]);
}

#[tokio::test(start_paused = true)]
async fn ignore_retries_until_it_works() {
    let b = Bench::new().await;
    let (job, mut fake) = job_with(&b, Policy::Ignore, Policy::Report).await;
    let s = fake
        .step(Cmd::Io {
            side: Side::Source,
            errno: libc::EIO,
            fails: 3,
        })
        .await;
    assert!(s.result.is_ok());
    // (Each retry waits 100 ms of the job's clock.)
    assert!(
        s.took >= std::time::Duration::from_millis(300),
        "{:?}",
        s.took
    );
    assert_eq!(b.field(block_job::IO_STATUS, &job), BlockJobIoStatus::Ok);
    fake.send(Cmd::Done);
    assert_eq!(job.wait().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn stop_pauses_with_io_status_failed_and_resume_retries() {
    let b = Bench::new().await;
    let (job, mut fake) = job_with(&b, Policy::Report, Policy::Stop).await;
    fake.send(Cmd::Io {
        side: Side::Target,
        errno: libc::EIO,
        fails: 1,
    });
    b.until_status(&job, S::Paused).await;
    assert_eq!(
        b.field(block_job::IO_STATUS, &job),
        BlockJobIoStatus::Failed
    );
    // The stop is a user pause: a second pause is refused.
    assert!(job.pause().is_err());
    job.resume().unwrap();
    assert!(fake.next().await.result.is_ok(), "the retry works");
    assert_eq!(b.field(block_job::IO_STATUS, &job), BlockJobIoStatus::Ok);
    b.until_status(&job, S::Running).await;
    fake.send(Cmd::Done);
    assert_eq!(job.wait().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn enospc_stops_on_no_space_and_reports_the_rest() {
    let b = Bench::new().await;
    let (job, mut fake) = job_with(&b, Policy::Report, Policy::Enospc).await;
    fake.send(Cmd::Io {
        side: Side::Target,
        errno: libc::ENOSPC,
        fails: 1,
    });
    b.until_status(&job, S::Paused).await;
    assert_eq!(
        b.field(block_job::IO_STATUS, &job),
        BlockJobIoStatus::Nospace
    );
    job.resume().unwrap();
    assert!(fake.next().await.result.is_ok());
    // Any other error fails the job.
    let s = fake
        .step(Cmd::Io {
            side: Side::Target,
            errno: libc::EIO,
            fails: 1,
        })
        .await;
    assert!(s.result.is_err());
    assert_eq!(job.wait().await.unwrap_err().code, "VDI_IO_ERROR");
}

#[tokio::test(start_paused = true)]
async fn each_side_has_its_own_policy() {
    let b = Bench::new().await;
    let (job, mut fake) = job_with(&b, Policy::Stop, Policy::Report).await;
    // The target reports even though the source would stop.
    fake.step(Cmd::Io {
        side: Side::Target,
        errno: libc::EIO,
        fails: 1,
    })
    .await;
    assert_eq!(job.wait().await.unwrap_err().code, "VDI_IO_ERROR");
}
