//! `set_speed`: the throttle waits as long as the speed says, on the job's
//! (paused) clock, and a new speed applies to a wait in progress.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::support::{until, Bench, Cmd};
use crate::jobs::JobKind;
use crate::model::schema::block_job;
use crate::wire::Ref;

const MIB: u64 = 1 << 20;

fn near(took: Duration, want: Duration) -> bool {
    took.abs_diff(want) < Duration::from_millis(5)
}

#[tokio::test(start_paused = true)]
async fn the_throttle_waits_as_long_as_the_speed_says() {
    let b = Bench::new().await;
    let mut spec = b.spec(JobKind::Stream { base: Ref::NULL }).await;
    spec.speed = MIB;
    let (job, mut fake, start) = b.create(spec).await;
    start.bare(&job);
    assert_eq!(b.field(block_job::SPEED, &job), MIB as i64);

    let s = fake.step(Cmd::Throttle(MIB)).await;
    assert!(near(s.took, Duration::from_secs(1)), "{:?}", s.took);

    // Faster: less waiting. (A millisecond between the steps starts a new
    // slice of the limiter.)
    job.set_speed(4 * MIB as i64).unwrap();
    assert_eq!(b.field(block_job::SPEED, &job), 4 * MIB as i64);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let s = fake.step(Cmd::Throttle(MIB)).await;
    assert!(near(s.took, Duration::from_millis(250)), "{:?}", s.took);

    // Slower: more.
    job.set_speed((MIB / 2) as i64).unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let s = fake.step(Cmd::Throttle(MIB)).await;
    assert!(near(s.took, Duration::from_secs(2)), "{:?}", s.took);

    // Unlimited: none.
    job.set_speed(0).unwrap();
    let s = fake.step(Cmd::Throttle(100 * MIB)).await;
    assert_eq!(s.took, Duration::ZERO);

    assert_eq!(job.set_speed(-1).unwrap_err().code, "INVALID_VALUE");
    assert!(fake.step(Cmd::Done).await.result.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_new_speed_cuts_a_wait_short() {
    let b = Bench::new().await;
    let mut spec = b.spec(JobKind::Stream { base: Ref::NULL }).await;
    spec.speed = MIB;
    let (job, mut fake, start) = b.create(spec).await;
    start.bare(&job);
    // Four seconds' worth at this speed...
    fake.send(Cmd::Throttle(4 * MIB));
    until("the throttle", || job.copied.load(Ordering::Relaxed) > 0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // ...but the limit goes, and the wait ends now, not at its old end.
    job.set_speed(0).unwrap();
    let s = fake.next_busy().await;
    assert!(s.result.is_ok());
    assert!(
        s.took >= Duration::from_secs(1) && s.took < Duration::from_millis(1100),
        "{:?}",
        s.took
    );
    assert!(fake.step(Cmd::Done).await.result.is_ok());
}
