//! Encoding, byte for byte as xapi.

use super::*;
use crate::wire::{DateTime, Ref};

#[test]
fn success_reply_byte_exact() {
    let r = Ref::new();
    assert_eq!(
        reply(&Reply::Success(Value::Ref(r))),
        format!("<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>{r}</value></member></struct></value></param></params></methodResponse>")
    );
    assert_eq!(
        reply(&Reply::Success(Value::void())),
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value></value></member></struct></value></param></params></methodResponse>"
    );
}

#[test]
fn failure_reply_byte_exact() {
    assert_eq!(
        reply(&Reply::Failure(vec!["SESSION_INVALID".into(), "OpaqueRef:x<&>".into()])),
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>SESSION_INVALID</value><value>OpaqueRef:x&lt;&amp;&gt;</value></data></array></value></member></struct></value></param></params></methodResponse>"
    );
    assert_eq!(
        reply(&Reply::Failure(vec![])),
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data></data></array></value></member></struct></value></param></params></methodResponse>"
    );
}

#[test]
fn bare_reply_byte_exact() {
    assert_eq!(
        reply(&Reply::Bare(Value::Array(vec![s("VM.start"), s("VM.stop")]))),
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data><value>VM.start</value><value>VM.stop</value></data></array></value></param></params></methodResponse>"
    );
}

#[test]
fn value_encodings() {
    assert_eq!(enc(&s("a")), "<value>a</value>");
    assert_eq!(enc(&s("")), "<value></value>");
    assert_eq!(enc(&Value::Int(123)), "<value>123</value>");
    assert_eq!(
        enc(&Value::Int(-9_223_372_036_854_775_808)),
        "<value>-9223372036854775808</value>"
    );
    assert_eq!(enc(&Value::Int(0)), "<value>0</value>");
    assert_eq!(enc(&Value::I4(5)), "<value><i4>5</i4></value>");
    assert_eq!(enc(&Value::I4(-5)), "<value><i4>-5</i4></value>");
    assert_eq!(
        enc(&Value::Double(0.5)),
        "<value><double>0.5</double></value>"
    );
    assert_eq!(
        enc(&Value::Bool(true)),
        "<value><boolean>1</boolean></value>"
    );
    assert_eq!(
        enc(&Value::Bool(false)),
        "<value><boolean>0</boolean></value>"
    );
    assert_eq!(
        enc(&Value::DateTime(DateTime(1_795_420_800))),
        "<value><dateTime.iso8601>20261123T08:00:00Z</dateTime.iso8601></value>"
    );
    assert_eq!(
        enc(&Value::Base64(b"hello".to_vec())),
        "<value><base64>aGVsbG8=</base64></value>"
    );
    assert_eq!(enc(&Value::Ref(Ref::NULL)), "<value>OpaqueRef:NULL</value>");
    assert_eq!(enc(&Value::Nil), "<value><nil/></value>");
    assert_eq!(
        enc(&Value::Array(vec![])),
        "<value><array><data></data></array></value>"
    );
    assert_eq!(
        enc(&Value::Array(vec![s("a"), Value::Int(1)])),
        "<value><array><data><value>a</value><value>1</value></data></array></value>"
    );
    assert_eq!(
        enc(&Value::Struct(vec![])),
        "<value><struct></struct></value>"
    );
    assert_eq!(
        enc(&Value::Struct(vec![("k<".into(), s("v")), ("n".into(), Value::Nil)])),
        "<value><struct><member><name>k&lt;</name><value>v</value></member><member><name>n</name><value><nil/></value></member></struct></value>"
    );
}

#[test]
fn string_escaping() {
    assert_eq!(
        enc(&s("<a href=\"x\">&'</a>")),
        "<value>&lt;a href=&quot;x&quot;&gt;&amp;'&lt;/a&gt;</value>"
    );
    assert_eq!(
        enc(&s("a\u{0}b\u{1}c\u{1f}d\te\nf\rg\u{7f}h\u{e9}\u{fffe}")),
        "<value>ab\u{0}c\u{1f}d\te\nf\rg\u{7f}h\u{e9}\u{fffe}</value>"
            .replace(['\u{0}', '\u{1f}'], "")
    );
    assert_eq!(enc(&s("\u{1}\u{2}")), "<value></value>");
}

#[test]
fn encode_decode_reply() {
    let v = Value::Struct(vec![
        (
            "a".into(),
            Value::Array(vec![Value::Int(1), Value::Double(0.25)]),
        ),
        ("b".into(), Value::Nil),
    ]);
    let mut out = Vec::new();
    encode_reply(&Reply::Success(v), &mut out);
    assert_eq!(
        decode_reply(&out, &lim()),
        Ok(Value::Struct(vec![
            ("Status".into(), s("Success")),
            (
                "Value".into(),
                Value::Struct(vec![
                    ("a".into(), Value::Array(vec![s("1"), Value::Double(0.25)])),
                    ("b".into(), Value::Nil),
                ])
            ),
        ]))
    );
    out.clear();
    encode_reply(&Reply::Failure(vec!["E".into(), "p".into()]), &mut out);
    assert_eq!(
        decode_reply(&out, &lim()),
        Ok(Value::Struct(vec![
            ("Status".into(), s("Failure")),
            (
                "ErrorDescription".into(),
                Value::Array(vec![s("E"), s("p")])
            ),
        ]))
    );
}
