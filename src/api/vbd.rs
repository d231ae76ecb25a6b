//! `VBD`: attaches a VDI to a VM. The rows and links are kept by
//! [`crate::domain::vms`].

use super::implicit::NewRow;
use super::{ApiResult, Ctx};
use crate::domain::vms;
use crate::model::schema::args::{VbdCreate, VbdDestroy};
use crate::model::schema::vbd;
use crate::wire::Value;

/// `VBD.create(args)`.
pub async fn create(cx: Ctx, a: VbdCreate) -> ApiResult<Value> {
    let VbdCreate { args } = a;
    let mut row = NewRow::new(&cx.api, vbd::CLASS, &args);
    // Checked in this order: the first bad member is the one reported.
    row.copy(vbd::VM)?;
    row.copy(vbd::VDI)?;
    row.copy(vbd::USERDEVICE)?;
    row.copy(vbd::BOOTABLE)?;
    row.copy(vbd::MODE)?;
    row.copy(vbd::TYPE)?;
    row.copy(vbd::OTHER_CONFIG)?;
    vms::create_vbd(cx.domain(), row.finish())
        .await
        .map(Value::Ref)
}

/// `VBD.destroy(self)`.
pub async fn destroy(cx: Ctx, a: VbdDestroy) -> ApiResult<Value> {
    let VbdDestroy { self_ } = a;
    vms::remove_vbd(cx.domain(), self_).await?;
    Ok(Value::void())
}
