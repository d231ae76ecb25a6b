//! `vdi-import` and `vdi-export`: the VDI's bytes over xapid's HTTP data
//! paths (`PUT /import_raw_vdi`, `GET /export_raw_vdi`), tracked by a task
//! the command creates, with a progress bar (`progress=true`, on a
//! terminal) of the bytes moved.

use std::io::{Read, Write};
use std::time::Instant;

use xapid::wire::Value;

use crate::commands::{Ctx, Res};
use crate::connection::CallError;
use crate::errors::XeError;
use crate::progress::{self, bar_line, Bars};
use crate::records;

/// The bar of a transfer: bytes done of `total`, rate and ETA measured
/// here.
struct Meter {
    show: bool,
    bars: Bars,
    total: u64,
    started: Instant,
    last: Option<Instant>,
}

impl Meter {
    fn new(show: bool, total: u64) -> Meter {
        if show {
            progress::catch_ctrl_c();
        }
        Meter {
            show,
            bars: Bars::new(),
            total,
            started: Instant::now(),
            last: None,
        }
    }

    fn update(&mut self, done: u64, force: bool) {
        if !self.show {
            return;
        }
        if !force && self.last.is_some_and(|l| l.elapsed().as_millis() < 100) {
            return;
        }
        self.last = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = (done as f64 / secs) as i64;
        let p = if self.total == 0 {
            1.0
        } else {
            done as f64 / self.total as f64
        };
        let eta = (rate > 0).then(|| (self.total.saturating_sub(done) as f64 / rate as f64) as i64);
        let spin = self.bars.spinner();
        let w = 80;
        self.bars.draw(&[bar_line(w, spin, "", p, Some(rate), eta)]);
    }

    fn finish(&mut self) {
        if self.show {
            self.update(self.total, true);
            self.bars.finish();
        }
    }
}

/// Whether the user pressed Ctrl-C and chose to cancel.
fn cancelled(show: bool) -> bool {
    show && progress::take_interrupt() && progress::ask_cancel("the transfer")
}

fn check_format(ctx: &Ctx) -> Res {
    match ctx.opts.param("format") {
        None | Some("raw") => Ok(()),
        Some(f) => Err(XeError::Call(records::failure(&format!(
            "format {f} is not supported by xapid (raw only)"
        )))),
    }
}

/// A refusal's body (`CODE param...`, joined by spaces) as an API error:
/// a known error's last parameter takes the rest of the words.
fn refusal(status: u16, body: &str) -> XeError {
    let words: Vec<&str> = body.split_whitespace().collect();
    let desc = match words.split_first() {
        Some((code, rest)) if code.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
            let n = crate::errors::param_count(code).unwrap_or(rest.len());
            let mut d = vec![code.to_string()];
            if n > 0 && rest.len() > n {
                d.extend(rest[..n - 1].iter().map(|w| w.to_string()));
                d.push(rest[n - 1..].join(" "));
            } else {
                d.extend(rest.iter().map(|w| w.to_string()));
            }
            d
        }
        _ => vec![
            "INTERNAL_ERROR".into(),
            format!("HTTP {status}: {}", body.trim()),
        ],
    };
    XeError::Call(CallError::Api(desc))
}

fn begin(ctx: &mut Ctx, what: &str) -> Result<(String, String, String), XeError> {
    check_format(ctx)?;
    let vdi = ctx.by_uuid("VDI", "uuid")?;
    let uuid = ctx.need("uuid")?;
    let task = ctx.call_text("task.create", vec![Value::from(what), Value::from(uuid)])?;
    Ok((vdi, task, ctx.session.clone()))
}

fn end_task(ctx: &mut Ctx, task: &str) {
    let _ = ctx.call("task.destroy", vec![Value::from(task)]);
}

/// `vdi-import uuid= filename= [format=raw] [progress=true]`.
pub fn vdi_import(ctx: &mut Ctx) -> Res {
    let filename = ctx.need("filename")?;
    let mut file = std::fs::File::open(&filename)
        .map_err(|e| XeError::Message(format!("Error: cannot open {filename}: {e}")))?;
    let len = file.metadata()?.len();
    let (vdi, task, session) = begin(ctx, "VDI import")?;
    let show = ctx.opts.flag("progress") && ctx.interactive();
    let mut meter = Meter::new(show, len);
    let path = format!("/import_raw_vdi?session_id={session}&vdi={vdi}&task_id={task}");
    let mut stop = false;
    let r = ctx.conn.put(&path, len, &mut file, &mut |done| {
        meter.update(done, false);
        if cancelled(show) {
            stop = true;
            return false;
        }
        true
    });
    if stop {
        let _ = ctx.call("task.cancel", vec![Value::from(task.as_str())]);
        end_task(ctx, &task);
        return Err(XeError::Message("Import cancelled".into()));
    }
    let r = r.map_err(XeError::Call);
    end_task(ctx, &task);
    let (head, body) = r?;
    if head.status / 100 != 2 {
        return Err(refusal(head.status, &body));
    }
    meter.finish();
    Ok(())
}

/// `vdi-export uuid= filename= [format=raw] [progress=true]`.
pub fn vdi_export(ctx: &mut Ctx) -> Res {
    let filename = ctx.need("filename")?;
    let (vdi, task, session) = begin(ctx, "VDI export")?;
    let show = ctx.opts.flag("progress") && ctx.interactive();
    let path = format!("/export_raw_vdi?session_id={session}&vdi={vdi}&task_id={task}");
    let r = (|| -> Result<(), XeError> {
        let (head, mut body) = ctx.conn.get(&path)?;
        if head.status / 100 != 2 {
            let mut text = String::new();
            let _ = body.read_to_string(&mut text);
            return Err(refusal(head.status, &text));
        }
        let total = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut out = std::fs::File::create(&filename)
            .map_err(|e| XeError::Message(format!("Error: cannot create {filename}: {e}")))?;
        let mut meter = Meter::new(show, total);
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        loop {
            let n = body.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            done += n as u64;
            meter.update(done, false);
            if cancelled(show) {
                return Err(XeError::Message("Export cancelled".into()));
            }
        }
        if total > 0 && done != total {
            return Err(XeError::Message(format!(
                "Error: the export ended after {done} of {total} bytes"
            )));
        }
        out.flush()?;
        meter.finish();
        Ok(())
    })();
    if r.is_err() {
        ctx.conn.reset();
        let _ = ctx.call("task.cancel", vec![Value::from(task.as_str())]);
    }
    end_task(ctx, &task);
    r
}
