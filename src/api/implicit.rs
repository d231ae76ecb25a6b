//! The implicit messages every class gets from the datamodel: `get_all`,
//! `get_all_records`, `get_record`, `get_by_uuid`, `get_by_name_label`, a
//! getter per field, a setter per RW field, `add_to_`/`remove_from_` per RW
//! map.

use std::sync::Arc;

use uuid::Uuid;

use super::{pieces, Api, ApiError, ApiResult, Args};
use crate::model::field::Field;
use crate::model::{convert, ClassId, FieldValue, MethodKind};
use crate::registry::{Row, Write};
use crate::wire::records::{Format, RecordMap};
use crate::wire::value::ValueStream;
use crate::wire::{Ref, Value};

/// A new row of a class built from a constructor record (`VM.create(args)`
/// and the like): the model's defaults, overwritten by the members the
/// record has, each converted to its field's type (`FIELD_TYPE_ERROR
/// [field]` if it has the wrong one).
pub(crate) struct NewRow<'a> {
    api: &'a Api,
    rec: &'a Value,
    class: ClassId,
    fields: Box<[Value]>,
}

impl<'a> NewRow<'a> {
    /// A row of `class` at the model's defaults, to be filled from `rec`.
    pub(crate) fn new(api: &'a Api, class: ClassId, rec: &'a Value) -> NewRow<'a> {
        NewRow {
            api,
            rec,
            class,
            fields: api.domain.model.default_row(class),
        }
    }

    /// The record's member for field `f`, converted, if it has one.
    pub(crate) fn member<T: FieldValue>(&self, f: Field<T>) -> ApiResult<Option<T>> {
        Ok(self.converted(f)?.map(T::take_value))
    }

    /// Copies the record's member for `f` into the row, if it has one.
    pub(crate) fn copy<T>(&mut self, f: Field<T>) -> ApiResult<()> {
        if let Some(v) = self.converted(f)? {
            self.fields[f] = v;
        }
        Ok(())
    }

    fn converted<T>(&self, f: Field<T>) -> ApiResult<Option<Value>> {
        debug_assert_eq!(f.class(), self.class, "{f:?} on another class");
        let Some(raw) = self.rec.member(f.name()) else {
            return Ok(None);
        };
        let model = &self.api.domain.model;
        let ty = &model.classes[f.class()].fields[f.index()].ty;
        convert::from_wire(model, ty, f.name(), raw.clone()).map(Some)
    }

    /// The row.
    pub(crate) fn finish(self) -> Box<[Value]> {
        self.fields
    }
}

/// The parameters of an implicit message, which dispatch counted and
/// converted against the method's: a different count is a server bug,
/// answered as such rather than with defaults.
fn params<const N: usize>(args: Args) -> ApiResult<[Value; N]> {
    <[Value; N]>::try_from(args.0)
        .map_err(|v| ApiError::internal(format!("{} parameters where {N} were checked", v.len())))
}

/// Runs an implicit message on a class.
pub async fn run(
    server: &Arc<Api>,
    class: ClassId,
    kind: MethodKind,
    args: Args,
    format: Format,
) -> ApiResult<Value> {
    let reg = &server.domain.registry;
    let cname = &server.domain.model.classes[class].name;
    match kind {
        MethodKind::GetField(fi) => {
            let [r] = params(args)?;
            reg.field(class, Ref::take_value(r), fi)
        }
        MethodKind::GetRecord => {
            let [r] = params(args)?;
            reg.read_or(class, Ref::take_value(r), |row| record(server, class, row))
        }
        MethodKind::GetAll => Ok(Value::Array(
            reg.refs(class).into_iter().map(Value::Ref).collect(),
        )),
        MethodKind::GetAllRecords => Ok(stream_records(server, class, format)),
        MethodKind::GetByUuid => {
            let [s] = params(args)?;
            let s = String::take_value(s);
            Uuid::try_parse(s.trim())
                .ok()
                .and_then(|u| reg.by_uuid(class, &u))
                .map(Value::Ref)
                .ok_or_else(|| ApiError::uuid_invalid(cname, s))
        }
        MethodKind::GetByNameLabel => {
            // Any class with a name: its field's index differs by class.
            let fi = server.domain.model.field(class, "name_label");
            let [label] = params(args)?;
            let label = String::take_value(label);
            let mut out = Vec::new();
            reg.for_each(class, |r, row| {
                if row.fields[fi].as_str() == Some(label.as_str()) {
                    out.push(Value::Ref(r));
                }
            });
            Ok(Value::Array(out))
        }
        MethodKind::SetField(fi) => {
            let [r, v] = params(args)?;
            let ((), commit) = reg.update(class, Ref::take_value(r), Write::Durable, |f| {
                f[fi] = v;
                Ok(())
            })?;
            durable(commit).await
        }
        MethodKind::AddToMap(fi) => {
            let [r, key, v] = params(args)?;
            let r = Ref::take_value(r);
            let key = convert::key_string(&key);
            let fname = &server.domain.model.classes[class].fields[fi].name;
            let ((), commit) = reg.update(class, r, Write::Durable, |f| {
                let Value::Struct(m) = &mut f[fi] else {
                    return Err(ApiError::internal(format!("{cname}.{fname} is not a map")));
                };
                if m.iter().any(|(k, _)| *k == key) {
                    return Err(ApiError::map_duplicate_key(cname, fname, r, &key));
                }
                m.push((key, v));
                Ok(())
            })?;
            durable(commit).await
        }
        MethodKind::RemoveFromMap(fi) => {
            let [r, key] = params(args)?;
            let key = convert::key_string(&key);
            let ((), commit) = reg.update(class, Ref::take_value(r), Write::Durable, |f| {
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

/// `get_all_records`: the map is encoded on blocking threads, straight
/// from the rows (no value tree), in pieces on every core, and streamed in
/// order in chunks; the RPC threads stay free and memory stays bounded
/// however many objects there are. The refs are taken first and each row
/// is read under its own lock only while it is encoded, so a slow reader
/// never holds up writers.
fn stream_records(server: &Arc<Api>, class: ClassId, format: Format) -> Value {
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
    let server = server.clone();
    tokio::task::spawn_blocking(move || {
        let reg = &server.domain.registry;
        let fields = &server.domain.model.classes[class].fields;
        let names = RecordMap::new(format).names(fields.iter().map(|f| f.name.as_str()));
        // In the order the rows were made: rows made one after another sit
        // near each other in memory, so the encoder's reads then hit the
        // cache far more often than in hash order (250 -> 170 ms of CPU for
        // 100k tasks).
        let mut order: Vec<(u64, Ref)> = Vec::with_capacity(reg.count(class));
        reg.for_each(class, |r, row| order.push((row.created, r)));
        order.sort_unstable();
        let pieces: Vec<&[(u64, Ref)]> = order.chunks(pieces::PIECE_ROWS).collect();
        let encode = |_: usize, piece: &&[(u64, Ref)]| {
            let mut map = RecordMap::part(format);
            let mut chunks = Vec::new();
            for (_, r) in piece.iter() {
                reg.read(class, *r, |row| {
                    let visible = fields
                        .iter()
                        .zip(names.iter())
                        .zip(row.fields.iter())
                        .filter(|((f, _), _)| !f.internal)
                        .map(|((_, n), v)| (n.as_slice(), v));
                    map.entry(*r, visible);
                });
                chunks.extend(map.take_chunk());
            }
            let rest = map.into_rest();
            if !rest.is_empty() {
                chunks.push(rest);
            }
            chunks
        };
        pieces::stream_joined(
            &tx,
            RecordMap::new(format).into_rest(),
            &pieces,
            RecordMap::separator(format),
            encode,
            || RecordMap::part(format).finish(),
        );
    });
    Value::Stream(ValueStream::new(rx))
}

/// Waits for a change to be on disk, then answers `void`.
pub async fn durable(commit: crate::registry::Commit) -> ApiResult<Value> {
    commit.wait().await.map_err(|e| e.api_error())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_taken_by_count_or_refused() {
        let r = Ref::new();
        let [a, b] = params(Args(vec![Value::Ref(r), Value::Int(1)])).unwrap();
        assert_eq!((Ref::take_value(a), b), (r, Value::Int(1)));
        let e = params::<2>(Args(vec![Value::Ref(r)])).unwrap_err();
        assert_eq!(e.code, crate::model::schema::codes::INTERNAL_ERROR);
    }
}
