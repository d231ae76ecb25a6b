//! What the engine's tests share: a real [`Domain`] in a temporary state
//! directory with one SR ([`Bench`]), and a fake [`Work`] that does exactly
//! what the test tells it, one step at a time ([`Fake`]).
//!
//! The fake runs on the job's own thread like any work; the test sends it a
//! [`Cmd`] and gets back how the step went and how long it took on the
//! job's clock. Between steps the work blocks on its channel, so nothing
//! happens that the test did not ask for.

use std::io;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc as tmpsc;

use crate::config::Config;
use crate::domain::vdis::{self, NewVdi};
use crate::domain::{srs, tasks, Domain};
use crate::jobs::clock;
use crate::jobs::copy::with_policy;
use crate::jobs::group::Txn;
use crate::jobs::job::lock;
use crate::jobs::start::{create, run, start_prepared};
use crate::jobs::work::Held;
use crate::jobs::{Effect, Ended, Job, JobError, JobKind, Jobs, Side, Spec};
use crate::model::schema::{block_job, sr, task, vdi, BlockJobStatus, TaskStatusType};
use crate::storage::image::Format;
use crate::wire::Ref;

/// One step of the fake work.
#[derive(Debug)]
pub enum Cmd {
    /// Sets the progress total and moves progress on by `n`.
    Progress {
        /// The total.
        total: u64,
        /// Bytes done in this step.
        n: u64,
    },
    /// `job.throttle(n)`.
    Throttle(u64),
    /// An I/O operation on `side` that fails `fails` times with `errno`,
    /// then succeeds, under the job's error policy.
    Io {
        /// The side that fails.
        side: Side,
        /// The error.
        errno: i32,
        /// How many attempts fail.
        fails: u32,
    },
    /// A pause point.
    PausePoint,
    /// As a mirror: ready, then waits for `complete` (ends `Done`) or a
    /// soft cancel (ends `NoPivot`).
    ReadyUntilComplete,
    /// The work is done.
    Done,
}

/// How a step went.
#[derive(Debug)]
pub struct Step {
    /// Ok, or the work's error as text.
    pub result: Result<(), String>,
    /// How long the step took on the job's clock.
    pub took: Duration,
}

/// What finalization did with the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    /// `commit`, with how the work ended.
    Commit(Ended),
    /// `abort`.
    Abort,
}

/// The test's end of a fake work.
pub struct Fake {
    cmds: mpsc::Sender<Cmd>,
    steps: tmpsc::UnboundedReceiver<Step>,
    /// What finalization did, in order.
    pub finals: Arc<Mutex<Vec<Final>>>,
}

impl Fake {
    /// A fake work and the handle that drives it.
    pub fn new() -> (Fake, FakeWork) {
        let (cmds, rx) = mpsc::channel();
        let (tx, steps) = tmpsc::unbounded_channel();
        let finals = Arc::new(Mutex::new(Vec::new()));
        let work = FakeWork {
            cmds: rx,
            steps: tx,
            finals: finals.clone(),
        };
        (
            Fake {
                cmds,
                steps,
                finals,
            },
            work,
        )
    }

    /// Sends a step without waiting for it (it may block: a pause, a stop).
    pub fn send(&self, cmd: Cmd) {
        self.cmds.send(cmd).expect("the work has ended");
    }

    /// Waits for the next step to end (letting the paused clock jump to
    /// the next timer while nothing else runs).
    pub async fn next(&mut self) -> Step {
        self.steps.recv().await.expect("the work has ended")
    }

    /// Waits for the next step to end without letting the paused clock
    /// move: the test stays busy, so the runtime never idles (a step woken
    /// by a verb, whose old timer must not fire first).
    pub async fn next_busy(&mut self) -> Step {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match self.steps.try_recv() {
                Ok(s) => return s,
                Err(tmpsc::error::TryRecvError::Empty) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "a step that never ends"
                    );
                    tokio::task::yield_now().await;
                }
                Err(e) => panic!("the work has ended: {e}"),
            }
        }
    }

    /// Runs a step and waits for it.
    pub async fn step(&mut self, cmd: Cmd) -> Step {
        self.send(cmd);
        self.next().await
    }

    /// What finalization did.
    pub fn finals(&self) -> Vec<Final> {
        self.finals.lock().unwrap().clone()
    }
}

/// The job's end of a fake work.
pub struct FakeWork {
    cmds: mpsc::Receiver<Cmd>,
    steps: tmpsc::UnboundedSender<Step>,
    finals: Arc<Mutex<Vec<Final>>>,
}

impl FakeWork {
    /// One step: `Some` once the work is over.
    fn exec(&mut self, job: &Job, cmd: Cmd) -> Result<Option<Ended>, JobError> {
        match cmd {
            Cmd::Progress { total, n } => {
                job.set_total(total);
                job.progress(n);
            }
            Cmd::Throttle(n) => job.throttle(n)?,
            Cmd::Io { side, errno, fails } => {
                let mut left = fails;
                with_policy(job, side, || {
                    if left == 0 {
                        return Ok(());
                    }
                    left -= 1;
                    Err(io::Error::from_raw_os_error(errno))
                })?;
            }
            Cmd::PausePoint => job.pause_point()?,
            Cmd::ReadyUntilComplete => {
                job.set_ready();
                loop {
                    if job.complete_requested() {
                        return Ok(Some(Ended::Done));
                    }
                    if job.soft_cancelled() {
                        return Ok(Some(Ended::NoPivot));
                    }
                    // Woken by the verbs long before.
                    job.sleep(Duration::from_secs(3600))?;
                }
            }
            Cmd::Done => return Ok(Some(Ended::Done)),
        }
        Ok(None)
    }
}

impl crate::jobs::Work for FakeWork {
    fn run(&mut self, job: &Job) -> Result<Ended, JobError> {
        loop {
            // The test dropped its end: nothing more will come.
            let Ok(cmd) = self.cmds.recv() else {
                return Err(JobError::Cancelled);
            };
            let t0 = clock::now();
            let out = self.exec(job, cmd);
            let step = Step {
                result: out.as_ref().map(|_| ()).map_err(|e| e.to_string()),
                took: clock::now().duration_since(t0),
            };
            // (A test that stopped listening does not care.)
            let _ = self.steps.send(step);
            match out {
                Ok(None) => continue,
                Ok(Some(ended)) => return Ok(ended),
                Err(e) => return Err(e),
            }
        }
    }

    fn commit(&mut self, ended: Ended) -> io::Result<Vec<Effect>> {
        self.finals.lock().unwrap().push(Final::Commit(ended));
        Ok(Vec::new())
    }

    fn abort(&mut self) {
        self.finals.lock().unwrap().push(Final::Abort);
    }
}

/// A domain of its own in a temporary directory, with one SR, and the job
/// table over it.
pub struct Bench {
    /// The domain.
    pub d: Arc<Domain>,
    /// The jobs.
    pub jobs: Arc<Jobs>,
    /// The SR.
    pub sr: Ref,
    dir: PathBuf,
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.d.shutdown.cancel();
        self.d.registry.close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Bench {
    /// A fresh domain.
    pub async fn new() -> Bench {
        let dir = std::env::temp_dir().join(format!("xapid-jobs-{}", uuid::Uuid::new_v4()));
        let config = Config {
            state_dir: dir.join("state"),
            srs: vec![("test".to_string(), dir.join("sr"))],
            root_password: Some("test".to_string()),
            ..Config::default()
        };
        std::fs::create_dir_all(dir.join("sr")).unwrap();
        let d = Domain::open(config).await.unwrap();
        srs::bootstrap(&d).await.unwrap();
        let sr = d.registry.refs(sr::CLASS)[0];
        let jobs = Jobs::new(d.clone());
        Bench { d, jobs, sr, dir }
    }

    /// A new 1 MiB raw VDI.
    pub async fn vdi(&self) -> Ref {
        let owner = Ref::new();
        let r = vdis::make(
            &self.d,
            self.sr,
            NewVdi {
                fields: self.d.model.default_row(vdi::CLASS),
                format: Format::Raw,
                size: 1 << 20,
                building: owner,
            },
        )
        .await
        .unwrap();
        vdis::commit(&self.d, r).await.unwrap();
        r
    }

    /// A spec of `kind` on a new device VDI (and a new target for backup
    /// and mirror), its own task, cancellable.
    pub async fn spec(&self, kind: JobKind) -> Spec {
        let device = self.vdi().await;
        let target = match kind {
            JobKind::Backup { .. } | JobKind::Mirror { .. } => self.vdi().await,
            _ => Ref::NULL,
        };
        let t = tasks::create_managed(&self.d, "block_job.test", None, "", &[])
            .await
            .unwrap();
        Spec {
            kind,
            device,
            target,
            task: Some(t),
            cancel: Some(tasks::make_cancellable(&self.d, t)),
            ..Spec::default()
        }
    }

    /// Starts a job with a fake work (in `txn`, if any).
    pub async fn start(&self, spec: Spec, txn: Option<Arc<Txn>>) -> (Arc<Job>, Fake) {
        let (fake, work) = Fake::new();
        let held = Held {
            claims: Vec::new(),
            work: Box::new(work),
        };
        let job = start_prepared(&self.jobs, spec, held, true, txn)
            .await
            .unwrap();
        (job, fake)
    }

    /// Creates a job with a fake work without starting it; `go` starts it.
    pub async fn create(&self, spec: Spec) -> (Arc<Job>, Fake, Start) {
        let (fake, work) = Fake::new();
        let job = create(&self.jobs, &spec, true, None).await.unwrap();
        let held = Held {
            claims: Vec::new(),
            work: Box::new(work),
        };
        (job, fake, Start(held, spec.cancel, self.jobs.clone()))
    }

    /// The job's status in the registry (`null` once its object is gone).
    pub fn status(&self, job: &Job) -> BlockJobStatus {
        self.d
            .registry
            .get_field(block_job::STATUS, job.r)
            .unwrap_or(BlockJobStatus::Null)
    }

    /// A field of the job's object.
    pub fn field<T: crate::model::FieldValue>(
        &self,
        f: crate::model::field::Field<T>,
        job: &Job,
    ) -> T {
        self.d.registry.get_field(f, job.r).unwrap()
    }

    /// The status of the job's task.
    pub fn task_status(&self, job: &Job) -> TaskStatusType {
        self.d.registry.get_field(task::STATUS, job.task).unwrap()
    }

    /// The progress of the job's task.
    pub fn task_progress(&self, job: &Job) -> f64 {
        self.d.registry.get_field(task::PROGRESS, job.task).unwrap()
    }

    /// The error of the job's task.
    pub fn task_error(&self, job: &Job) -> Vec<String> {
        self.d
            .registry
            .get_field(task::ERROR_INFO, job.task)
            .unwrap()
    }

    /// Waits (on the paused clock, with a real-time bound) until the job
    /// has `status`.
    pub async fn until_status(&self, job: &Job, status: BlockJobStatus) {
        until(&format!("{} to be {status}", job.id), || {
            self.status(job) == status
        })
        .await;
    }
}

/// A created job's start.
pub struct Start(Held, Option<tokio_util::sync::CancellationToken>, Arc<Jobs>);

impl Start {
    /// Starts the job.
    pub async fn go(self, job: &Arc<Job>) {
        run(&self.2, job, self.0, self.1).await;
    }

    /// Runs the work on a thread of its own without a coordinator (no
    /// progress ticks: the paused clock only moves to the work's own
    /// timers, so the work's clock readings are exact).
    pub fn bare(self, job: &Arc<Job>) {
        lock(&job.ctl).m.start().unwrap();
        let (job, mut work) = (job.clone(), self.0.work);
        let rt = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            let _rt = rt.enter();
            // (The test reads the steps; the end is of no interest.)
            let _ = work.run(&job);
        });
    }
}

/// Waits until `ready()` holds: the paused clock moves on by 1 ms each
/// time (which lets the coordinators tick), and ten real seconds end it.
pub async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
