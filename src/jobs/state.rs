//! QEMU's job state machine: its 11 states, the transitions between them
//! (`JobSTT` in QEMU's job.c) and which verbs each state accepts
//! (`JobVerbTable`), with the user-pause bookkeeping QEMU keeps beside them.
//!
//! ```text
//! undefined -> created -> running <-> paused          (pause point / resume)
//!                 |  \       |  \
//!                 |   null   |   ready <-> standby     (mirror, active commit)
//!                 |          |     |
//!                 |          v     v
//!                 |         waiting -> pending -> concluded -> null
//!                 |            |          |  (finalize)  ^  (dismiss)
//!                 +----------> aborting <-+--------------+
//! ```
//!
//! Every transition the engine makes goes through [`Status::can_become`];
//! every verb a client sends goes through [`Status::allows`]. A test checks
//! both tables cell by cell against QEMU's.

/// A job's status: QEMU's `JobStatus`, which is the datamodel's
/// `block_job_status` (the generated enum, the same 11 states in QEMU's
/// order), so the registry stores what the engine reasons with.
pub use crate::model::schema::BlockJobStatus as Status;

/// Every status, in QEMU's order (the columns of its tables).
pub const ALL: [Status; 11] = [
    Status::Undefined,
    Status::Created,
    Status::Running,
    Status::Paused,
    Status::Ready,
    Status::Standby,
    Status::Waiting,
    Status::Pending,
    Status::Aborting,
    Status::Concluded,
    Status::Null,
];

/// A command a client sends to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `cancel`
    Cancel,
    /// `pause`
    Pause,
    /// `resume`
    Resume,
    /// `set_speed`
    SetSpeed,
    /// `complete`
    Complete,
    /// `finalize`
    Finalize,
    /// `dismiss`
    Dismiss,
    /// `change` (QEMU 8.2's block-job-change)
    Change,
}

/// Every verb.
pub const VERBS: [Verb; 8] = [
    Verb::Cancel,
    Verb::Pause,
    Verb::Resume,
    Verb::SetSpeed,
    Verb::Complete,
    Verb::Finalize,
    Verb::Dismiss,
    Verb::Change,
];

impl Status {
    fn index(self) -> usize {
        self as usize
    }

    /// Whether QEMU allows the transition `self -> to` (`JobSTT`).
    pub fn can_become(self, to: Status) -> bool {
        TRANSITIONS[self.index()][to.index()]
    }

    /// Whether a job in this status accepts `verb` (`JobVerbTable`).
    pub fn allows(self, verb: Verb) -> bool {
        VERB_TABLE[verb as usize][self.index()]
    }
}

impl Verb {
    /// The name QEMU uses in its error messages.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Cancel => "cancel",
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::SetSpeed => "set-speed",
            Verb::Complete => "complete",
            Verb::Finalize => "finalize",
            Verb::Dismiss => "dismiss",
            Verb::Change => "change",
        }
    }
}

const T: bool = true;
const F: bool = false;

/// `TRANSITIONS[from][to]`, columns U C R P Y S W D X E N.
#[rustfmt::skip]
const TRANSITIONS: [[bool; 11]; 11] = [
    /* U: */ [F, T, F, F, F, F, F, F, F, F, F],
    /* C: */ [F, F, T, F, F, F, F, F, T, F, T],
    /* R: */ [F, F, F, T, T, F, T, F, T, F, F],
    /* P: */ [F, F, T, F, F, F, F, F, F, F, F],
    /* Y: */ [F, F, F, F, F, T, T, F, T, F, F],
    /* S: */ [F, F, F, F, T, F, F, F, F, F, F],
    /* W: */ [F, F, F, F, F, F, F, T, T, F, F],
    /* D: */ [F, F, F, F, F, F, F, F, T, T, F],
    /* X: */ [F, F, F, F, F, F, F, F, T, T, F],
    /* E: */ [F, F, F, F, F, F, F, F, F, F, T],
    /* N: */ [F, F, F, F, F, F, F, F, F, F, F],
];

/// `VERB_TABLE[verb][status]`, columns U C R P Y S W D X E N.
#[rustfmt::skip]
const VERB_TABLE: [[bool; 11]; 8] = [
    /* cancel:    */ [F, T, T, T, T, T, T, T, F, F, F],
    /* pause:     */ [F, T, T, T, T, T, F, F, F, F, F],
    /* resume:    */ [F, T, T, T, T, T, F, F, F, F, F],
    /* set-speed: */ [F, T, T, T, T, T, F, F, F, F, F],
    /* complete:  */ [F, F, F, F, T, T, F, F, F, F, F],
    /* finalize:  */ [F, F, F, F, F, F, F, T, F, F, F],
    /* dismiss:   */ [F, F, F, F, F, F, F, F, F, T, F],
    /* change:    */ [F, T, T, T, T, T, F, F, F, F, F],
];

/// Why a verb or a pause/resume was refused: QEMU's own message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The message QEMU gives for a verb a state does not accept.
pub fn verb_refused(job_id: &str, status: Status, verb: Verb) -> Refused {
    Refused(format!(
        "Job '{job_id}' in state '{status}' cannot accept command verb '{}'",
        verb.name()
    ))
}

/// The status of a job and its pause bookkeeping, as QEMU keeps them: a
/// pause counter that internal pausers nest freely, and one user pause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The current status.
    pub status: Status,
    /// Outstanding pause requests (internal ones and the user's).
    pub pause_count: u32,
    /// Whether the user (or a `stop` error action) paused the job.
    pub user_paused: bool,
}

impl Machine {
    /// A job just created: `created`, paused once until it is started
    /// (QEMU's `job_create` sets `pause_count = 1`).
    pub fn new() -> Machine {
        Machine {
            status: Status::Created,
            pause_count: 1,
            user_paused: false,
        }
    }

    /// Moves to `to`; a transition QEMU's table forbids is a bug in the
    /// engine, reported as an error rather than a panic.
    pub fn transition(&mut self, to: Status) -> Result<(), Refused> {
        if !self.status.can_become(to) {
            return Err(Refused(format!(
                "invalid job transition {} -> {to}",
                self.status
            )));
        }
        self.status = to;
        Ok(())
    }

    /// Checks that the current status accepts `verb`.
    pub fn check_verb(&self, job_id: &str, verb: Verb) -> Result<(), Refused> {
        if self.status.allows(verb) {
            Ok(())
        } else {
            Err(verb_refused(job_id, self.status, verb))
        }
    }

    /// `job_start`: created -> running, dropping the creation pause.
    pub fn start(&mut self) -> Result<(), Refused> {
        self.transition(Status::Running)?;
        self.pause_count = self.pause_count.saturating_sub(1);
        Ok(())
    }

    /// A user's `pause`: QEMU refuses a second one.
    pub fn user_pause(&mut self, job_id: &str) -> Result<(), Refused> {
        self.check_verb(job_id, Verb::Pause)?;
        if self.user_paused {
            return Err(Refused("Job is already paused".into()));
        }
        self.user_paused = true;
        self.pause_count += 1;
        Ok(())
    }

    /// A user's `resume` (also after a `stop` error action).
    pub fn user_resume(&mut self, job_id: &str) -> Result<(), Refused> {
        self.check_verb(job_id, Verb::Resume)?;
        if !self.user_paused {
            return Err(Refused("Can't resume a job that was not paused".into()));
        }
        self.user_paused = false;
        self.pause_count = self.pause_count.saturating_sub(1);
        Ok(())
    }

    /// An internal pauser (a drained section); nests freely.
    pub fn internal_pause(&mut self) {
        self.pause_count += 1;
    }

    /// The end of an internal pause.
    pub fn internal_resume(&mut self) {
        self.pause_count = self.pause_count.saturating_sub(1);
    }

    /// Whether the job should be paused at its next pause point.
    pub fn should_pause(&self) -> bool {
        self.pause_count > 0
    }

    /// At a pause point: running -> paused, ready -> standby when a pause is
    /// outstanding; back when none is. Returns whether the job must wait.
    pub fn pause_point(&mut self) -> bool {
        match (self.status, self.should_pause()) {
            (Status::Running, true) => self.status = Status::Paused,
            (Status::Ready, true) => self.status = Status::Standby,
            (Status::Paused, false) => self.status = Status::Running,
            (Status::Standby, false) => self.status = Status::Ready,
            _ => {}
        }
        matches!(self.status, Status::Paused | Status::Standby)
    }
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's JobSTT, written as in job.c: one row per source status, a 1
    /// where the transition is allowed.
    const QEMU_STT: [(&str, &str); 11] = [
        ("undefined", "0 1 0 0 0 0 0 0 0 0 0"),
        ("created", "0 0 1 0 0 0 0 0 1 0 1"),
        ("running", "0 0 0 1 1 0 1 0 1 0 0"),
        ("paused", "0 0 1 0 0 0 0 0 0 0 0"),
        ("ready", "0 0 0 0 0 1 1 0 1 0 0"),
        ("standby", "0 0 0 0 1 0 0 0 0 0 0"),
        ("waiting", "0 0 0 0 0 0 0 1 1 0 0"),
        ("pending", "0 0 0 0 0 0 0 0 1 1 0"),
        ("aborting", "0 0 0 0 0 0 0 0 1 1 0"),
        ("concluded", "0 0 0 0 0 0 0 0 0 0 1"),
        ("null", "0 0 0 0 0 0 0 0 0 0 0"),
    ];

    /// QEMU's JobVerbTable (recent: complete is allowed in ready and standby).
    const QEMU_VERBS: [(&str, &str); 8] = [
        ("cancel", "0 1 1 1 1 1 1 1 0 0 0"),
        ("pause", "0 1 1 1 1 1 0 0 0 0 0"),
        ("resume", "0 1 1 1 1 1 0 0 0 0 0"),
        ("set-speed", "0 1 1 1 1 1 0 0 0 0 0"),
        ("complete", "0 0 0 0 1 1 0 0 0 0 0"),
        ("finalize", "0 0 0 0 0 0 0 1 0 0 0"),
        ("dismiss", "0 0 0 0 0 0 0 0 0 1 0"),
        ("change", "0 1 1 1 1 1 0 0 0 0 0"),
    ];

    fn bits(s: &str) -> Vec<bool> {
        s.split(' ').map(|b| b == "1").collect()
    }

    #[test]
    fn every_transition_matches_qemu() {
        for (from, row) in QEMU_STT {
            let from = Status::from_name(from).unwrap();
            for (to, allowed) in ALL.iter().zip(bits(row)) {
                assert_eq!(from.can_become(*to), allowed, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn every_state_and_verb_matches_qemu() {
        for (verb, row) in QEMU_VERBS {
            let verb = VERBS.iter().copied().find(|v| v.name() == verb).unwrap();
            for (status, allowed) in ALL.iter().zip(bits(row)) {
                assert_eq!(status.allows(verb), allowed, "{verb:?} in {status}");
                let m = Machine {
                    status: *status,
                    pause_count: 0,
                    user_paused: false,
                };
                let got = m.check_verb("j", verb);
                if allowed {
                    assert!(got.is_ok());
                } else {
                    assert_eq!(
                        got.unwrap_err().0,
                        format!(
                            "Job 'j' in state '{}' cannot accept command verb '{}'",
                            status.name(),
                            verb.name()
                        )
                    );
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(Status::from_name(s.name()), Some(s));
        }
        // The tables are indexed by the enum's order: QEMU's, and the
        // datamodel's, from which the enum is generated.
        assert_eq!(&ALL[..], Status::ALL);
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        assert_eq!(Status::from_name("bogus"), None);
    }

    #[test]
    fn forbidden_transitions_are_errors_not_panics() {
        let mut m = Machine::new();
        assert!(m.transition(Status::Concluded).is_err());
        assert_eq!(m.status, Status::Created);
    }

    #[test]
    fn pauses_nest_and_the_user_pauses_once() {
        let mut m = Machine::new();
        assert!(m.should_pause(), "created jobs are paused until started");
        m.start().unwrap();
        assert!(!m.should_pause());
        m.user_pause("j").unwrap();
        assert_eq!(m.user_pause("j").unwrap_err().0, "Job is already paused");
        m.internal_pause();
        assert!(m.pause_point());
        assert_eq!(m.status, Status::Paused);
        m.user_resume("j").unwrap();
        assert_eq!(
            m.user_resume("j").unwrap_err().0,
            "Can't resume a job that was not paused"
        );
        assert!(m.pause_point(), "the internal pause still holds");
        m.internal_resume();
        assert!(!m.pause_point());
        assert_eq!(m.status, Status::Running);
    }

    #[test]
    fn ready_jobs_stand_by_when_paused() {
        let mut m = Machine::new();
        m.start().unwrap();
        m.transition(Status::Ready).unwrap();
        m.user_pause("j").unwrap();
        assert!(m.pause_point());
        assert_eq!(m.status, Status::Standby);
        assert!(m.check_verb("j", Verb::Complete).is_ok());
        m.user_resume("j").unwrap();
        assert!(!m.pause_point());
        assert_eq!(m.status, Status::Ready);
    }
}
