//! Property tests: what we encode, we (and the shapes clients send) decode.

#[path = "codec/gen.rs"]
mod gen;

use gen::*;
use proptest::prelude::*;
use xapid::wire::{base64, jsonrpc, xmlrpc, Limits, Reply, Value};

fn lim() -> Limits {
    Limits::default()
}

/// XML escaping for the typed test encoder: everything that could be
/// altered by a reader is a character reference, so strings come back
/// exactly.
fn esc(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// A tiny deterministic source of formatting choices.
struct Fmt(u64);

impl Fmt {
    fn bit(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 1 == 1
    }
    fn ws(&mut self, out: &mut String) {
        if self.bit() {
            out.push_str(if self.bit() { "\n" } else { " \t\r\n " });
        }
    }
}

/// Writes `v` the way a verbose client would: typed elements everywhere,
/// whitespace between tags, comments now and then, `<string>` or untyped.
fn typed(v: &Value, f: &mut Fmt, out: &mut String) {
    out.push_str("<value>");
    match v {
        Value::Nil => out.push_str(if f.bit() {
            "<nil/>"
        } else {
            "<ex:nil></ex:nil>"
        }),
        Value::Bool(b) => {
            out.push_str("<boolean>");
            out.push_str(match (b, f.bit()) {
                (true, true) => "1",
                (true, false) => "true",
                (false, true) => "0",
                (false, false) => "False",
            });
            out.push_str("</boolean>");
        }
        Value::Int(i) => {
            let t = if f.bit() { "i8" } else { "int" };
            out.push_str(&format!("<{t}> {i} </{t}>"));
        }
        Value::Double(d) => out.push_str(&format!("<double>{d:?}</double>")),
        Value::String(s) => {
            if f.bit() || s.is_empty() {
                out.push_str("<string>");
                esc(s, out);
                out.push_str("</string>");
            } else {
                esc(s, out);
            }
        }
        Value::DateTime(dt) => {
            out.push_str("<dateTime.iso8601>");
            out.push_str(&dt.to_xapi_string());
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(b) => {
            out.push_str("<base64>");
            let text = base64::encode(b);
            for (i, chunk) in text.as_bytes().chunks(8).enumerate() {
                if i > 0 && f.bit() {
                    out.push('\n');
                }
                out.push_str(std::str::from_utf8(chunk).unwrap());
            }
            out.push_str("</base64>");
        }
        Value::Array(items) => {
            out.push_str("<array>");
            f.ws(out);
            if items.is_empty() && f.bit() {
                out.push_str("<data/>");
            } else {
                out.push_str("<data>");
                for item in items {
                    f.ws(out);
                    typed(item, f, out);
                }
                f.ws(out);
                out.push_str("</data>");
            }
            f.ws(out);
            out.push_str("</array>");
        }
        Value::Struct(m) => {
            out.push_str("<struct>");
            for (k, v) in m {
                f.ws(out);
                out.push_str("<member>");
                f.ws(out);
                out.push_str("<name>");
                esc(k, out);
                out.push_str("</name>");
                f.ws(out);
                if f.bit() {
                    out.push_str("<!-- member -->");
                }
                typed(v, f, out);
                f.ws(out);
                out.push_str("</member>");
            }
            f.ws(out);
            out.push_str("</struct>");
        }
        Value::Ref(_) | Value::I4(_) | Value::Stream(_) => unreachable!("not generated"),
    }
    out.push_str("</value>");
}

/// Values as a client can send them (no `Ref`/`I4`, no control
/// characters, which XML cannot carry).
fn client_value(v: &Value) -> Value {
    match v {
        Value::Ref(r) => Value::from(r.to_string()),
        Value::I4(i) => Value::Int(i64::from(*i)),
        Value::String(s) => Value::from(strip_controls(s)),
        Value::Array(items) => Value::Array(items.iter().map(client_value).collect()),
        Value::Struct(m) => Value::Struct(
            m.iter()
                .map(|(k, v)| (strip_controls(k), client_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn strip_controls(s: &str) -> String {
    s.chars()
        .filter(|&c| c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

fn dedup_all(v: Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.into_iter().map(dedup_all).collect()),
        Value::Struct(m) => Value::Struct(dedup(
            m.into_iter().map(|(k, v)| (k, dedup_all(v))).collect(),
        )),
        other => other,
    }
}

/// What JSON makes of a value.
fn after_json(v: &Value) -> Value {
    match v {
        Value::I4(i) => Value::Int(i64::from(*i)),
        Value::Double(d) if !d.is_finite() => Value::Nil,
        Value::Ref(r) => Value::from(r.to_string()),
        Value::DateTime(dt) => Value::from(dt.to_xapi_string()),
        Value::Base64(b) => Value::from(base64::encode(b)),
        Value::Array(items) => Value::Array(items.iter().map(after_json).collect()),
        Value::Struct(m) => Value::Struct(dedup(
            m.iter().map(|(k, v)| (k.clone(), after_json(v))).collect(),
        )),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn xml_value_round_trip(v in arb_value(true)) {
        let mut out = Vec::new();
        xmlrpc::encode_value(&v, &mut out);
        let back = xmlrpc::decode_value(&out, &lim()).unwrap();
        let want = after_xml(&v);
        prop_assert!(same(&back, &want), "{back:?}\n!=\n{want:?}");
    }

    #[test]
    fn xml_reply_round_trip(v in arb_value(true)) {
        let mut out = Vec::new();
        xmlrpc::encode_reply(&Reply::Success(v.clone()), &mut out);
        let back = xmlrpc::decode_reply(&out, &lim()).unwrap();
        let want = Value::Struct(vec![
            ("Status".into(), Value::from("Success")),
            ("Value".into(), after_xml(&v)),
        ]);
        prop_assert!(same(&back, &want), "{back:?}\n!=\n{want:?}");

        out.clear();
        xmlrpc::encode_reply(&Reply::Bare(v.clone()), &mut out);
        let back = xmlrpc::decode_reply(&out, &lim()).unwrap();
        prop_assert!(same(&back, &after_xml(&v)));
    }

    #[test]
    fn failure_round_trip(desc in proptest::collection::vec(arb_string(true), 0..5)) {
        let mut out = Vec::new();
        xmlrpc::encode_reply(&Reply::Failure(desc.clone()), &mut out);
        let back = xmlrpc::decode_reply(&out, &lim()).unwrap();
        let want = Value::Struct(vec![
            ("Status".into(), Value::from("Failure")),
            ("ErrorDescription".into(), Value::Array(
                desc.iter().map(|s| Value::from(xml_text(s))).collect())),
        ]);
        prop_assert_eq!(back, want);
    }

    /// Typed, whitespace-laden requests decode to exactly what was meant.
    #[test]
    fn typed_call_round_trip(
        params in proptest::collection::vec(arb_value(true), 0..4),
        seed in 1u64..,
    ) {
        let params: Vec<Value> = params.iter().map(client_value).collect();
        let mut f = Fmt(seed);
        let mut body = String::from("<?xml version='1.0'?>\n<methodCall>\n<methodName>VM.get_record</methodName>\n<params>\n");
        for p in &params {
            body.push_str("<param>");
            f.ws(&mut body);
            typed(p, &mut f, &mut body);
            f.ws(&mut body);
            body.push_str("</param>\n");
        }
        body.push_str("</params>\n</methodCall>\n");
        let call = xmlrpc::decode_call(body.as_bytes(), &lim()).unwrap();
        prop_assert_eq!(call.method, "VM.get_record");
        let want: Vec<Value> = params.into_iter().map(dedup_all).collect();
        prop_assert_eq!(call.params.len(), want.len());
        for (got, want) in call.params.iter().zip(&want) {
            prop_assert!(same(got, want), "{got:?}\n!=\n{want:?}");
        }
    }

    #[test]
    fn json_round_trip(v in arb_value(true)) {
        let mut out = Vec::new();
        jsonrpc::encode_reply(&Reply::Success(v.clone()), &serde_json::json!(1), jsonrpc::Version::V2, &mut out);
        // The value's JSON, exactly as written (member order kept).
        let text = std::str::from_utf8(&out).unwrap();
        let json = text
            .strip_prefix(r#"{"jsonrpc":"2.0","result":"#)
            .and_then(|t| t.strip_suffix(r#","id":1}"#))
            .unwrap();
        let req = format!(r#"{{"jsonrpc":"2.0","method":"m","id":1,"params":[{json}]}}"#);
        let call = jsonrpc::decode_call(req.as_bytes(), &lim()).unwrap();
        let want = after_json(&v);
        prop_assert!(same(&call.call.params[0], &want), "{:?}\n!=\n{want:?}", call.call.params[0]);
    }

    /// Garbage never panics and never takes long.
    #[test]
    fn decoders_total(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = xmlrpc::decode_call(&bytes, &lim());
        let _ = xmlrpc::decode_reply(&bytes, &lim());
        let _ = xmlrpc::decode_value(&bytes, &lim());
        let _ = jsonrpc::decode_call(&bytes, &lim());
    }

    /// Mutated valid requests never panic.
    #[test]
    fn mutated_calls_total(v in arb_value(false), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut out = Vec::new();
        xmlrpc::encode_value(&v, &mut out);
        let mut body = b"<methodCall><methodName>m</methodName><params><param>".to_vec();
        body.extend_from_slice(&out);
        body.extend_from_slice(b"</param></params></methodCall>");
        let i = cut.index(body.len());
        let mut m = body.clone();
        m[i] = byte;
        let _ = xmlrpc::decode_call(&m, &lim());
        let _ = xmlrpc::decode_call(&body[..i], &lim());
    }
}
