//! `VDI`: image files in SRs. The rules are in [`crate::domain::vdis`] and
//! [`crate::domain::snapshots`]; copy and clone run as backup jobs
//! ([`crate::jobs::copies`]).

use super::implicit::NewRow;
use super::{ApiError, ApiResult, Ctx};
use crate::domain::vdis::{self, NewVdi};
use crate::domain::{cbt, coalesce, to_int};
use crate::domain::{invalid, snapshots, tasks};
use crate::jobs::copies;
use crate::model::schema::args::{
    VdiClone, VdiCopy, VdiCreate, VdiDataDestroy, VdiDestroy, VdiDisableCbt, VdiEnableCbt,
    VdiGetNbdInfo, VdiListChangedBlocks, VdiListChangedBlocksRange, VdiListChangedExtents,
    VdiResize, VdiSetCbtEnabled, VdiSnapshot,
};
use crate::model::schema::vdi;
use crate::storage::image::Format;
use crate::wire::base64;
use crate::wire::Value;

/// `VDI.create(args)`.
pub async fn create(cx: Ctx, a: VdiCreate) -> ApiResult<Value> {
    let VdiCreate { args } = a;
    let d = cx.domain();
    let mut row = NewRow::new(&cx.api, vdi::CLASS, &args);
    let sr = row
        .member(vdi::SR)?
        .ok_or_else(|| ApiError::field_type_error(vdi::SR.name()))?;
    let size = row
        .member(vdi::VIRTUAL_SIZE)?
        .ok_or_else(|| ApiError::field_type_error(vdi::VIRTUAL_SIZE.name()))?;
    let size = vdis::check_size(vdi::VIRTUAL_SIZE.name(), size)?;
    d.srs.get(sr)?;
    // Checked in this order: the first bad member is the one reported.
    row.copy(vdi::NAME_LABEL)?;
    row.copy(vdi::NAME_DESCRIPTION)?;
    row.copy(vdi::TYPE)?;
    row.copy(vdi::SHARABLE)?;
    row.copy(vdi::READ_ONLY)?;
    row.copy(vdi::OTHER_CONFIG)?;
    row.copy(vdi::SM_CONFIG)?;
    let fields = row.finish();
    let format = match fields[vdi::SM_CONFIG].map_get("image-format") {
        None => Format::Raw,
        Some(n) => Format::from_name(n).ok_or_else(|| invalid("sm_config:image-format", n))?,
    };
    let new = NewVdi {
        fields,
        format,
        size,
        building: cx.owner(),
    };
    let r = vdis::make(d, sr, new).await?;
    match cx.task {
        // An `Async.` call: the VDI counts once its task has succeeded.
        Some(t) => tasks::commit_on_success(d, t, vdi::CLASS, r),
        None => vdis::commit(d, r).await?,
    }
    Ok(Value::Ref(r))
}

/// `VDI.destroy(self)`.
pub async fn destroy(cx: Ctx, a: VdiDestroy) -> ApiResult<Value> {
    let VdiDestroy { self_ } = a;
    coalesce::destroy(cx.domain(), self_, cx.owner()).await?;
    Ok(Value::void())
}

/// `VDI.resize(vdi, size)`.
pub async fn resize(cx: Ctx, a: VdiResize) -> ApiResult<Value> {
    let VdiResize { vdi, size } = a;
    vdis::resize(cx.domain(), vdi, size, cx.owner()).await?;
    Ok(Value::void())
}

/// `VDI.snapshot(vdi [, driver_params])`: the current file becomes the
/// snapshot (a second name for it, at once), and a new qcow2 overlay with
/// it as backing replaces the VDI's file in one rename. Driver parameters
/// are accepted and ignored.
pub async fn snapshot(cx: Ctx, a: VdiSnapshot) -> ApiResult<Value> {
    let VdiSnapshot {
        vdi,
        driver_params: _,
    } = a;
    snapshots::take(cx.domain(), vdi, cx.owner())
        .await
        .map(Value::Ref)
}

/// `VDI.copy(vdi, sr)`.
pub async fn copy(cx: Ctx, a: VdiCopy) -> ApiResult<Value> {
    let VdiCopy { vdi, sr } = a;
    copies::full_copy(cx.jobs(), vdi, sr, "copy", cx.caller(), cx.task)
        .await
        .map(Value::Ref)
}

/// `VDI.clone(vdi [, driver_params])`: a full copy in the VDI's own SR.
/// Driver parameters are accepted and ignored.
pub async fn clone(cx: Ctx, a: VdiClone) -> ApiResult<Value> {
    let VdiClone {
        vdi,
        driver_params: _,
    } = a;
    let (sr, _, _) = vdis::file_of(cx.domain(), vdi)?;
    copies::full_copy(cx.jobs(), vdi, sr, "clone", cx.caller(), cx.task)
        .await
        .map(Value::Ref)
}

/// `VDI.enable_cbt(self)`.
pub async fn enable_cbt(cx: Ctx, a: VdiEnableCbt) -> ApiResult<Value> {
    cbt::enable(cx.domain(), a.self_, cx.owner()).await?;
    Ok(Value::void())
}

/// `VDI.disable_cbt(self)`.
pub async fn disable_cbt(cx: Ctx, a: VdiDisableCbt) -> ApiResult<Value> {
    cbt::disable(cx.domain(), a.self_, cx.owner()).await?;
    Ok(Value::void())
}

/// `VDI.set_cbt_enabled(self, value)`.
pub async fn set_cbt_enabled(cx: Ctx, a: VdiSetCbtEnabled) -> ApiResult<Value> {
    cbt::set_enabled(cx.domain(), a.self_, a.value).await?;
    Ok(Value::void())
}

/// `VDI.data_destroy(self)`.
pub async fn data_destroy(cx: Ctx, a: VdiDataDestroy) -> ApiResult<Value> {
    coalesce::data_destroy(cx.domain(), a.self_, cx.owner()).await?;
    Ok(Value::void())
}

/// `VDI.list_changed_blocks(vdi_from, vdi_to)`: base64, padded to 4 bytes.
pub async fn list_changed_blocks(cx: Ctx, a: VdiListChangedBlocks) -> ApiResult<Value> {
    let (bits, _) = cbt::changed(cx.domain(), a.vdi_from, a.vdi_to).await?;
    Ok(Value::from(base64::encode(&cbt::pad(bits))))
}

/// `VDI.list_changed_blocks_range(vdi_from, vdi_to, offset, length)`.
pub async fn list_changed_blocks_range(cx: Ctx, a: VdiListChangedBlocksRange) -> ApiResult<Value> {
    let d = cx.domain();
    let bits = cbt::changed_range(d, a.vdi_from, a.vdi_to, a.offset, a.length).await?;
    Ok(Value::Struct(vec![
        (
            "granularity".into(),
            Value::from(cbt::GRANULARITY.to_string()),
        ),
        (
            "bitmap".into(),
            Value::from(base64::encode(&cbt::pad(bits))),
        ),
    ]))
}

/// `VDI.list_changed_extents(vdi_from, vdi_to)`: `[offset, length, ...]`.
pub async fn list_changed_extents(cx: Ctx, a: VdiListChangedExtents) -> ApiResult<Value> {
    let extents = cbt::changed_extents(cx.domain(), a.vdi_from, a.vdi_to).await?;
    let flat = extents
        .into_iter()
        .flat_map(|(o, l)| [Value::Int(to_int(o)), Value::Int(to_int(l))])
        .collect();
    Ok(Value::Array(flat))
}

/// `VDI.get_nbd_info(self)`: one record per address the NBD server
/// listens on, for this session.
pub async fn get_nbd_info(cx: Ctx, a: VdiGetNbdInfo) -> ApiResult<Value> {
    let infos = crate::domain::nbd::info(cx.domain(), a.self_, cx.session)?;
    Ok(Value::Array(infos))
}
