//! xapid's block-job commands: `block-job-list` with virsh-like lines
//! (`Block Copy: [ 42.13 %]`, `Bandwidth limit: ...`), starting jobs
//! (`-backup`, `-mirror`, `-stream`, `-commit`, following them with a bar
//! on `progress=true`) and their verbs (`-pause`, `-resume`, `-cancel`,
//! `-complete`, `-set-speed`, `-finalize`, `-dismiss`).

use xapid::wire::Value;

use crate::commands::{self, Ctx, Res};
use crate::connection::value_text;
use crate::errors::XeError;
use crate::ops::parse_size;
use crate::records::{self, class};

/// virsh's label of a job type.
pub fn label(kind: &str, active: bool) -> &'static str {
    match kind {
        "stream" => "Block Pull",
        "mirror" => "Block Copy",
        "commit" if active => "Active Block Commit",
        "commit" => "Block Commit",
        "backup" => "Backup",
        _ => "Block Job",
    }
}

/// virsh's percentage: `100 - remaining*100/total`, held at 99.99 until
/// the job is really done.
pub fn percent(cur: i64, total: i64, done: bool) -> f64 {
    if done {
        return 100.0;
    }
    if total <= 0 {
        return 0.0;
    }
    let remaining = (total - cur).max(0) as f64;
    let p = 100.0 - remaining * 100.0 / total as f64;
    p.min(99.99)
}

/// virsh's unit for a bandwidth (`8.000 MiB`).
pub fn pretty(bytes: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes.max(0) as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.3} {}", units[u])
}

/// `block-job-list`: without `params=` (or `--minimal`), a virsh-like
/// block per job; otherwise records.
pub fn list(ctx: &mut Ctx) -> Res {
    let def = class("block-job").expect("block-job class");
    if ctx.opts.minimal || ctx.opts.param("params").is_some() {
        return commands::list(ctx, def, &[]);
    }
    let all = ctx.call("block_job.get_all_records", vec![])?;
    let Value::Struct(jobs) = all else {
        return Ok(());
    };
    let mut out = String::new();
    for (r, j) in &jobs {
        ctx.res.seed(r, j);
        let t = |k: &str| j.member(k).map(value_text).unwrap_or_default();
        let n = |k: &str| t(k).parse::<i64>().unwrap_or(0);
        let status = t("status");
        let done = matches!(status.as_str(), "concluded" | "null") && t("error").is_empty();
        let dev = t("device");
        let (dev_uuid, dev_name) = ctx
            .res
            .lookup(&mut ctx.conn, &ctx.session, "VDI", &dev)
            .unwrap_or_else(|| (records::NID.into(), records::NID.into()));
        let active = t("type") == "commit" && t("ready") == "true";
        out.push_str(&format!(
            "{} ({} of {dev_name} {dev_uuid}, {status})\n",
            t("uuid"),
            t("type")
        ));
        out.push_str(&format!(
            "{}: [{:>6.2} %]\n",
            label(&t("type"), active),
            percent(n("current_progress"), n("total_progress"), done)
        ));
        let speed = n("speed");
        if speed > 0 {
            out.push_str(&format!(
                "    Bandwidth limit: {speed} bytes/s ({}/s)\n",
                pretty(speed)
            ));
        }
        out.push_str(&format!(
            "    Rate: {} bytes/s ({}/s)\n",
            n("rate"),
            pretty(n("rate"))
        ));
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

/// The options map of a job start: `speed=`, `job-id=`, `sync=`,
/// `auto-finalize=`, `auto-dismiss=`, `on-source-error=`,
/// `on-target-error=`, `on-error=`, `granularity=`, and any `options:K=V`.
fn job_options(ctx: &mut Ctx) -> Result<Vec<(String, Value)>, XeError> {
    let mut o = Vec::new();
    for (k, v) in ctx.opts.params.clone() {
        let key = match k.as_str() {
            "speed" => {
                let s = parse_size(&v).ok_or_else(|| {
                    XeError::Call(records::failure("Parameter speed must be an integer"))
                })?;
                o.push(("speed".into(), Value::from(s.to_string())));
                continue;
            }
            "job-id" | "sync" | "auto-finalize" | "auto-dismiss" | "on-source-error"
            | "on-target-error" | "on-error" | "granularity" => k.replace('-', "_"),
            "base-uuid" | "top-uuid" => {
                let r = ctx.by_uuid("VDI", &k)?;
                o.push((k.trim_end_matches("-uuid").to_string(), Value::from(r)));
                continue;
            }
            _ => match k.strip_prefix("options:") {
                Some(x) => x.to_string(),
                None => continue,
            },
        };
        o.push((key, Value::from(v)));
    }
    Ok(o)
}

/// Prints the job's uuid, or with `progress=true` (or `wait=true`)
/// follows its task to the end first.
fn started(ctx: &mut Ctx, job: &str) -> Res {
    let u = ctx.uuid_of("block_job", job)?;
    if ctx.opts.flag("progress") || ctx.opts.flag("wait") {
        let task = ctx.call_text("block_job.get_task", vec![Value::from(job)])?;
        let show = ctx.interactive();
        let end = crate::progress::follow(&mut ctx.conn, &ctx.session, &task, show)?;
        if end.status != "success" {
            return Err(XeError::Call(crate::connection::CallError::Api(
                end.error_info,
            )));
        }
    }
    ctx.print_value(&u);
    Ok(())
}

/// `block-job-backup device-uuid= target-uuid= [sync=] [speed=] ...`.
pub fn backup(ctx: &mut Ctx) -> Res {
    start2(ctx, "block_job.backup")
}

/// `block-job-mirror device-uuid= target-uuid= [sync=] [speed=] ...`.
pub fn mirror(ctx: &mut Ctx) -> Res {
    start2(ctx, "block_job.mirror")
}

fn start2(ctx: &mut Ctx, method: &str) -> Res {
    let dev = ctx.by_uuid("VDI", "device-uuid")?;
    let target = ctx.by_uuid("VDI", "target-uuid")?;
    let o = job_options(ctx)?;
    let job = ctx.call_text(
        method,
        vec![Value::from(dev), Value::from(target), Value::Struct(o)],
    )?;
    started(ctx, &job)
}

/// `block-job-stream device-uuid= [base-uuid=] [speed=] ...`.
pub fn stream(ctx: &mut Ctx) -> Res {
    start1(ctx, "block_job.stream")
}

/// `block-job-commit device-uuid= [top-uuid=] [base-uuid=] [speed=] ...`.
pub fn commit(ctx: &mut Ctx) -> Res {
    start1(ctx, "block_job.commit")
}

fn start1(ctx: &mut Ctx, method: &str) -> Res {
    let dev = ctx.by_uuid("VDI", "device-uuid")?;
    let o = job_options(ctx)?;
    let job = ctx.call_text(method, vec![Value::from(dev), Value::Struct(o)])?;
    started(ctx, &job)
}

/// A verb on the job `uuid=`: `pause`, `resume`, `complete`, `finalize`,
/// `dismiss`, `cancel` (`force=true`), `set-speed` (`speed=`).
pub fn verb(ctx: &mut Ctx, verb: &str) -> Res {
    let job = ctx.by_uuid("block_job", "uuid")?;
    let mut params = vec![Value::from(job)];
    match verb {
        "cancel" => params.push(Value::Bool(ctx.opts.flag("force"))),
        "set_speed" => {
            let s = ctx.need("speed")?;
            let s = parse_size(&s).ok_or_else(|| {
                XeError::Call(records::failure("Parameter speed must be an integer"))
            })?;
            params.push(Value::from(s.to_string()));
        }
        _ => {}
    }
    ctx.call(&format!("block_job.{verb}"), params)?;
    Ok(())
}
