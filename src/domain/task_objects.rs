//! Which task touched what: every task records the VDIs, VMs and SRs it
//! acts on (`task.objects`), and each of those objects lists the tasks that
//! acted on it (`VDI.jobs`, `VM.jobs`, `SR.jobs`, as CloudSigma's drives)
//! for as long as the task exists.
//!
//! `task.objects` is part of the task's durable row. The `jobs` sets are
//! its mirror image: kept in memory as tasks come and go (a change is an
//! event on the object, not a disk write) and rebuilt from the tasks at
//! start-up, so whatever an object's stored row says of them is never
//! trusted.

use crate::model::schema::{sr, task, vdi, vm};
use crate::model::{ClassId, RowExt};
use crate::registry::Write;
use crate::wire::{Ref, Value};

use super::Domain;

/// The classes whose objects list their jobs, with their `jobs` field.
fn classes() -> [(ClassId, usize); 3] {
    [
        (vdi::CLASS, vdi::JOBS.index()),
        (vm::CLASS, vm::JOBS.index()),
        (sr::CLASS, sr::JOBS.index()),
    ]
}

/// The class and `jobs` field of `r` if it is a VDI, VM or SR.
fn jobs_field(d: &Domain, r: Ref) -> Option<(ClassId, usize)> {
    if r.is_null() {
        return None;
    }
    classes()
        .into_iter()
        .find(|(c, _)| d.registry.exists(*c, r))
}

/// The VDIs, VMs and SRs among `refs`, in order, each once.
pub fn acted_on(d: &Domain, refs: impl IntoIterator<Item = Ref>) -> Vec<Ref> {
    let mut out: Vec<Ref> = Vec::new();
    for r in refs {
        if !out.contains(&r) && jobs_field(d, r).is_some() {
            out.push(r);
        }
    }
    out
}

/// The VDIs, VMs and SRs named in a call's parameters (in sets and maps
/// too), in order, each once.
pub fn of_params(d: &Domain, params: &[Value]) -> Vec<Ref> {
    fn walk(v: &Value, out: &mut Vec<Ref>) {
        match v {
            Value::Ref(r) if !r.is_null() => out.push(*r),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Struct(m) => m.iter().for_each(|(_, x)| walk(x, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    for p in params {
        walk(p, &mut refs);
    }
    acted_on(d, refs)
}

/// Adds `t` to (or with `add = false` removes it from) the `jobs` of each
/// of `objects` that still exists. Memory only: see the module's doc.
pub fn link(d: &Domain, t: Ref, objects: &[Ref], add: bool) {
    for &o in objects {
        let Some((class, field)) = jobs_field(d, o) else {
            continue;
        };
        // Gone in between: nothing to keep in step.
        let _ = d.registry.update(class, o, Write::Volatile, |f| {
            if let Value::Array(a) = &mut f[field] {
                a.retain(|x| *x != Value::Ref(t));
                if add {
                    a.push(Value::Ref(t));
                }
            }
            Ok(())
        });
    }
}

/// The objects of a task row.
pub fn of_row(f: &[Value]) -> Vec<Ref> {
    f.field(task::OBJECTS)
        .iter()
        .filter_map(|s| Ref::parse(s))
        .collect()
}

/// Appends `new` (VDIs, VMs and SRs, checked by the caller) to the objects
/// of a task row; returns those it did not hold yet.
pub fn append(f: &mut [Value], new: &[Ref]) -> Vec<Ref> {
    let mut objects: Vec<String> = f.field(task::OBJECTS);
    let mut added = Vec::new();
    for r in new {
        let s = r.to_string();
        if !objects.contains(&s) {
            objects.push(s);
            added.push(*r);
        }
    }
    f.set(task::OBJECTS, objects);
    added
}

/// Adds objects to an existing task (an import into a task the client
/// made, a job run under a transaction's task) and lists the task in their
/// `jobs`. The task's row is written durably when it next changes.
pub fn add(d: &Domain, t: Ref, objects: &[Ref]) {
    let objects = acted_on(d, objects.iter().copied());
    if objects.is_empty() {
        return;
    }
    if let Ok((added, _)) = d
        .registry
        .update(task::CLASS, t, Write::Volatile, |f| Ok(append(f, &objects)))
    {
        link(d, t, &added, true);
    }
}

/// At start-up: every object's `jobs` anew from the tasks that exist.
pub fn rebuild(d: &Domain) {
    for (class, field) in classes() {
        let mut stale = Vec::new();
        d.registry.for_each(class, |r, row| {
            if !matches!(&row.fields[field], Value::Array(a) if a.is_empty()) {
                stale.push(r);
            }
        });
        for r in stale {
            let _ = d.registry.update(class, r, Write::Volatile, |f| {
                f[field] = Value::Array(Vec::new());
                Ok(())
            });
        }
    }
    let mut all = Vec::new();
    d.registry.for_each(task::CLASS, |r, row| {
        all.push((row.get(task::CREATED), r, of_row(&row.fields)));
    });
    // Oldest first, so each set lists its tasks in the order they started.
    all.sort_by_key(|(created, _, _)| created.0);
    for (_, t, objects) in all {
        link(d, t, &objects, true);
    }
}

/// The name shown as the user who started a task, from its owner's
/// subject identifier: `root` for `""`, the login name of a local user.
pub fn user_name(sid: &str) -> String {
    if sid.is_empty() {
        return "root".to_owned();
    }
    sid.strip_prefix("local:").unwrap_or(sid).to_owned()
}
