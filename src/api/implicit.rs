//! The implicit messages every class gets from the datamodel: `get_all`,
//! `get_all_records`, `get_record`, `get_by_uuid`, `get_by_name_label`, a
//! getter per field, a setter per RW field, `add_to_`/`remove_from_` per RW
//! map.

use std::sync::Arc;

use uuid::Uuid;

use super::{Api, ApiError, ApiResult, Args};
use crate::model::{convert, ClassId, MethodKind};
use crate::registry::{Row, Write};
use crate::wire::records::{Format, RecordMap};
use crate::wire::value::ValueStream;
use crate::wire::Value;

/// One optional member of a constructor record (`VM.create(args)` and
/// the like), converted to the field's type (`FIELD_TYPE_ERROR [field]`
/// if it has the wrong type).
pub(crate) fn record_member(
    server: &Api,
    rec: &Value,
    class: ClassId,
    name: &str,
) -> ApiResult<Option<Value>> {
    let Some(raw) = rec.member(name) else {
        return Ok(None);
    };
    let fi = server.domain.model.field(class, name);
    let ty = &server.domain.model.classes[class].fields[fi].ty;
    convert::from_wire(&server.domain.model, ty, name, raw.clone()).map(Some)
}

/// A new row of `class`: the model's defaults, with the members `names`
/// of a constructor record where it has them.
pub(crate) fn row_from_record(
    server: &Api,
    class: ClassId,
    rec: &Value,
    names: &[&str],
) -> ApiResult<Box<[Value]>> {
    let mut f = server.domain.model.default_row(class);
    for &name in names {
        if let Some(v) = record_member(server, rec, class, name)? {
            f[server.domain.model.field(class, name)] = v;
        }
    }
    Ok(f)
}

/// Runs an implicit message on a class.
pub async fn run(
    server: &Arc<Api>,
    class: ClassId,
    kind: MethodKind,
    mut args: Args,
    format: Format,
) -> ApiResult<Value> {
    let reg = &server.domain.registry;
    let cname = &server.domain.model.classes[class].name;
    match kind {
        MethodKind::GetField(fi) => reg.field(class, args.r(0), fi),
        MethodKind::GetRecord => reg.read_or(class, args.r(0), |row| record(server, class, row)),
        MethodKind::GetAll => Ok(Value::Array(
            reg.refs(class).into_iter().map(Value::Ref).collect(),
        )),
        MethodKind::GetAllRecords => Ok(stream_records(server, class, format)),
        MethodKind::GetByUuid => {
            let s = args.str(0);
            Uuid::try_parse(s.trim())
                .ok()
                .and_then(|u| reg.by_uuid(class, &u))
                .map(Value::Ref)
                .ok_or_else(|| ApiError::new("UUID_INVALID", [cname.as_str(), s]))
        }
        MethodKind::GetByNameLabel => {
            let fi = server.domain.model.field(class, "name_label");
            let label = args.str(0);
            let mut out = Vec::new();
            reg.for_each(class, |r, row| {
                if row.fields[fi].as_str() == Some(label) {
                    out.push(Value::Ref(r));
                }
            });
            Ok(Value::Array(out))
        }
        MethodKind::SetField(fi) => {
            let r = args.r(0);
            let v = args.take(1);
            let ((), commit) = reg.update(class, r, Write::Durable, |f| {
                f[fi] = v;
                Ok(())
            })?;
            durable(commit).await
        }
        MethodKind::AddToMap(fi) => {
            let r = args.r(0);
            let key = convert::key_string(&args.take(1));
            let v = args.take(2);
            let fname = &server.domain.model.classes[class].fields[fi].name;
            let ((), commit) = reg.update(class, r, Write::Durable, |f| {
                let Value::Struct(m) = &mut f[fi] else {
                    return Err(ApiError::internal(format!("{cname}.{fname} is not a map")));
                };
                if m.iter().any(|(k, _)| *k == key) {
                    return Err(ApiError::new(
                        "MAP_DUPLICATE_KEY",
                        [cname.clone(), fname.clone(), r.to_string(), key.clone()],
                    ));
                }
                m.push((key, v));
                Ok(())
            })?;
            durable(commit).await
        }
        MethodKind::RemoveFromMap(fi) => {
            let r = args.r(0);
            let key = convert::key_string(&args.take(1));
            let ((), commit) = reg.update(class, r, Write::Durable, |f| {
                if let Value::Struct(m) = &mut f[fi] {
                    m.retain(|(k, _)| *k != key);
                }
                Ok(())
            })?;
            durable(commit).await
        }
        MethodKind::Explicit(_) | MethodKind::ListMethods => {
            Err(ApiError::internal("not an implicit message"))
        }
    }
}

/// `get_all_records`: the map is encoded on a blocking thread, straight
/// from the rows (no value tree), and streamed in chunks; the RPC threads
/// stay free and memory stays bounded however many objects there are. The
/// refs are taken first and each row is read under its own lock only while
/// it is encoded, so a slow reader never holds up writers.
fn stream_records(server: &Arc<Api>, class: ClassId, format: Format) -> Value {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let server = server.clone();
    tokio::task::spawn_blocking(move || {
        let reg = &server.domain.registry;
        let fields = &server.domain.model.classes[class].fields;
        let mut map = RecordMap::new(format);
        let names = map.names(fields.iter().map(|f| f.name.as_str()));
        // In the order the rows were made: rows made one after another sit
        // near each other in memory, so the encoder's reads then hit the
        // cache far more often than in hash order (250 -> 170 ms of CPU for
        // 100k tasks).
        let mut order: Vec<(u64, crate::wire::Ref)> = Vec::with_capacity(reg.count(class));
        reg.for_each(class, |r, row| order.push((row.created, r)));
        order.sort_unstable();
        for (_, r) in order {
            reg.read(class, r, |row| {
                let visible = fields
                    .iter()
                    .zip(names.iter())
                    .zip(row.fields.iter())
                    .filter(|((f, _), _)| !f.internal)
                    .map(|((_, n), v)| (n.as_slice(), v));
                map.entry(r, visible);
            });
            if let Some(chunk) = map.take_chunk() {
                if tx.blocking_send(chunk.into()).is_err() {
                    return; // the client went away
                }
            }
        }
        let _ = tx.blocking_send(map.finish().into());
    });
    Value::Stream(ValueStream::new(rx))
}

/// Waits for a change to be on disk, then answers `void`.
pub async fn durable(commit: crate::registry::Commit) -> ApiResult<Value> {
    commit.wait().await.map_err(ApiError::internal)?;
    Ok(Value::void())
}

/// A row as the client sees it: every field but the internal ones.
pub fn record(server: &Api, class: ClassId, row: &Row) -> Value {
    let c = &server.domain.model.classes[class];
    Value::Struct(
        c.fields
            .iter()
            .zip(row.fields.iter())
            .filter(|(f, _)| !f.internal)
            .map(|(f, v)| (f.name.clone(), v.clone()))
            .collect(),
    )
}
