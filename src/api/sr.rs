//! `SR`: the directories of image files. The rules (bootstrap, scan,
//! totals) are in [`crate::domain::srs`].

use super::{ApiResult, Args, BoxFuture, Ctx};
use crate::domain::srs;
use crate::wire::Value;

/// `SR.scan(sr)`.
pub fn scan(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        srs::scan_sr(cx.domain(), a.r(0)).await?;
        Ok(Value::void())
    })
}
