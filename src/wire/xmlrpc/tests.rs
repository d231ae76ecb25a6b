//! The codec's unit tests, one file per concept; the helpers here are
//! shared. Round trips of generated values and the differential test
//! against Python live in the crate's `tests/`.

use super::*;
use crate::wire::{Limits, MethodCall, Reply, Value};

mod decode;
mod encode;
mod fast;
mod reject;

fn lim() -> Limits {
    Limits::default()
}

fn call(body: &str) -> Result<MethodCall, DecodeError> {
    decode_call(body.as_bytes(), &lim())
}

/// Decodes `<value>` markup as the one parameter of a call.
fn param(value: &str) -> Result<Value, DecodeError> {
    let body = format!(
        "<methodCall><methodName>m</methodName><params><param>{value}</param></params></methodCall>"
    );
    let mut c = call(&body)?;
    assert_eq!(c.params.len(), 1);
    Ok(c.params.remove(0))
}

fn s(x: &str) -> Value {
    Value::from(x)
}

fn enc(v: &Value) -> String {
    let mut out = Vec::new();
    encode_value(v, &mut out);
    String::from_utf8(out).unwrap()
}

fn reply(r: &Reply) -> String {
    let mut out = Vec::new();
    encode_reply(r, &mut out);
    String::from_utf8(out).unwrap()
}
