//! The commands beyond the generic ones: tasks, SRs, VDIs (create, copy,
//! clone, snapshot, resize, CBT), VMs (clone, copy), users and roles, and
//! `event-wait`.

use xapid::wire::Value;

use crate::commands::{Ctx, Res};
use crate::connection::{value_text, CallError};
use crate::errors::XeError;
use crate::records::{self, class};

/// A size with xe's suffixes (`10GiB`, `512MiB`, `1G`, `1000KB`).
pub fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    let m: i64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    };
    n.checked_mul(m)
}

fn size_param(ctx: &Ctx, k: &str) -> Result<i64, XeError> {
    let v = ctx.need(k)?;
    parse_size(&v).ok_or_else(|| {
        XeError::Call(records::failure(&format!(
            "Parameter {k} must be an integer"
        )))
    })
}

/// Calls `method` on the object of `class` named by `uuid=`; prints
/// nothing (xe's commands that only act).
fn on_uuid(ctx: &mut Ctx, class: &str, method: &str) -> Res {
    let r = ctx.by_uuid(class, "uuid")?;
    ctx.call(method, vec![Value::from(r)])?;
    Ok(())
}

/// `task-cancel uuid=`: asks the task to stop; prints nothing.
pub fn task_cancel(ctx: &mut Ctx) -> Res {
    on_uuid(ctx, "task", "task.cancel")
}

/// `sr-scan uuid=`.
pub fn sr_scan(ctx: &mut Ctx) -> Res {
    on_uuid(ctx, "SR", "SR.scan")
}

/// `vdi-create sr-uuid= name-label= virtual-size= [type=] [sharable=]
/// [read-only=] [name-description=] [sm-config:K=V...]
/// [other-config:K=V...]`: prints the new VDI's uuid.
pub fn vdi_create(ctx: &mut Ctx) -> Res {
    let sr = ctx.by_uuid("SR", "sr-uuid")?;
    let name = ctx.need("name-label")?;
    let size = size_param(ctx, "virtual-size")?;
    let mut sm = Vec::new();
    let mut oc = Vec::new();
    for (k, v) in &ctx.opts.params {
        if let Some(key) = k.strip_prefix("sm-config:") {
            sm.push((key.to_string(), Value::from(v.as_str())));
        } else if let Some(key) = k.strip_prefix("other-config:") {
            oc.push((key.to_string(), Value::from(v.as_str())));
        }
    }
    if let Some(f) = ctx.opt("format") {
        sm.push(("image-format".to_string(), Value::from(f)));
    }
    let b = |k: &str| ctx.opts.param(k).is_some_and(|v| v == "true");
    let rec = Value::Struct(vec![
        ("name_label".into(), Value::from(name)),
        (
            "name_description".into(),
            Value::from(ctx.opt("name-description").unwrap_or_default()),
        ),
        ("SR".into(), Value::from(sr)),
        ("virtual_size".into(), Value::from(size.to_string())),
        (
            "type".into(),
            Value::from(ctx.opt("type").unwrap_or_else(|| "user".into())),
        ),
        ("sharable".into(), Value::Bool(b("sharable"))),
        ("read_only".into(), Value::Bool(b("read-only"))),
        ("other_config".into(), Value::Struct(oc)),
        ("sm_config".into(), Value::Struct(sm)),
    ]);
    let vdi = ctx.call_text("VDI.create", vec![rec])?;
    let u = ctx.uuid_of("VDI", &vdi)?;
    ctx.print_value(&u);
    Ok(())
}

/// `vdi-destroy uuid=`.
pub fn vdi_destroy(ctx: &mut Ctx) -> Res {
    on_uuid(ctx, "VDI", "VDI.destroy")
}

/// Prints the uuid of the VDI (or VM) ref a finished task returned.
fn print_new(ctx: &mut Ctx, api: &str, r: &str) -> Res {
    let u = ctx.uuid_of(api, r)?;
    ctx.print_value(&u);
    Ok(())
}

/// `vdi-copy uuid= sr-uuid=`: a full copy (with a progress bar on a
/// terminal); prints the new VDI's uuid.
pub fn vdi_copy(ctx: &mut Ctx) -> Res {
    if ctx.opts.param("into-vdi-uuid").is_some() || ctx.opts.param("base-vdi-uuid").is_some() {
        return Err(XeError::Call(records::failure(
            "into-vdi-uuid and base-vdi-uuid are not supported by xapid (use block-job-backup)",
        )));
    }
    let v = ctx.by_uuid("VDI", "uuid")?;
    let sr = ctx.by_uuid("SR", "sr-uuid")?;
    let new = ctx.run_async("VDI.copy", vec![Value::from(v), Value::from(sr)])?;
    print_new(ctx, "VDI", &new)
}

/// Sets the name (and description) of a new object when asked to.
fn name_new(ctx: &mut Ctx, api: &str, r: &str) -> Res {
    if let Some(n) = ctx.opt("new-name-label") {
        ctx.call(
            &format!("{api}.set_name_label"),
            vec![Value::from(r), Value::from(n)],
        )?;
    }
    if let Some(d) = ctx.opt("new-name-description") {
        ctx.call(
            &format!("{api}.set_name_description"),
            vec![Value::from(r), Value::from(d)],
        )?;
    }
    Ok(())
}

fn driver_params(ctx: &Ctx) -> Value {
    Value::Struct(
        ctx.opts
            .params
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("driver-params:")
                    .map(|k| (k.to_string(), Value::from(v.as_str())))
            })
            .collect(),
    )
}

/// `vdi-clone uuid= [new-name-label=] [new-name-description=]`.
pub fn vdi_clone(ctx: &mut Ctx) -> Res {
    let v = ctx.by_uuid("VDI", "uuid")?;
    let dp = driver_params(ctx);
    let new = ctx.run_async("VDI.clone", vec![Value::from(v), dp])?;
    name_new(ctx, "VDI", &new)?;
    print_new(ctx, "VDI", &new)
}

/// `vdi-snapshot uuid= [new-name-label=]`.
pub fn vdi_snapshot(ctx: &mut Ctx) -> Res {
    let v = ctx.by_uuid("VDI", "uuid")?;
    let dp = driver_params(ctx);
    let new = ctx.run_async("VDI.snapshot", vec![Value::from(v), dp])?;
    name_new(ctx, "VDI", &new)?;
    print_new(ctx, "VDI", &new)
}

/// `vdi-resize uuid= disk-size=`.
pub fn vdi_resize(ctx: &mut Ctx) -> Res {
    let v = ctx.by_uuid("VDI", "uuid")?;
    let size = size_param(ctx, "disk-size")?;
    ctx.run_async(
        "VDI.resize",
        vec![Value::from(v), Value::from(size.to_string())],
    )?;
    Ok(())
}

/// `vdi-enable-cbt uuid=`.
pub fn vdi_enable_cbt(ctx: &mut Ctx) -> Res {
    on_uuid(ctx, "VDI", "VDI.enable_cbt")
}

/// `vdi-disable-cbt uuid=`.
pub fn vdi_disable_cbt(ctx: &mut Ctx) -> Res {
    on_uuid(ctx, "VDI", "VDI.disable_cbt")
}

/// `vdi-data-destroy uuid=`.
pub fn vdi_data_destroy(ctx: &mut Ctx) -> Res {
    on_uuid(ctx, "VDI", "VDI.data_destroy")
}

/// `vdi-list-changed-blocks vdi-from-uuid= vdi-to-uuid=`: prints the
/// base64 bitmap.
pub fn vdi_list_changed_blocks(ctx: &mut Ctx) -> Res {
    let from = ctx.by_uuid("VDI", "vdi-from-uuid")?;
    let to = ctx.by_uuid("VDI", "vdi-to-uuid")?;
    let v = ctx.call_text(
        "VDI.list_changed_blocks",
        vec![Value::from(from), Value::from(to)],
    )?;
    println!("{v}");
    Ok(())
}

/// The VM named by `uuid=` or `vm=` (a name or a uuid).
fn vm_ref(ctx: &mut Ctx) -> Result<String, XeError> {
    if ctx.opts.param("uuid").is_some() {
        return ctx.by_uuid("VM", "uuid");
    }
    let vm = ctx.need("vm")?;
    if let Ok(r) = ctx.call_text("VM.get_by_uuid", vec![Value::from(vm.as_str())]) {
        return Ok(r);
    }
    let v = ctx.call("VM.get_by_name_label", vec![Value::from(vm.as_str())])?;
    match v {
        Value::Array(a) if a.len() == 1 => Ok(value_text(&a[0])),
        Value::Array(a) if a.is_empty() => {
            Err(XeError::Message(format!("No matching VMs found for {vm}")))
        }
        _ => Err(XeError::Message(format!(
            "Multiple VMs match {vm}; use uuid="
        ))),
    }
}

/// `vm-clone (vm= | uuid=) new-name-label= [new-name-description=]`.
pub fn vm_clone(ctx: &mut Ctx) -> Res {
    let vm = vm_ref(ctx)?;
    let name = ctx.need("new-name-label")?;
    let new = ctx.run_async("VM.clone", vec![Value::from(vm), Value::from(name)])?;
    if let Some(d) = ctx.opt("new-name-description") {
        ctx.call(
            "VM.set_name_description",
            vec![Value::from(new.as_str()), Value::from(d)],
        )?;
    }
    print_new(ctx, "VM", &new)
}

/// `vm-copy (vm= | uuid=) new-name-label= sr-uuid=`: a bar per disk.
pub fn vm_copy(ctx: &mut Ctx) -> Res {
    let vm = vm_ref(ctx)?;
    let name = ctx.need("new-name-label")?;
    let sr = ctx.by_uuid("SR", "sr-uuid")?;
    let new = ctx.run_async(
        "VM.copy",
        vec![Value::from(vm), Value::from(name), Value::from(sr)],
    )?;
    if let Some(d) = ctx.opt("new-name-description") {
        ctx.call(
            "VM.set_name_description",
            vec![Value::from(new.as_str()), Value::from(d)],
        )?;
    }
    print_new(ctx, "VM", &new)
}

/// `subject-add subject-name=` (a local user: `local:<name>` unless the
/// name has a `:`) [password=]: prints the subject's uuid.
pub fn subject_add(ctx: &mut Ctx) -> Res {
    let name = ctx.need("subject-name")?;
    let ident = if name.contains(':') {
        name
    } else {
        format!("local:{name}")
    };
    let rec = Value::Struct(vec![("subject_identifier".into(), Value::from(ident))]);
    let s = ctx.call_text("subject.create", vec![rec])?;
    if let Some(pw) = ctx.opt("password") {
        ctx.call(
            "subject.set_password",
            vec![Value::from(s.as_str()), Value::from(pw)],
        )?;
    }
    let u = ctx.uuid_of("subject", &s)?;
    ctx.print_value(&u);
    Ok(())
}

/// `subject-remove subject-uuid=`.
pub fn subject_remove(ctx: &mut Ctx) -> Res {
    let s = ctx.by_uuid("subject", "subject-uuid")?;
    ctx.call("subject.destroy", vec![Value::from(s)])?;
    Ok(())
}

fn role_ref(ctx: &mut Ctx) -> Result<String, XeError> {
    if ctx.opts.param("role-uuid").is_some() {
        return ctx.by_uuid("role", "role-uuid");
    }
    let name = ctx.need("role-name")?;
    let v = ctx.call("role.get_by_name_label", vec![Value::from(name.as_str())])?;
    match v {
        Value::Array(a) if !a.is_empty() => Ok(value_text(&a[0])),
        _ => Err(XeError::Call(CallError::Api(vec![
            "ROLE_NOT_FOUND".into(),
            name,
        ]))),
    }
}

/// `subject-role-add uuid= (role-name= | role-uuid=)`.
pub fn subject_role_add(ctx: &mut Ctx) -> Res {
    let s = ctx.by_uuid("subject", "uuid")?;
    let r = role_ref(ctx)?;
    ctx.call("subject.add_to_roles", vec![Value::from(s), Value::from(r)])?;
    Ok(())
}

/// `subject-role-remove uuid= (role-name= | role-uuid=)`.
pub fn subject_role_remove(ctx: &mut Ctx) -> Res {
    let s = ctx.by_uuid("subject", "uuid")?;
    let r = role_ref(ctx)?;
    ctx.call(
        "subject.remove_from_roles",
        vec![Value::from(s), Value::from(r)],
    )?;
    Ok(())
}

/// `subject-set-password uuid= password=` (xapid's extension).
pub fn subject_set_password(ctx: &mut Ctx) -> Res {
    let s = ctx.by_uuid("subject", "uuid")?;
    let pw = ctx.need("new-password").or_else(|_| ctx.need("password"))?;
    ctx.call(
        "subject.set_password",
        vec![Value::from(s), Value::from(pw)],
    )?;
    Ok(())
}

/// `event-wait class=<class> [field=value...]`: returns once an object of
/// the class matches every condition (`field=value`, or `field=/=value`
/// for "differs"), watching with `event.from`.
pub fn event_wait(ctx: &mut Ctx) -> Res {
    let cname = ctx.need("class")?;
    let cdef = class(&cname).ok_or_else(|| XeError::Usage(format!("Unknown class: {cname}")))?;
    let conds: Vec<(String, String)> = ctx
        .opts
        .params
        .iter()
        .filter(|(k, _)| k != "class" && k != "timeout")
        .cloned()
        .collect();
    let matches = |rec: &records::Record| {
        conds.iter().all(|(k, v)| {
            let f = rec.iter().find(|f| f.name == k.as_str());
            match (f, v.strip_prefix("/=")) {
                (Some(f), Some(not)) => f.value != not,
                (Some(f), None) => f.value == *v,
                (None, _) => false,
            }
        })
    };
    let deadline = ctx
        .opt("timeout")
        .and_then(|t| t.parse::<f64>().ok())
        .map(|t| std::time::Instant::now() + std::time::Duration::from_secs_f64(t));
    let mut token = String::new();
    loop {
        let wait = match deadline {
            Some(d) => d
                .saturating_duration_since(std::time::Instant::now())
                .as_secs_f64()
                .min(30.0),
            None => 30.0,
        };
        let batch = ctx.call(
            "event.from",
            vec![
                Value::Array(vec![Value::from(cdef.api)]),
                Value::from(token.as_str()),
                Value::Double(if token.is_empty() { 0.0 } else { wait }),
            ],
        );
        let batch = match batch {
            Err(CallError::Api(e)) if e.first().map(String::as_str) == Some("EVENTS_LOST") => {
                token.clear();
                continue;
            }
            b => b?,
        };
        token = batch.member("token").map(value_text).unwrap_or_default();
        if let Some(Value::Array(evs)) = batch.member("events") {
            for ev in evs {
                let Some(snap) = ev.member("snapshot") else {
                    continue;
                };
                let rec = records::build(&mut ctx.conn, &ctx.session, &mut ctx.res, cdef, snap);
                if matches(&rec) {
                    return Ok(());
                }
            }
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(XeError::Message(
                "Error: timed out waiting for the condition".into(),
            ));
        }
    }
}
