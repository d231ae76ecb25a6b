//! VMs and VBDs: a VM is a named set of disks, a VBD attaches a VDI to a
//! VM. Making and removing a VBD keeps `VM.VBDs` and `VDI.VBDs` in step;
//! removing a VM removes its VBDs (never its VDIs). A VM still being made
//! by a clone or copy when the server stopped is removed at restart.

use uuid::Uuid;

use super::{durable, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::ClassId;
use crate::registry::Write;
use crate::wire::{Ref, Value};

/// Adds `vbd` to (or with `add = false` removes it from) a ref-set field.
async fn link(
    d: &Domain,
    class: ClassId,
    r: Ref,
    field: usize,
    vbd: Ref,
    add: bool,
) -> ApiResult<()> {
    if r.is_null() {
        return Ok(());
    }
    if let Ok(((), c)) = d.registry.update(class, r, Write::Durable, |f| {
        if let Value::Array(a) = &mut f[field] {
            a.retain(|x| *x != Value::Ref(vbd));
            if add {
                a.push(Value::Ref(vbd));
            }
        }
        Ok(())
    }) {
        durable(c).await?;
    }
    Ok(())
}

/// Adds `vbd` to (or removes it from) `VM.VBDs` of `vm` and `VDI.VBDs` of
/// `vdi`.
async fn link_both(d: &Domain, vm: Ref, vdi: Ref, vbd: Ref, add: bool) -> ApiResult<()> {
    let (m, v) = (&d.ids.vm, &d.ids.vdi);
    link(d, m.class, vm, m.vbds, vbd, add).await?;
    link(d, v.class, vdi, v.vbds, vbd, add).await
}

/// Makes a VM from its fields.
pub async fn create_vm(d: &Domain, mut f: Box<[Value]>) -> ApiResult<Ref> {
    let m = &d.ids.vm;
    f[m.uuid] = Value::from(Uuid::new_v4().to_string());
    let r = Ref::new();
    durable(d.registry.insert(m.class, r, f)).await?;
    Ok(r)
}

/// Makes a VBD from its fields, after checking that its VM exists
/// (`FIELD_TYPE_ERROR [VM]` without one) and its VDI, if any.
pub async fn create_vbd(d: &Domain, mut f: Box<[Value]>) -> ApiResult<Ref> {
    let b = &d.ids.vbd;
    let vm = match f[b.vm] {
        Value::Ref(r) if !r.is_null() => r,
        _ => return Err(ApiError::new("FIELD_TYPE_ERROR", ["VM"])),
    };
    if !d.registry.exists(d.ids.vm.class, vm) {
        return Err(ApiError::handle_invalid("VM", vm));
    }
    if let Value::Ref(vdi) = f[b.vdi] {
        if !vdi.is_null() && !d.registry.exists(d.ids.vdi.class, vdi) {
            return Err(ApiError::handle_invalid("VDI", vdi));
        }
    } else {
        f[b.vdi] = Value::Ref(Ref::NULL);
    }
    insert_vbd(d, f).await
}

/// Makes a VBD from its fields (VM and VDI checked by the caller).
pub async fn insert_vbd(d: &Domain, mut f: Box<[Value]>) -> ApiResult<Ref> {
    let b = &d.ids.vbd;
    f[b.uuid] = Value::from(Uuid::new_v4().to_string());
    let (vm, vdi) = (f[b.vm].as_ref_or_null(), f[b.vdi].as_ref_or_null());
    let r = Ref::new();
    durable(d.registry.insert(b.class, r, f)).await?;
    link_both(d, vm, vdi, r, true).await?;
    Ok(r)
}

/// Removes a VBD and its links.
pub async fn remove_vbd(d: &Domain, vbd: Ref) -> ApiResult<()> {
    let b = &d.ids.vbd;
    let Some((row, c)) = d.registry.remove(b.class, vbd) else {
        return Ok(());
    };
    durable(c).await?;
    let (vm, vdi) = (
        row.fields[b.vm].as_ref_or_null(),
        row.fields[b.vdi].as_ref_or_null(),
    );
    link_both(d, vm, vdi, vbd, false).await
}

/// Removes a VM and its VBDs (not its VDIs).
pub async fn remove_vm(d: &Domain, vm: Ref) -> ApiResult<()> {
    let m = &d.ids.vm;
    let vbds = d
        .registry
        .read_or(m.class, vm, |row| row.fields[m.vbds].refs())?;
    for b in vbds {
        remove_vbd(d, b).await?;
    }
    if let Some((_, c)) = d.registry.remove(m.class, vm) {
        durable(c).await?;
    }
    Ok(())
}

/// After a restart: VMs that a clone or copy was still making are removed,
/// unless the task that made them succeeded (then they are whole). Their
/// half-made disks are handled by the VDI recovery, by the same rule.
pub async fn recover_after_restart(d: &Domain) -> anyhow::Result<()> {
    let m = &d.ids.vm;
    let mut building = Vec::new();
    d.registry.for_each(m.class, |r, row| {
        let maker = row.fields[m.building].as_ref_or_null();
        if !maker.is_null() {
            building.push((r, maker));
        }
    });
    for (r, maker) in building {
        if super::tasks::succeeded(d, maker) {
            tracing::info!(vm = %r, "VM made by a task that succeeded: keeping it");
            super::tasks::clear_building(d, m.class, r).await?;
            continue;
        }
        tracing::warn!(vm = %r, "VM was being made when the server stopped: deleting it");
        remove_vm(d, r).await?;
    }
    Ok(())
}
