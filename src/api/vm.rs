//! `VM`: a named set of disks. The rows are kept by
//! [`crate::domain::vms`]; `VM.clone`/`VM.copy` copy every disk as a job
//! ([`crate::jobs::copies::copy_vm`]).

use super::implicit::NewRow;
use super::{ApiResult, Ctx};
use crate::domain::vms;
use crate::jobs::copies;
use crate::model::schema::args::{VmClone, VmCopy, VmCreate, VmDestroy};
use crate::model::schema::vm;
use crate::wire::Value;

/// `VM.create(args)`.
pub async fn create(cx: Ctx, a: VmCreate) -> ApiResult<Value> {
    let VmCreate { args } = a;
    let mut row = NewRow::new(&cx.api, vm::CLASS, &args);
    row.copy(vm::NAME_LABEL)?;
    row.copy(vm::NAME_DESCRIPTION)?;
    row.copy(vm::OTHER_CONFIG)?;
    vms::create_vm(cx.domain(), row.finish())
        .await
        .map(Value::Ref)
}

/// `VM.destroy(self)`.
pub async fn destroy(cx: Ctx, a: VmDestroy) -> ApiResult<Value> {
    let VmDestroy { self_ } = a;
    vms::remove_vm(cx.domain(), self_).await?;
    Ok(Value::void())
}

/// `VM.clone(vm, new_name)`.
pub async fn clone(cx: Ctx, a: VmClone) -> ApiResult<Value> {
    let VmClone { vm, new_name } = a;
    copies::copy_vm(cx.jobs(), vm, &new_name, None, cx.caller(), cx.subtask_of)
        .await
        .map(Value::Ref)
}

/// `VM.copy(vm, new_name, sr)`.
pub async fn copy(cx: Ctx, a: VmCopy) -> ApiResult<Value> {
    let VmCopy { vm, new_name, sr } = a;
    cx.domain().srs.get(sr)?;
    copies::copy_vm(
        cx.jobs(),
        vm,
        &new_name,
        Some(sr),
        cx.caller(),
        cx.subtask_of,
    )
    .await
    .map(Value::Ref)
}
