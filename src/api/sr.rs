//! `SR`: the directories of image files. The rules (bootstrap, scan,
//! totals) are in [`crate::domain::srs`].

use super::{ApiResult, Ctx};
use crate::domain::scan;
use crate::model::schema::args::SrScan;
use crate::wire::Value;

/// `SR.scan(sr)`.
pub async fn scan(cx: Ctx, a: SrScan) -> ApiResult<Value> {
    let SrScan { sr } = a;
    scan::scan_sr(cx.domain(), sr).await?;
    Ok(Value::void())
}
