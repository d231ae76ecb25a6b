//! Grouped transactions: members wait for each other in `waiting`, go
//! pending together, and the first failure force-cancels the rest.

use super::support::{Bench, Cmd, Final};
use crate::jobs::group::Txn;
use crate::jobs::{Ended, JobKind, Side, SyncMode};
use crate::model::schema::{vdi, BlockJobStatus as S, TaskStatusType};

fn backup() -> JobKind {
    JobKind::Backup {
        sync: SyncMode::Full,
    }
}

#[tokio::test(start_paused = true)]
async fn members_wait_for_each_other_then_finish_together() {
    let b = Bench::new().await;
    let txn = Txn::new(2);
    let (a, fa) = b.start(b.spec(backup()).await, Some(txn.clone())).await;
    let (c, fc) = b.start(b.spec(backup()).await, Some(txn.clone())).await;
    fa.send(Cmd::Done);
    b.until_status(&a, S::Waiting).await;
    assert_eq!(b.task_status(&a), TaskStatusType::Pending);
    assert!(fa.finals().is_empty(), "not finalized while the group runs");
    fc.send(Cmd::Done);
    assert_eq!(a.wait().await, Ok(()));
    assert_eq!(c.wait().await, Ok(()));
    assert_eq!(fa.finals(), [Final::Commit(Ended::Done)]);
    assert_eq!(fc.finals(), [Final::Commit(Ended::Done)]);
}

#[tokio::test(start_paused = true)]
async fn the_first_failure_cancels_the_rest() {
    let b = Bench::new().await;
    let txn = Txn::new(3);
    let mut targets = Vec::new();
    let mut start = |spec: crate::jobs::Spec| {
        targets.push(spec.target);
        b.start(spec, Some(txn.clone()))
    };
    let (waiting, fw) = start(b.spec(backup()).await).await;
    let (running, mut fr) = start(b.spec(backup()).await).await;
    let (failing, mut ff) = start(b.spec(backup()).await).await;
    fw.send(Cmd::Done);
    b.until_status(&waiting, S::Waiting).await;

    let s = ff
        .step(Cmd::Io {
            side: Side::Target,
            errno: libc::EIO,
            fails: 1,
        })
        .await;
    assert!(s.result.is_err());
    assert_eq!(failing.wait().await.unwrap_err().code, "VDI_IO_ERROR");

    // The one waiting is cancelled where it waits; the one running at its
    // next pause point.
    let e = waiting.wait().await.unwrap_err();
    assert_eq!(
        e.to_vec(),
        ["TASK_CANCELLED".to_string(), waiting.task.to_string()]
    );
    assert!(fr.step(Cmd::PausePoint).await.result.is_err());
    assert_eq!(running.wait().await.unwrap_err().code, "TASK_CANCELLED");

    assert_eq!(b.task_status(&waiting), TaskStatusType::Cancelled);
    assert_eq!(b.task_status(&running), TaskStatusType::Cancelled);
    assert_eq!(b.task_status(&failing), TaskStatusType::Failure);
    for f in [&fw, &fr, &ff] {
        assert_eq!(f.finals(), [Final::Abort]);
    }
    // The targets are marked as no good copies, with the reason.
    for (target, why) in
        targets
            .into_iter()
            .zip(["TASK_CANCELLED", "TASK_CANCELLED", "VDI_IO_ERROR"])
    {
        let mark = b.d.registry.read(vdi::CLASS, target, |row| {
            row.fields[vdi::SM_CONFIG]
                .map_get("incomplete")
                .map(str::to_owned)
        });
        assert_eq!(mark.flatten().as_deref(), Some(why));
    }
}
