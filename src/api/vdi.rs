//! `VDI`: image files in SRs. The rules are in [`crate::domain::vdis`] and
//! [`crate::domain::snapshots`]; copy and clone run as backup jobs
//! ([`crate::jobs::copies`]).

use super::implicit::{record_member, row_from_record};
use super::{ApiError, ApiResult, Args, BoxFuture, Ctx};
use crate::domain::vdis::{self, NewVdi};
use crate::domain::{invalid, snapshots, tasks};
use crate::jobs::copies;
use crate::storage::image::Format;
use crate::wire::Value;

/// `VDI.create(args)`.
pub fn create(cx: Ctx, mut a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let d = cx.domain();
        let v = &d.ids.vdi;
        let rec = a.take(0);
        let missing = |f: &str| ApiError::new("FIELD_TYPE_ERROR", [f.to_string()]);
        let sr = match record_member(&cx.api, &rec, v.class, "SR")?.ok_or_else(|| missing("SR"))? {
            Value::Ref(r) => r,
            _ => return Err(missing("SR")),
        };
        let size = match record_member(&cx.api, &rec, v.class, "virtual_size")?
            .ok_or_else(|| missing("virtual_size"))?
        {
            Value::Int(n) => n,
            _ => return Err(missing("virtual_size")),
        };
        let size = vdis::check_size("virtual_size", size)?;
        d.srs.get(sr)?;
        let fields = row_from_record(
            &cx.api,
            v.class,
            &rec,
            &[
                "name_label",
                "name_description",
                "type",
                "sharable",
                "read_only",
                "other_config",
                "sm_config",
            ],
        )?;
        let format = match fields[v.sm_config].map_get("image-format") {
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
            Some(t) => tasks::commit_on_success(d, t, v.class, r),
            None => vdis::commit(d, r).await?,
        }
        Ok(Value::Ref(r))
    })
}

/// `VDI.destroy(self)`.
pub fn destroy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        vdis::destroy(cx.domain(), a.r(0), cx.owner()).await?;
        Ok(Value::void())
    })
}

/// `VDI.resize(vdi, size)`.
pub fn resize(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        vdis::resize(cx.domain(), a.r(0), a.i64(1), cx.owner()).await?;
        Ok(Value::void())
    })
}

/// `VDI.snapshot(vdi, driver_params)`: the current file becomes the
/// snapshot (a second name for it, at once), and a new qcow2 overlay with
/// it as backing replaces the VDI's file in one rename.
pub fn snapshot(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        snapshots::take(cx.domain(), a.r(0), cx.owner())
            .await
            .map(Value::Ref)
    })
}

/// `VDI.copy(vdi, sr)`.
pub fn copy(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let (vdi, sr) = (a.r(0), a.r(1));
        copies::full_copy(cx.jobs(), vdi, sr, "copy", cx.caller(), cx.task)
            .await
            .map(Value::Ref)
    })
}

/// `VDI.clone(vdi, driver_params)`.
pub fn clone(cx: Ctx, a: Args) -> BoxFuture<ApiResult<Value>> {
    Box::pin(async move {
        let vdi = a.r(0);
        let (sr, _, _) = vdis::file_of(cx.domain(), vdi)?;
        copies::full_copy(cx.jobs(), vdi, sr, "clone", cx.caller(), cx.task)
            .await
            .map(Value::Ref)
    })
}
