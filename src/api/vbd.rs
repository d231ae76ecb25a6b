//! `VBD`: attaches a VDI to a VM. Creating and destroying one keeps
//! `VM.VBDs` and `VDI.VBDs` in step.

use uuid::Uuid;

use super::implicit::row_from_record;
use super::{ApiError, ApiResult, Args, BoxFuture, Ctx, Server};
use crate::registry::Write;
use crate::wire::{Ref, Value};

/// Adds `vbd` to (or with `add = false` removes it from) a ref-set field.
async fn link(
    server: &Server,
    class: crate::model::ClassId,
    r: Ref,
    field: usize,
    vbd: Ref,
    add: bool,
) -> ApiResult<()> {
    if r.is_null() {
        return Ok(());
    }
    if let Ok(((), c)) = server.registry.update(class, r, Write::Durable, |f| {
        if let Value::Array(a) = &mut f[field] {
            a.retain(|x| *x != Value::Ref(vbd));
            if add {
                a.push(Value::Ref(vbd));
            }
        }
        Ok(())
    }) {
        c.wait().await.map_err(ApiError::internal)?;
    }
    Ok(())
}

/// Adds `vbd` to (or removes it from) `VM.VBDs` of `vm` and `VDI.VBDs` of
/// `vdi`.
async fn link_both(server: &Server, vm: Ref, vdi: Ref, vbd: Ref, add: bool) -> ApiResult<()> {
    let (m, v) = (&server.ids.vm, &server.ids.vdi);
    link(server, m.class, vm, m.vbds, vbd, add).await?;
    link(server, v.class, vdi, v.vbds, vbd, add).await
}

/// Makes a VBD from its fields (VM and VDI checked by the caller).
pub async fn insert(server: &Server, mut f: Box<[Value]>) -> ApiResult<Ref> {
    let b = &server.ids.vbd;
    f[b.uuid] = Value::from(Uuid::new_v4().to_string());
    let (vm, vdi) = match (&f[b.vm], &f[b.vdi]) {
        (Value::Ref(vm), Value::Ref(vdi)) => (*vm, *vdi),
        (Value::Ref(vm), _) => (*vm, Ref::NULL),
        _ => (Ref::NULL, Ref::NULL),
    };
    let r = Ref::new();
    server
        .registry
        .insert(b.class, r, f)
        .wait()
        .await
        .map_err(ApiError::internal)?;
    link_both(server, vm, vdi, r, true).await?;
    Ok(r)
}

/// Removes a VBD and its links.
pub async fn remove(server: &Server, vbd: Ref) -> ApiResult<()> {
    let b = &server.ids.vbd;
    let Some((row, c)) = server.registry.remove(b.class, vbd) else {
        return Ok(());
    };
    c.wait().await.map_err(ApiError::internal)?;
    let as_ref = |v: &Value| match v {
        Value::Ref(r) => *r,
        _ => Ref::NULL,
    };
    link_both(
        server,
        as_ref(&row.fields[b.vm]),
        as_ref(&row.fields[b.vdi]),
        vbd,
        false,
    )
    .await?;
    Ok(())
}

/// `VBD.create(args)`.
pub fn create(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let s = &cx.server;
        let b = &s.ids.vbd;
        let rec = a.take(0);
        let mut f = row_from_record(
            s,
            b.class,
            &rec,
            &[
                "VM",
                "VDI",
                "userdevice",
                "bootable",
                "mode",
                "type",
                "other_config",
            ],
        )?;
        let vm = match f[b.vm] {
            Value::Ref(r) if !r.is_null() => r,
            _ => return Err(ApiError::new("FIELD_TYPE_ERROR", ["VM"])),
        };
        if !s.registry.exists(s.ids.vm.class, vm) {
            return Err(ApiError::handle_invalid("VM", vm));
        }
        if let Value::Ref(vdi) = f[b.vdi] {
            if !vdi.is_null() && !s.registry.exists(s.ids.vdi.class, vdi) {
                return Err(ApiError::handle_invalid("VDI", vdi));
            }
        } else {
            f[b.vdi] = Value::Ref(Ref::NULL);
        }
        insert(s, f).await.map(Value::Ref)
    })
}

/// `VBD.destroy(self)`.
pub fn destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        remove(&cx.server, a.r(0)).await?;
        Ok(Value::void())
    })
}
