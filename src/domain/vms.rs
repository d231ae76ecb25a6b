//! VMs and VBDs: a VM is a named set of disks, a VBD attaches a VDI to a
//! VM. Making and removing a VBD keeps `VM.VBDs` and `VDI.VBDs` in step;
//! removing a VM removes its VBDs (never its VDIs). A VM still being made
//! by a clone or copy when the server stopped is removed at restart.

use uuid::Uuid;

use super::{durable, Domain};
use crate::error::{ApiError, ApiResult};
use crate::model::field::Field;
use crate::model::schema::{vbd, vdi, vm};
use crate::model::RowExt;
use crate::registry::Write;
use crate::wire::{Ref, Value};

/// Adds `vbd` to (or with `add = false` removes it from) the ref-set
/// `field` of `r`.
async fn link(d: &Domain, field: Field<Vec<Ref>>, r: Ref, vbd: Ref, add: bool) -> ApiResult<()> {
    if r.is_null() {
        return Ok(());
    }
    if let Ok(((), c)) = d.registry.update(field.class(), r, Write::Durable, |f| {
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
    link(d, vm::VBDS, vm, vbd, add).await?;
    link(d, vdi::VBDS, vdi, vbd, add).await
}

/// Makes a VM from its fields.
pub async fn create_vm(d: &Domain, mut f: Box<[Value]>) -> ApiResult<Ref> {
    f.set(vm::UUID, Uuid::new_v4().to_string());
    let r = Ref::new();
    durable(d.registry.insert(vm::CLASS, r, f)).await?;
    Ok(r)
}

/// Makes a VBD from its fields, after checking that its VM exists
/// (`FIELD_TYPE_ERROR [VM]` without one) and its VDI, if any.
pub async fn create_vbd(d: &Domain, mut f: Box<[Value]>) -> ApiResult<Ref> {
    let vm = f.field(vbd::VM);
    if vm.is_null() {
        return Err(ApiError::field_type_error(vbd::VM.name()));
    }
    if !d.registry.exists(vm::CLASS, vm) {
        return Err(ApiError::handle_invalid(vm::NAME, vm));
    }
    // Whatever is not a ref (left unset) becomes the null ref.
    let vdi = f.field(vbd::VDI);
    if !vdi.is_null() && !d.registry.exists(vdi::CLASS, vdi) {
        return Err(ApiError::handle_invalid(vdi::NAME, vdi));
    }
    f.set(vbd::VDI, vdi);
    insert_vbd(d, f).await
}

/// Makes a VBD from its fields (VM and VDI checked by the caller).
pub async fn insert_vbd(d: &Domain, mut f: Box<[Value]>) -> ApiResult<Ref> {
    f.set(vbd::UUID, Uuid::new_v4().to_string());
    let (vm, vdi) = (f.field(vbd::VM), f.field(vbd::VDI));
    let r = Ref::new();
    durable(d.registry.insert(vbd::CLASS, r, f)).await?;
    link_both(d, vm, vdi, r, true).await?;
    Ok(r)
}

/// Removes a VBD and its links.
pub async fn remove_vbd(d: &Domain, r: Ref) -> ApiResult<()> {
    let Some((row, c)) = d.registry.remove(vbd::CLASS, r) else {
        return Ok(());
    };
    durable(c).await?;
    link_both(d, row.get(vbd::VM), row.get(vbd::VDI), r, false).await
}

/// Removes a VM and its VBDs (not its VDIs).
pub async fn remove_vm(d: &Domain, r: Ref) -> ApiResult<()> {
    for b in d.registry.get_field(vm::VBDS, r)? {
        remove_vbd(d, b).await?;
    }
    if let Some((_, c)) = d.registry.remove(vm::CLASS, r) {
        durable(c).await?;
    }
    Ok(())
}

/// After a restart: VMs that a clone or copy was still making are removed,
/// unless the task that made them succeeded (then they are whole). Their
/// half-made disks are handled by the VDI recovery, by the same rule.
pub async fn recover_after_restart(d: &Domain) -> anyhow::Result<()> {
    let mut building = Vec::new();
    d.registry.for_each(vm::CLASS, |r, row| {
        let maker = row.get(vm::BUILDING);
        if !maker.is_null() {
            building.push((r, maker));
        }
    });
    for (r, maker) in building {
        if super::tasks::succeeded(d, maker) {
            tracing::info!(vm = %r, "VM made by a task that succeeded: keeping it");
            super::tasks::clear_building(d, vm::CLASS, r).await?;
            continue;
        }
        tracing::warn!(vm = %r, "VM was being made when the server stopped: deleting it");
        remove_vm(d, r).await?;
    }
    Ok(())
}
