//! The JSON-RPC codec (versions 1.0 and 2.0, as xapi speaks them on
//! `/jsonrpc`).
//!
//! Requests are deserialised straight into [`Value`]s by a visitor that
//! bounds nesting and element count; replies are written with serde_json's
//! string escaping and number formatting.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserializer as _, Serialize, Serializer};

use super::members::Members;
use super::value::Value;
use super::{base64, DecodeError, Limits, MethodCall, Reply};

/// The JSON-RPC dialect of a request, answered in kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// No `"jsonrpc"` member (or not `"2.0"`): `{result, error, id}`.
    V1,
    /// `"jsonrpc": "2.0"`.
    V2,
}

/// A decoded JSON-RPC request.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonCall {
    /// Method and positional parameters.
    pub call: MethodCall,
    /// The request id, echoed in the reply.
    pub id: serde_json::Value,
    /// The dialect to answer in.
    pub version: Version,
}

const E_MALFORMED: DecodeError = DecodeError("malformed JSON");
const E_NOT_OBJECT: DecodeError = DecodeError("request is not an object");
const E_METHOD: DecodeError = DecodeError("missing method");
const E_NO_ID: DecodeError = DecodeError("missing id");
const E_PARAMS: DecodeError = DecodeError("params is not an array");
const E_DUPLICATE: DecodeError = DecodeError("duplicate key");
const E_DEPTH: DecodeError = DecodeError("nesting too deep");
const E_ELEMENTS: DecodeError = DecodeError("too many elements");

/// Decoding state shared by the visitors: limits, count, and the reason
/// of the first error (serde errors carry strings, we want a static one).
struct Ctx {
    max_depth: usize,
    max_elements: usize,
    count: Cell<usize>,
    reason: Cell<Option<&'static str>>,
}

impl Ctx {
    fn fail<E: de::Error>(&self, reason: DecodeError) -> E {
        if self.reason.get().is_none() {
            self.reason.set(Some(reason.0));
        }
        E::custom(reason.0)
    }

    fn count<E: de::Error>(&self) -> Result<(), E> {
        let n = self.count.get() + 1;
        self.count.set(n);
        if n > self.max_elements {
            return Err(self.fail(E_ELEMENTS));
        }
        Ok(())
    }
}

/// Decodes a JSON-RPC request body.
pub fn decode_call(body: &[u8], limits: &Limits) -> Result<JsonCall, DecodeError> {
    let ctx = Ctx {
        max_depth: limits.max_depth,
        max_elements: limits.max_elements,
        count: Cell::new(0),
        reason: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let res = de
        .deserialize_any(CallVisitor { ctx: &ctx })
        .and_then(|call| de.end().map(|()| call));
    match res {
        Ok(call) => Ok(call),
        Err(_) => Err(ctx.reason.get().map_or(E_MALFORMED, DecodeError)),
    }
}

struct CallVisitor<'c> {
    ctx: &'c Ctx,
}

enum Field {
    Method,
    Params,
    Id,
    Jsonrpc,
    Other,
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Field, E> {
                Ok(match s {
                    "method" => Field::Method,
                    "params" => Field::Params,
                    "id" => Field::Id,
                    "jsonrpc" => Field::Jsonrpc,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_str(FieldVisitor)
    }
}

impl<'de> Visitor<'de> for CallVisitor<'_> {
    type Value = JsonCall;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonCall, A::Error> {
        let ctx = self.ctx;
        let mut method: Option<String> = None;
        let mut params: Option<Vec<Value>> = None;
        let mut id: Option<serde_json::Value> = None;
        let mut jsonrpc: Option<serde_json::Value> = None;
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Method => {
                    if method.is_some() {
                        return Err(ctx.fail(E_DUPLICATE));
                    }
                    let m: serde_json::Value = map.next_value()?;
                    match m {
                        serde_json::Value::String(s) => method = Some(s),
                        _ => return Err(ctx.fail(E_METHOD)),
                    }
                }
                Field::Params => {
                    if params.is_some() {
                        return Err(ctx.fail(E_DUPLICATE));
                    }
                    params = Some(map.next_value_seed(ParamsSeed { ctx })?);
                }
                Field::Id => {
                    if id.is_some() {
                        return Err(ctx.fail(E_DUPLICATE));
                    }
                    id = Some(map.next_value()?);
                }
                Field::Jsonrpc => {
                    if jsonrpc.is_some() {
                        return Err(ctx.fail(E_DUPLICATE));
                    }
                    jsonrpc = Some(map.next_value()?);
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let method = method.ok_or_else(|| ctx.fail(E_METHOD))?;
        let id = id.ok_or_else(|| ctx.fail(E_NO_ID))?;
        let version = match jsonrpc {
            Some(serde_json::Value::String(s)) if s == "2.0" => Version::V2,
            _ => Version::V1,
        };
        Ok(JsonCall {
            call: MethodCall {
                method,
                params: params.unwrap_or_default(),
            },
            id,
            version,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<JsonCall, A::Error> {
        Err(self.ctx.fail(E_NOT_OBJECT))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonCall, E> {
        Err(self.ctx.fail(E_NOT_OBJECT))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonCall, E> {
        Err(self.ctx.fail(E_NOT_OBJECT))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonCall, E> {
        Err(self.ctx.fail(E_NOT_OBJECT))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonCall, E> {
        Err(self.ctx.fail(E_NOT_OBJECT))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonCall, E> {
        Err(self.ctx.fail(E_NOT_OBJECT))
    }
    fn visit_unit<E: de::Error>(self) -> Result<JsonCall, E> {
        Err(self.ctx.fail(E_NOT_OBJECT))
    }
}

/// `params`: an array of values; `null` is no parameters.
struct ParamsSeed<'c> {
    ctx: &'c Ctx,
}

impl<'de> DeserializeSeed<'de> for ParamsSeed<'_> {
    type Value = Vec<Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ParamsSeed<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of parameters")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<Value>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed {
            ctx: self.ctx,
            depth: 0,
        })? {
            out.push(v);
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Vec<Value>, A::Error> {
        Err(self.ctx.fail(E_PARAMS))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<Value>, E> {
        Err(self.ctx.fail(E_PARAMS))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<Value>, E> {
        Err(self.ctx.fail(E_PARAMS))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<Value>, E> {
        Err(self.ctx.fail(E_PARAMS))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<Value>, E> {
        Err(self.ctx.fail(E_PARAMS))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<Value>, E> {
        Err(self.ctx.fail(E_PARAMS))
    }
}

/// One value, `depth` containers deep inside its parameter.
#[derive(Clone, Copy)]
struct ValueSeed<'c> {
    ctx: &'c Ctx,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'c> ValueSeed<'c> {
    fn enter<E: de::Error>(&self) -> Result<ValueSeed<'c>, E> {
        if self.depth >= self.ctx.max_depth {
            return Err(self.ctx.fail(E_DEPTH));
        }
        Ok(ValueSeed {
            ctx: self.ctx,
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.ctx.count()?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.ctx.count()?;
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.ctx.count()?;
        Ok(match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Double(u as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, d: f64) -> Result<Value, E> {
        self.ctx.count()?;
        Ok(Value::Double(d))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.ctx.count()?;
        Ok(Value::from(s))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.ctx.count()?;
        Ok(Value::from(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.ctx.count()?;
        Ok(Value::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.ctx.count()?;
        let inner = self.enter()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(inner)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.ctx.count()?;
        let inner = self.enter()?;
        let mut members = Members::default();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(inner)?;
            members.insert(k, v);
        }
        Ok(Value::Struct(members.into_vec()))
    }
}

// ---------------------------------------------------------------------------
// Encoding.

/// A [`Value`] as JSON.
struct Json<'a>(&'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::I4(i) => s.serialize_i32(*i),
            Value::Double(d) if d.is_finite() => s.serialize_f64(*d),
            Value::Double(_) => s.serialize_unit(),
            Value::String(x) => s.serialize_str(x),
            Value::Ref(r) => s.collect_str(r),
            Value::DateTime(dt) => {
                let mut buf = Vec::with_capacity(18);
                dt.write_to(&mut buf);
                s.serialize_str(std::str::from_utf8(&buf).unwrap_or_default())
            }
            Value::Base64(bytes) => s.serialize_str(&base64::encode(bytes)),
            // Streamed by the HTTP layer; never nested.
            Value::Stream(_) => s.serialize_unit(),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Json(v))?;
                }
                seq.end()
            }
            Value::Struct(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, &Json(v))?;
                }
                map.end()
            }
        }
    }
}

/// Writes one value as JSON.
pub(crate) fn write_value(v: &Value, out: &mut Vec<u8>) {
    write_json(&Json(v), out);
}

/// Writes a string as a JSON string.
pub(crate) fn write_str(v: &str, out: &mut Vec<u8>) {
    write_json(v, out);
}

fn write_json<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and every map key is a string.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Writes the reply to a call, in the call's dialect.
pub fn encode_reply(reply: &Reply, id: &serde_json::Value, version: Version, out: &mut Vec<u8>) {
    match (reply, version) {
        (Reply::Success(v) | Reply::Bare(v), Version::V1) => {
            out.extend_from_slice(b"{\"result\":");
            write_value(v, out);
            out.extend_from_slice(b",\"error\":null,\"id\":");
        }
        (Reply::Success(v) | Reply::Bare(v), Version::V2) => {
            out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"result\":");
            write_value(v, out);
            out.extend_from_slice(b",\"id\":");
        }
        (Reply::Failure(desc), Version::V1) => {
            out.extend_from_slice(b"{\"result\":null,\"error\":");
            write_json(desc, out);
            out.extend_from_slice(b",\"id\":");
        }
        (Reply::Failure(desc), Version::V2) => {
            out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":");
            write_json(desc.first().map_or("", String::as_str), out);
            out.extend_from_slice(b",\"data\":");
            write_json(desc.get(1..).unwrap_or_default(), out);
            out.extend_from_slice(b"},\"id\":");
        }
    }
    write_json(id, out);
    out.push(b'}');
}

/// Writes a protocol-level error (`-32700` parse error, `-32600` invalid
/// request, ...): V2 `{"jsonrpc":"2.0","error":{"code":C,"message":M},"id":ID}`,
/// V1 `{"result":null,"error":{"code":C,"message":M},"id":ID}`; a missing id
/// is `null`.
pub fn encode_error(
    id: Option<&serde_json::Value>,
    version: Version,
    code: i64,
    message: &str,
    out: &mut Vec<u8>,
) {
    match version {
        Version::V1 => out.extend_from_slice(b"{\"result\":null,\"error\":{\"code\":"),
        Version::V2 => out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":"),
    }
    write_json(&code, out);
    out.extend_from_slice(b",\"message\":");
    write_json(message, out);
    out.extend_from_slice(b"},\"id\":");
    match id {
        Some(id) => write_json(id, out),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{DateTime, Ref};
    use serde_json::json;

    fn dec(body: &str) -> Result<JsonCall, DecodeError> {
        decode_call(body.as_bytes(), &Limits::default())
    }

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    fn reply(r: &Reply, id: serde_json::Value, v: Version) -> String {
        let mut out = Vec::new();
        encode_reply(r, &id, v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn v1_and_v2_calls() {
        let c = dec(
            r#"{"method":"session.login_with_password","params":["root","pw","1.0","xo"],"id":1}"#,
        )
        .unwrap();
        assert_eq!(c.version, Version::V1);
        assert_eq!(c.id, json!(1));
        assert_eq!(c.call.method, "session.login_with_password");
        assert_eq!(c.call.params, vec![s("root"), s("pw"), s("1.0"), s("xo")]);

        let c =
            dec(r#" {"jsonrpc":"2.0","id":"abc","method":"VM.get_all","params":["OpaqueRef:x"]} "#)
                .unwrap();
        assert_eq!(c.version, Version::V2);
        assert_eq!(c.id, json!("abc"));
        assert_eq!(c.call.params, vec![s("OpaqueRef:x")]);

        let c = dec(r#"{"jsonrpc":"1.0","method":"m","id":null}"#).unwrap();
        assert_eq!(c.version, Version::V1);
        assert_eq!(c.id, json!(null));
        assert!(c.call.params.is_empty());

        let c = dec(r#"{"method":"m","params":null,"id":[1],"extra":{"a":[1,2]}}"#).unwrap();
        assert!(c.call.params.is_empty());
        assert_eq!(c.id, json!([1]));
    }

    #[test]
    fn json_to_value() {
        let c = dec(
            r#"{"method":"m","id":0,"params":[1,-2,9223372036854775807,9223372036854775808,1.5,1e3,"s",null,true,false,[],{},[1,[2]],{"b":1,"a":{"c":null}},"é\u0000"]}"#,
        )
        .unwrap();
        assert_eq!(
            c.call.params,
            vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Int(i64::MAX),
                Value::Double(9_223_372_036_854_775_808.0),
                Value::Double(1.5),
                Value::Double(1000.0),
                s("s"),
                Value::Nil,
                Value::Bool(true),
                Value::Bool(false),
                Value::Array(vec![]),
                Value::Struct(vec![]),
                Value::Array(vec![Value::Int(1), Value::Array(vec![Value::Int(2)])]),
                Value::Struct(vec![
                    ("b".into(), Value::Int(1)),
                    ("a".into(), Value::Struct(vec![("c".into(), Value::Nil)])),
                ]),
                s("é\u{0}"),
            ]
        );
    }

    #[test]
    fn duplicate_object_keys_last_wins_first_position() {
        let c = dec(r#"{"method":"m","id":0,"params":[{"a":1,"b":2,"a":3}]}"#).unwrap();
        assert_eq!(
            c.call.params,
            vec![Value::Struct(vec![
                ("a".into(), Value::Int(3)),
                ("b".into(), Value::Int(2))
            ])]
        );
    }

    #[test]
    fn rejections() {
        assert_eq!(dec(r#"{"method":"m","params":[]}"#), Err(E_NO_ID));
        assert_eq!(dec(r#"{"params":[],"id":1}"#), Err(E_METHOD));
        assert_eq!(dec(r#"{"method":1,"id":1}"#), Err(E_METHOD));
        assert_eq!(
            dec(r#"{"method":"m","params":{"a":1},"id":1}"#),
            Err(E_PARAMS)
        );
        assert_eq!(dec(r#"{"method":"m","params":"x","id":1}"#), Err(E_PARAMS));
        assert_eq!(
            dec(r#"{"method":"m","method":"n","id":1}"#),
            Err(E_DUPLICATE)
        );
        assert_eq!(dec(r#"{"method":"m","id":1,"id":2}"#), Err(E_DUPLICATE));
        assert_eq!(dec(r#"[{"method":"m","id":1}]"#), Err(E_NOT_OBJECT));
        assert_eq!(dec(r#""m""#), Err(E_NOT_OBJECT));
        assert_eq!(dec(r#"{"method":"m","id":1} x"#), Err(E_MALFORMED));
        assert_eq!(dec(r#"{"method":"m","id":1"#), Err(E_MALFORMED));
        assert_eq!(dec(""), Err(E_MALFORMED));
        assert_eq!(dec(r#"{"method":"m","id":1,}"#), Err(E_MALFORMED));
        assert_eq!(
            decode_call(b"{\"method\":\"m\xff\",\"id\":1}", &Limits::default()),
            Err(E_MALFORMED)
        );
    }

    #[test]
    fn depth_and_element_limits() {
        let l = Limits {
            max_depth: 3,
            max_elements: 100,
        };
        let ok = r#"{"method":"m","id":1,"params":[[[["x"]]]]}"#;
        assert!(decode_call(ok.as_bytes(), &l).is_ok());
        let deep = r#"{"method":"m","id":1,"params":[[[[["x"]]]]]}"#;
        assert_eq!(decode_call(deep.as_bytes(), &l), Err(E_DEPTH));
        let deep = r#"{"method":"m","id":1,"params":[{"a":{"b":{"c":{"d":1}}}}]}"#;
        assert_eq!(decode_call(deep.as_bytes(), &l), Err(E_DEPTH));

        let very = format!(
            r#"{{"method":"m","id":1,"params":[{}{}]}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(dec(&very), Err(E_DEPTH));
        // Past serde_json's own limit (128) it is still an error.
        let l = Limits {
            max_depth: 10_000,
            max_elements: 1_000_000,
        };
        assert!(decode_call(very.as_bytes(), &l).is_err());

        let l = Limits {
            max_depth: 64,
            max_elements: 5,
        };
        assert!(decode_call(br#"{"method":"m","id":1,"params":[1,2,3,4,5]}"#, &l).is_ok());
        assert_eq!(
            decode_call(br#"{"method":"m","id":1,"params":[1,2,[3,4,5]]}"#, &l),
            Err(E_ELEMENTS)
        );
    }

    #[test]
    fn replies() {
        let r = Ref::new();
        assert_eq!(
            reply(&Reply::Success(Value::Ref(r)), json!(1), Version::V1),
            format!(r#"{{"result":"{r}","error":null,"id":1}}"#)
        );
        assert_eq!(
            reply(&Reply::Success(Value::Int(5)), json!("x"), Version::V2),
            r#"{"jsonrpc":"2.0","result":5,"id":"x"}"#
        );
        assert_eq!(
            reply(
                &Reply::Bare(Value::Array(vec![s("a")])),
                json!(null),
                Version::V2
            ),
            r#"{"jsonrpc":"2.0","result":["a"],"id":null}"#
        );
        assert_eq!(
            reply(
                &Reply::Failure(vec![
                    "HANDLE_INVALID".into(),
                    "VM".into(),
                    "OpaqueRef:x".into()
                ]),
                json!(3),
                Version::V1
            ),
            r#"{"result":null,"error":["HANDLE_INVALID","VM","OpaqueRef:x"],"id":3}"#
        );
        assert_eq!(
            reply(
                &Reply::Failure(vec![
                    "HANDLE_INVALID".into(),
                    "VM".into(),
                    "OpaqueRef:x".into()
                ]),
                json!(3),
                Version::V2
            ),
            r#"{"jsonrpc":"2.0","error":{"code":1,"message":"HANDLE_INVALID","data":["VM","OpaqueRef:x"]},"id":3}"#
        );
        assert_eq!(
            reply(&Reply::Failure(vec![]), json!(3), Version::V2),
            r#"{"jsonrpc":"2.0","error":{"code":1,"message":"","data":[]},"id":3}"#
        );
    }

    #[test]
    fn value_to_json() {
        let v = Value::Struct(vec![
            ("i".into(), Value::Int(-3)),
            ("i4".into(), Value::I4(7)),
            ("d".into(), Value::Double(0.5)),
            ("nan".into(), Value::Double(f64::NAN)),
            ("inf".into(), Value::Double(f64::INFINITY)),
            ("s".into(), s("q\"\n\u{1}")),
            ("null".into(), Value::Ref(Ref::NULL)),
            ("t".into(), Value::DateTime(DateTime(1_795_420_800))),
            ("b64".into(), Value::Base64(b"hello".to_vec())),
            ("nil".into(), Value::Nil),
            ("b".into(), Value::Bool(true)),
            (
                "a".into(),
                Value::Array(vec![Value::Int(1), Value::Array(vec![])]),
            ),
            ("e".into(), Value::Struct(vec![])),
        ]);
        assert_eq!(
            reply(&Reply::Success(v), json!(1), Version::V2),
            r#"{"jsonrpc":"2.0","result":{"i":-3,"i4":7,"d":0.5,"nan":null,"inf":null,"s":"q\"\n\u0001","null":"OpaqueRef:NULL","t":"20261123T08:00:00Z","b64":"aGVsbG8=","nil":null,"b":true,"a":[1,[]],"e":{}},"id":1}"#
        );
    }

    #[test]
    fn protocol_errors() {
        let mut out = Vec::new();
        encode_error(None, Version::V2, -32700, "parse error", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error"},"id":null}"#
        );
        let mut out = Vec::new();
        encode_error(
            Some(&json!(4)),
            Version::V1,
            -32601,
            "no \"such\" method",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"result":null,"error":{"code":-32601,"message":"no \"such\" method"},"id":4}"#
        );
    }
}
