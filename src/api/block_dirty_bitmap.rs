//! `block_dirty_bitmap`: QEMU's named dirty bitmaps of a VDI (a xapid
//! extension). The rules are in [`crate::domain::bitmaps`].

use super::{ApiResult, Ctx};
use crate::domain::bitmaps;
use crate::model::schema::args::{
    BlockDirtyBitmapAdd, BlockDirtyBitmapClear, BlockDirtyBitmapDisable, BlockDirtyBitmapEnable,
    BlockDirtyBitmapMerge, BlockDirtyBitmapRemove,
};
use crate::wire::Value;

/// `block_dirty_bitmap.add(vdi, name, options)`.
pub async fn add(cx: Ctx, a: BlockDirtyBitmapAdd) -> ApiResult<Value> {
    bitmaps::add(cx.domain(), a.vdi, &a.name, &a.options)
        .await
        .map(Value::Ref)
}

/// `block_dirty_bitmap.remove(self)`.
pub async fn remove(cx: Ctx, a: BlockDirtyBitmapRemove) -> ApiResult<Value> {
    bitmaps::remove(cx.domain(), a.self_).await?;
    Ok(Value::void())
}

/// `block_dirty_bitmap.clear(self)`.
pub async fn clear(cx: Ctx, a: BlockDirtyBitmapClear) -> ApiResult<Value> {
    bitmaps::clear(cx.domain(), a.self_).await?;
    Ok(Value::void())
}

/// `block_dirty_bitmap.enable(self)`.
pub async fn enable(cx: Ctx, a: BlockDirtyBitmapEnable) -> ApiResult<Value> {
    bitmaps::set_recording(cx.domain(), a.self_, true).await?;
    Ok(Value::void())
}

/// `block_dirty_bitmap.disable(self)`.
pub async fn disable(cx: Ctx, a: BlockDirtyBitmapDisable) -> ApiResult<Value> {
    bitmaps::set_recording(cx.domain(), a.self_, false).await?;
    Ok(Value::void())
}

/// `block_dirty_bitmap.merge(target, sources)`.
pub async fn merge(cx: Ctx, a: BlockDirtyBitmapMerge) -> ApiResult<Value> {
    bitmaps::merge(cx.domain(), a.target, &a.sources).await?;
    Ok(Value::void())
}
