//! Value generators and normalisations shared by the codec tests.

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use xapid::wire::{DateTime, Ref, Value};

/// Strings that exercise the escaping: markup characters, whitespace-only,
/// empty, non-ASCII, and (when `controls`) characters XML cannot carry.
pub fn arb_string(controls: bool) -> BoxedStrategy<String> {
    let special = if controls {
        "[<>&\"' \t\r\nab\u{e9}\u{20ac}\u{1F600}\u{0}\u{1}\u{1f}\u{7f}]{0,12}"
    } else {
        "[<>&\"' \t\r\nab\u{e9}\u{20ac}\u{1F600}\u{7f}\u{fffd}]{0,12}"
    };
    prop_oneof![
        3 => special,
        1 => "[a-zA-Z0-9_.:-]{0,20}",
        1 => "[ \t\n]{1,4}",
        1 => Just(String::new()),
        1 => "\\PC{0,16}",
    ]
    .boxed()
}

pub fn arb_datetime() -> impl Strategy<Value = DateTime> {
    // 1900..9999
    (-2_208_988_800i64..253_402_300_799).prop_map(DateTime)
}

pub fn arb_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        2 => (0u32..=1000).prop_map(|p| f64::from(p) / 1000.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => -1e6f64..1e6,
    ]
}

/// Any value the server may hold, `Ref` and `I4` included.
pub fn arb_value(controls: bool) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Nil),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::Int),
        1 => any::<i32>().prop_map(Value::I4),
        1 => arb_double().prop_map(Value::Double),
        3 => arb_string(controls).prop_map(Value::from),
        1 => arb_datetime().prop_map(Value::DateTime),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Base64),
        1 => prop_oneof![Just(Ref::NULL), any::<u128>().prop_map(|u| Ref(uuid::Uuid::from_u128(u)))]
            .prop_map(Value::Ref),
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((arb_string(controls), inner), 0..6).prop_map(Value::Struct),
        ]
    })
    .boxed()
}

/// `n` samples of a strategy, deterministically.
pub fn samples<S: Strategy>(s: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| s.new_tree(&mut runner).expect("strategy").current())
        .collect()
}

/// Struct members with later duplicates folded into the first position.
pub fn dedup(members: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in members {
        match out.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// What an XML reader sees of a string we wrote: control characters
/// dropped by the encoder, then XML line-end normalisation.
pub fn xml_text(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|&c| c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    kept.replace("\r\n", "\n").replace('\r', "\n")
}

/// Our `%.16g` of `x`.
pub fn g16(x: f64) -> String {
    let mut out = Vec::new();
    xapid::wire::xmlrpc::write_g16(x, &mut out);
    String::from_utf8(out).unwrap()
}

/// What `decode_value(encode_value(v))` must give: untyped strings for
/// ints and refs, `I4` as `Int`, doubles through `%.16g`.
pub fn after_xml(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::from(xml_text(s)),
        Value::Int(i) => Value::from(i.to_string()),
        Value::I4(i) => Value::Int(i64::from(*i)),
        Value::Ref(r) => Value::from(r.to_string()),
        Value::Double(d) => Value::Double(g16(*d).parse().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(after_xml).collect()),
        Value::Struct(m) => Value::Struct(dedup(
            m.iter().map(|(k, v)| (xml_text(k), after_xml(v))).collect(),
        )),
        other => other.clone(),
    }
}

/// Equality with NaN equal to NaN.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => (x.is_nan() && y.is_nan()) || x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}
