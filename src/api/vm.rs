//! `VM`: a named set of disks. `VM.clone`/`VM.copy` copy every disk in a
//! subtask of the call's task (each a backup job, as `VDI.copy`), weigh the
//! parent's progress by the disks' sizes, cancel the rest when one fails or
//! the parent is cancelled, and leave nothing behind unless all succeeded.

use std::time::Duration;

use uuid::Uuid;

use super::implicit::row_from_record;
use super::vdi;
use super::{task, vbd, ApiError, ApiResult, Args, BoxFuture, Ctx, Server};
use crate::registry::Write;
use crate::wire::{Ref, Value};

/// `VM.create(args)`.
pub fn create(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let m = &s.ids.vm;
        let rec = a.take(0);
        let mut f = row_from_record(
            s,
            m.class,
            &rec,
            &["name_label", "name_description", "other_config"],
        )?;
        f[m.uuid] = Value::from(Uuid::new_v4().to_string());
        let r = Ref::new();
        s.registry
            .insert(m.class, r, f)
            .wait()
            .await
            .map_err(ApiError::internal)?;
        Ok(Value::Ref(r))
    })
}

/// Deletes a VM and its VBDs (not its VDIs).
async fn remove(server: &Server, vm: Ref) -> ApiResult<()> {
    let m = &server.ids.vm;
    let vbds = server
        .registry
        .read_or(m.class, vm, |row| refs(&row.fields[m.vbds]))?;
    for b in vbds {
        vbd::remove(server, b).await?;
    }
    if let Some((_, c)) = server.registry.remove(m.class, vm) {
        c.wait().await.map_err(ApiError::internal)?;
    }
    Ok(())
}

fn refs(v: &Value) -> Vec<Ref> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| match x {
                Value::Ref(r) => Some(*r),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `VM.destroy(self)`.
pub fn destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        remove(&cx.server, a.r(0)).await?;
        Ok(Value::void())
    })
}

/// `VM.clone(vm, new_name)`.
pub fn clone(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let (vm, name) = (a.r(0), a.str(1).to_string());
        copy_vm(cx, vm, name, None).await
    })
}

/// `VM.copy(vm, new_name, sr)`.
pub fn copy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let (vm, name, sr) = (a.r(0), a.str(1).to_string(), a.r(2));
        cx.server.srs.get(sr)?;
        copy_vm(cx, vm, name, Some(sr)).await
    })
}

/// One VBD of the source VM.
struct Disk {
    vbd_fields: Box<[Value]>,
    vdi: Ref,
    size: f64,
}

async fn copy_vm(cx: Ctx, vm: Ref, name: String, sr: Option<Ref>) -> ApiResult<Value> {
    let s = cx.server.clone();
    let m = &s.ids.vm;
    let b = &s.ids.vbd;
    let v = &s.ids.vdi;
    let (src, vbds) = s.registry.read_or(m.class, vm, |row| {
        (row.fields.clone(), refs(&row.fields[m.vbds]))
    })?;
    let mut disks = Vec::new();
    for r in vbds {
        let Some(fields) = s.registry.read(b.class, r, |row| row.fields.clone()) else {
            continue;
        };
        let vdi = match fields[b.vdi] {
            Value::Ref(x) => x,
            _ => Ref::NULL,
        };
        let size = s
            .registry
            .read(v.class, vdi, |row| match row.fields[v.virtual_size] {
                Value::Int(n) => n as f64,
                _ => 0.0,
            })
            .unwrap_or(0.0);
        disks.push(Disk {
            vbd_fields: fields,
            vdi,
            size,
        });
    }
    // The parent task: the call's, or one of our own for a plain call.
    let (parent, own) = match cx.task {
        Some(t) => (t, false),
        None => (
            task::create_managed(&s, "VM.copy", cx.subtask_of).await?,
            true,
        ),
    };
    let cancel = task::make_cancellable(&s, parent);
    // The new VM, marked as building until every disk is there.
    let mut f = src.clone();
    f[m.uuid] = Value::from(Uuid::new_v4().to_string());
    f[m.name_label] = Value::from(name.as_str());
    f[m.vbds] = Value::Array(Vec::new());
    f[m.building] = Value::Ref(parent);
    let new_vm = Ref::new();
    s.registry
        .insert(m.class, new_vm, f)
        .wait()
        .await
        .map_err(ApiError::internal)?;

    // One subtask per disk (CD drives and empty drives are attached as
    // they are, not copied).
    let op = if sr.is_some() { "copy" } else { "clone" };
    let mut subs = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for (i, d) in disks.iter().enumerate() {
        let is_disk = d.vbd_fields[b.ty].as_str() == Some("Disk") && !d.vdi.is_null();
        if !is_disk {
            continue;
        }
        let target_sr = match sr {
            Some(x) => x,
            None => match s.registry.field(v.class, d.vdi, v.sr) {
                Ok(Value::Ref(x)) => x,
                _ => Ref::NULL,
            },
        };
        let sub = task::create_managed(&s, &format!("VDI.{op}"), Some(parent)).await?;
        subs.push((i, sub, d.size));
        let scx = Ctx {
            server: s.clone(),
            session: cx.session,
            task: Some(sub),
            subtask_of: Some(parent),
            format: cx.format,
        };
        let (s2, vdi) = (s.clone(), d.vdi);
        set.spawn(async move {
            let r = vdi::full_copy(scx, vdi, target_sr, op).await;
            task::finish(&s2, sub, r.clone()).await;
            (i, r)
        });
    }
    // Wait, weighing progress; the first failure (or a cancel) cancels
    // the rest.
    let total: f64 = subs.iter().map(|(_, _, w)| w.max(1.0)).sum();
    let mut results: Vec<(usize, ApiResult<Value>)> = Vec::new();
    let mut failed: Option<ApiError> = None;
    let mut cancelled = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !set.is_empty() {
        tokio::select! {
            done = set.join_next() => {
                let Some(done) = done else { break };
                let (i, r) = done.map_err(ApiError::internal)?;
                if let Err(e) = &r {
                    if failed.is_none() && e.code != "TASK_CANCELLED" {
                        failed = Some(e.clone());
                    }
                    for (_, sub, _) in &subs {
                        task::cancel_now(&s, *sub);
                    }
                }
                results.push((i, r));
            }
            _ = tick.tick() => {
                let t = &s.ids.task;
                let done: f64 = subs
                    .iter()
                    .map(|(_, sub, w)| {
                        let p = match s.registry.field(t.class, *sub, t.progress) {
                            Ok(Value::Double(p)) => p,
                            _ => 0.0,
                        };
                        p * w.max(1.0)
                    })
                    .sum();
                if total > 0.0 {
                    task::set_progress_volatile(&s, parent, done / total);
                }
            }
            _ = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                for (_, sub, _) in &subs {
                    task::cancel_now(&s, *sub);
                }
            }
        }
    }
    let ok = failed.is_none() && !cancelled && results.iter().all(|(_, r)| r.is_ok());
    let outcome = if ok {
        // Attach the copies (and the drives that were not copied).
        let mut new_vdi: Vec<Option<Ref>> = vec![None; disks.len()];
        for (i, r) in &results {
            if let Ok(Value::Ref(x)) = r {
                new_vdi[*i] = Some(*x);
            }
        }
        for (i, d) in disks.iter().enumerate() {
            let mut f = d.vbd_fields.clone();
            f[b.vm] = Value::Ref(new_vm);
            f[b.vdi] = Value::Ref(new_vdi[i].unwrap_or(d.vdi));
            vbd::insert(&s, f).await?;
        }
        let ((), c) = s.registry.update(m.class, new_vm, Write::Durable, |f| {
            f[m.building] = Value::Ref(Ref::NULL);
            Ok(())
        })?;
        c.wait().await.map_err(ApiError::internal)?;
        Ok(Value::Ref(new_vm))
    } else {
        // Nothing stays: the copies that finished and the new VM go.
        for (_, r) in &results {
            if let Ok(Value::Ref(x)) = r {
                let _ = vdi::delete(&s, *x).await;
            }
        }
        remove(&s, new_vm).await?;
        Err(failed.unwrap_or_else(|| ApiError::new("TASK_CANCELLED", [parent.to_string()])))
    };
    if own {
        task::finish(&s, parent, outcome.clone()).await;
    }
    outcome
}

/// After a restart: VMs that a clone or copy was still making are deleted
/// (their half-made disks are deleted by the VDI recovery).
pub async fn recover_after_restart(server: &Server) -> anyhow::Result<()> {
    let m = &server.ids.vm;
    let mut gone = Vec::new();
    server.registry.for_each(m.class, |r, row| {
        if matches!(row.fields[m.building], Value::Ref(t) if !t.is_null()) {
            gone.push(r);
        }
    });
    for r in gone {
        tracing::warn!(vm = %r, "VM was being made when the server stopped: deleting it");
        remove(server, r).await?;
    }
    Ok(())
}
