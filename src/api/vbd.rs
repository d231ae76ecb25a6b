//! `VBD`: attaches a VDI to a VM. The rows and links are kept by
//! [`crate::domain::vms`].

use super::implicit::row_from_record;
use super::{ApiResult, Args, BoxFuture, Ctx};
use crate::domain::vms;
use crate::wire::Value;

/// `VBD.create(args)`.
pub fn create(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let d = cx.domain();
        let rec = a.take(0);
        let f = row_from_record(
            &cx.api,
            d.ids.vbd.class,
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
        vms::create_vbd(d, f).await.map(Value::Ref)
    })
}

/// `VBD.destroy(self)`.
pub fn destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        vms::remove_vbd(cx.domain(), a.r(0)).await?;
        Ok(Value::void())
    })
}
