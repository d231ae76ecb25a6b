//! `VM`: a named set of disks. The rows are kept by
//! [`crate::domain::vms`]; `VM.clone`/`VM.copy` copy every disk as a job
//! ([`crate::jobs::copies::copy_vm`]).

use super::implicit::row_from_record;
use super::{ApiResult, Args, BoxFuture, Ctx};
use crate::domain::vms;
use crate::jobs::copies;
use crate::wire::Value;

/// `VM.create(args)`.
pub fn create(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let d = cx.domain();
        let rec = a.take(0);
        let f = row_from_record(
            &cx.api,
            d.ids.vm.class,
            &rec,
            &["name_label", "name_description", "other_config"],
        )?;
        vms::create_vm(d, f).await.map(Value::Ref)
    })
}

/// `VM.destroy(self)`.
pub fn destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        vms::remove_vm(cx.domain(), a.r(0)).await?;
        Ok(Value::void())
    })
}

/// `VM.clone(vm, new_name)`.
pub fn clone(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let (vm, name) = (a.r(0), a.str(1));
        copies::copy_vm(cx.jobs(), vm, name, None, cx.caller(), cx.subtask_of)
            .await
            .map(Value::Ref)
    })
}

/// `VM.copy(vm, new_name, sr)`.
pub fn copy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let (vm, name, sr) = (a.r(0), a.str(1), a.r(2));
        cx.domain().srs.get(sr)?;
        copies::copy_vm(cx.jobs(), vm, name, Some(sr), cx.caller(), cx.subtask_of)
            .await
            .map(Value::Ref)
    })
}
