//! Following a task to its end, and the live progress bar of long
//! operations on a terminal.
//!
//! A thread watches the task, its subtasks and their block jobs with
//! `event.from` (30-second waits, woken by every change: no polling) and
//! sends each new state to the main thread, which draws the bars on
//! stderr: percentage, bytes/s (`block_job.rate`), ETA (`task.eta`), and a
//! nested bar per subtask (`vm-copy`). Ctrl-C asks whether to cancel the
//! task. Without a terminal, or with `--minimal`, nothing is drawn.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use xapid::wire::Value;

use crate::connection::{value_text, CallError, Conn, Target};

/// A task as the bar needs it.
#[derive(Clone, Debug, Default)]
pub struct TaskView {
    /// `name_label`.
    pub label: String,
    /// `status`.
    pub status: String,
    /// `progress`, 0..1.
    pub progress: f64,
    /// `eta` (seconds since the epoch; 0 when unknown).
    pub eta: i64,
    /// `result` (an XML-RPC value fragment).
    pub result: String,
    /// `error_info`.
    pub error_info: Vec<String>,
    /// `other_config:block_job`.
    pub job: Option<String>,
    /// `subtasks`.
    pub subtasks: Vec<String>,
}

impl TaskView {
    fn from_record(rec: &Value) -> TaskView {
        let strs = |k: &str| match rec.member(k) {
            Some(Value::Array(a)) => a.iter().map(value_text).collect(),
            _ => Vec::new(),
        };
        TaskView {
            label: rec.member("name_label").map(value_text).unwrap_or_default(),
            status: rec.member("status").map(value_text).unwrap_or_default(),
            progress: match rec.member("progress") {
                Some(Value::Double(d)) => *d,
                Some(v) => value_text(v).parse().unwrap_or(0.0),
                None => 0.0,
            },
            eta: match rec.member("eta") {
                Some(Value::DateTime(d)) => d.0,
                _ => 0,
            },
            result: rec.member("result").map(value_text).unwrap_or_default(),
            error_info: strs("error_info"),
            job: rec
                .member("other_config")
                .and_then(|m| m.map_get("block_job"))
                .filter(|r| !r.is_empty() && *r != "OpaqueRef:NULL")
                .map(str::to_string),
            subtasks: strs("subtasks"),
        }
    }

    /// Whether the task has ended.
    pub fn done(&self) -> bool {
        matches!(self.status.as_str(), "success" | "failure" | "cancelled")
    }
}

/// What the watcher knows: tasks and job rates by ref.
#[derive(Clone, Debug, Default)]
struct State {
    tasks: HashMap<String, TaskView>,
    rates: HashMap<String, i64>,
}

/// The watcher: follows `task` and what hangs off it.
fn watch(
    target: Target,
    session: String,
    task: String,
    tx: mpsc::Sender<Result<State, CallError>>,
) {
    let mut conn = Conn::new(target);
    let mut st = State::default();
    let s = Value::from(session.as_str());
    let r = (|| -> Result<(), CallError> {
        'restart: loop {
            // The task's own record and a token to follow from.
            let first = conn.call(
                "event.from",
                &[
                    s.clone(),
                    Value::Array(vec![Value::from(format!("task/{task}"))]),
                    Value::from(""),
                    Value::Double(0.0),
                ],
            )?;
            let mut token = first.member("token").map(value_text).unwrap_or_default();
            apply(&mut st, &first);
            if !st.tasks.contains_key(&task) {
                // Not a task we can see: let the server say why.
                let rec = conn.call("task.get_record", &[s.clone(), Value::from(task.as_str())])?;
                st.tasks.insert(task.clone(), TaskView::from_record(&rec));
            }
            loop {
                fill(&mut conn, &s, &mut st)?;
                if tx.send(Ok(st.clone())).is_err() {
                    return Ok(());
                }
                if st.tasks.get(&task).is_some_and(TaskView::done) {
                    return Ok(());
                }
                let batch = conn.call(
                    "event.from",
                    &[
                        s.clone(),
                        Value::Array(vec![Value::from("task"), Value::from("block_job")]),
                        Value::from(token.as_str()),
                        Value::Double(30.0),
                    ],
                );
                let batch = match batch {
                    Err(CallError::Api(e))
                        if e.first().map(String::as_str) == Some("EVENTS_LOST") =>
                    {
                        continue 'restart;
                    }
                    b => b?,
                };
                token = batch.member("token").map(value_text).unwrap_or(token);
                apply(&mut st, &batch);
            }
        }
    })();
    if let Err(e) = r {
        let _ = tx.send(Err(e));
    }
}

/// Applies a batch of events to what we follow.
fn apply(st: &mut State, batch: &Value) {
    let Some(Value::Array(events)) = batch.member("events") else {
        return;
    };
    for ev in events {
        let class = ev.member("class").map(value_text).unwrap_or_default();
        let r = ev.member("ref").map(value_text).unwrap_or_default();
        let Some(snap) = ev.member("snapshot") else {
            continue;
        };
        match class.as_str() {
            "task" if st.tasks.contains_key(&r) || st.tasks.is_empty() => {
                st.tasks.insert(r, TaskView::from_record(snap));
            }
            "block_job" if st.rates.contains_key(&r) => {
                let rate = snap
                    .member("rate")
                    .map(value_text)
                    .and_then(|v| v.parse().ok());
                st.rates.insert(r, rate.unwrap_or(0));
            }
            _ => {}
        }
    }
}

/// Fetches subtasks and jobs seen for the first time.
fn fill(conn: &mut Conn, s: &Value, st: &mut State) -> Result<(), CallError> {
    let subs: Vec<String> = st
        .tasks
        .values()
        .flat_map(|t| t.subtasks.clone())
        .filter(|r| !st.tasks.contains_key(r))
        .collect();
    for r in subs {
        if let Ok(rec) = conn.call("task.get_record", &[s.clone(), Value::from(r.as_str())]) {
            st.tasks.insert(r, TaskView::from_record(&rec));
        }
    }
    let jobs: Vec<String> = st
        .tasks
        .values()
        .filter_map(|t| t.job.clone())
        .filter(|j| !st.rates.contains_key(j))
        .collect();
    for j in jobs {
        let rate = conn
            .call("block_job.get_rate", &[s.clone(), Value::from(j.as_str())])
            .ok()
            .and_then(|v| value_text(&v).parse().ok())
            .unwrap_or(0);
        st.rates.insert(j, rate);
    }
    Ok(())
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches Ctrl-C (SIGINT) from now on: it sets a flag instead of ending
/// the process.
pub fn catch_ctrl_c() {
    // SAFETY: installs an async-signal-safe handler (one atomic store);
    // the struct is zeroed and then filled as sigaction(2) requires.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

/// Whether Ctrl-C was pressed since the last call (and clears it).
pub fn take_interrupt() -> bool {
    INTERRUPTED.swap(false, Ordering::SeqCst)
}

/// Asks on the terminal whether to cancel; true for yes.
pub fn ask_cancel(what: &str) -> bool {
    eprint!("\nCancel {what}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let tty = std::fs::File::open("/dev/tty");
    let ok = match tty {
        Ok(f) => std::io::BufReader::new(f).read_line(&mut line).is_ok(),
        Err(_) => std::io::stdin().lock().read_line(&mut line).is_ok(),
    };
    ok && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Whether to draw: stderr is a terminal and `--minimal` was not given.
pub fn interactive(minimal: bool) -> bool {
    !minimal && std::io::stderr().is_terminal()
}

/// The terminal's width (80 when unknown), at most 120.
fn width() -> usize {
    // SAFETY: TIOCGWINSZ fills the winsize struct we pass; on failure it is
    // left zeroed and we fall back to 80.
    let cols = unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) == 0 {
            ws.ws_col as usize
        } else {
            0
        }
    };
    if cols < 40 {
        80
    } else {
        cols.min(120)
    }
}

/// `HH:MM:SS` (as xe's progress bar), `++:++:++` when too long.
pub fn hms(secs: i64) -> String {
    if secs < 0 {
        return "--:--:--".into();
    }
    let s = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if s.len() > 8 {
        "++:++:++".into()
    } else {
        s
    }
}

/// Bytes per second, human-readable (`12.3 MiB/s`).
pub fn rate_text(bps: i64) -> String {
    let b = bps.max(0) as f64;
    let units = ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", units[u])
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// One bar line: `[|] #####>      ( 42%  12.3 MiB/s ETA 00:01:23)`, with
/// `indent` and `label` before it.
pub fn bar_line(
    width: usize,
    spin: char,
    label: &str,
    progress: f64,
    rate: Option<i64>,
    eta: Option<i64>,
) -> String {
    let pct = (progress.clamp(0.0, 1.0) * 100.0).floor() as i64;
    let rate = rate.map(rate_text).unwrap_or_default();
    let eta = eta.map(hms).unwrap_or_else(|| "--:--:--".into());
    let suffix = format!(" ({pct:>3}% {rate:>11} ETA {eta})");
    let prefix = if label.is_empty() {
        format!("[{spin}] ")
    } else {
        let l: String = label.chars().take(24).collect();
        format!("    {l:<24} ")
    };
    let room = width
        .saturating_sub(prefix.len() + suffix.len() + 1)
        .max(10);
    let fill = ((progress.clamp(0.0, 1.0)) * room as f64).floor() as usize;
    let mut bar = String::with_capacity(room);
    for i in 0..room {
        bar.push(if i + 1 < fill {
            '#'
        } else if i + 1 == fill {
            '>'
        } else {
            ' '
        });
    }
    format!("{prefix}{bar}{suffix}")
}

/// Draws bars in place on stderr.
pub struct Bars {
    lines: usize,
    spin: usize,
    started: Instant,
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Bars {
    /// Nothing drawn yet.
    pub fn new() -> Bars {
        Bars {
            lines: 0,
            spin: 0,
            started: Instant::now(),
        }
    }

    /// Replaces what was drawn with `lines`.
    pub fn draw(&mut self, lines: &[String]) {
        let mut out = String::new();
        if self.lines > 0 {
            out.push_str(&format!("\x1b[{}A", self.lines));
        }
        for l in lines {
            out.push_str("\r\x1b[2K");
            out.push_str(l);
            out.push('\n');
        }
        self.lines = lines.len();
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(out.as_bytes());
        let _ = e.flush();
    }

    /// The next spinner character (`|/-\`).
    pub fn spinner(&mut self) -> char {
        self.spin = (self.spin + 1) % 4;
        ['|', '/', '-', '\\'][self.spin]
    }

    /// Prints `Total time: HH:MM:SS`.
    pub fn finish(&mut self) {
        eprintln!(
            "Total time: {}",
            hms(self.started.elapsed().as_secs() as i64)
        );
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn render(bars: &mut Bars, st: &State, task: &str, force_done: bool) -> Vec<String> {
    let w = width();
    let spin = bars.spinner();
    let Some(t) = st.tasks.get(task) else {
        return vec![bar_line(w, spin, "", 0.0, None, None)];
    };
    let rate_of = |t: &TaskView| t.job.as_ref().and_then(|j| st.rates.get(j)).copied();
    let eta_of = |t: &TaskView| {
        if t.done() {
            Some(0)
        } else if t.eta > 0 {
            Some((t.eta - now_secs()).max(0))
        } else {
            None
        }
    };
    let subs: Vec<&TaskView> = t.subtasks.iter().filter_map(|r| st.tasks.get(r)).collect();
    let mut rate = rate_of(t);
    if rate.is_none() && !subs.is_empty() {
        let pending: Vec<i64> = subs
            .iter()
            .filter(|s| !s.done())
            .filter_map(|s| rate_of(s))
            .collect();
        rate = Some(pending.iter().sum());
    }
    let p = if force_done { 1.0 } else { t.progress };
    let mut lines = vec![bar_line(
        w,
        spin,
        "",
        p,
        rate,
        if force_done { Some(0) } else { eta_of(t) },
    )];
    for s in subs {
        let p = if force_done { 1.0 } else { s.progress };
        lines.push(bar_line(w, spin, &s.label, p, rate_of(s), eta_of(s)));
    }
    lines
}

/// Follows `task` to its end (drawing bars when `show`); its final view.
/// Ctrl-C (when `show`) asks whether to cancel it.
pub fn follow(
    conn: &mut Conn,
    session: &str,
    task: &str,
    show: bool,
) -> Result<TaskView, CallError> {
    let (tx, rx) = mpsc::channel();
    let target = conn.target().clone();
    let (s2, t2) = (session.to_string(), task.to_string());
    std::thread::spawn(move || watch(target, s2, t2, tx));
    if show {
        catch_ctrl_c();
    }
    let mut bars = Bars::new();
    let mut last = State::default();
    loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(Ok(st)) => last = st,
            Ok(Err(e)) => return Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(CallError::Connect("Lost connection to the server.".into()))
            }
        }
        let view = last.tasks.get(task).cloned();
        if let Some(v) = view.as_ref().filter(|v| v.done()) {
            if show {
                let lines = render(&mut bars, &last, task, v.status == "success");
                bars.draw(&lines);
                bars.finish();
            }
            return Ok(v.clone());
        }
        if show {
            if take_interrupt() {
                if ask_cancel("the task") {
                    conn.call("task.cancel", &[Value::from(session), Value::from(task)])?;
                }
                bars.lines = 0;
            }
            let lines = render(&mut bars, &last, task, false);
            bars.draw(&lines);
        }
    }
}
