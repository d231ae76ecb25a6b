//! The fast path against the full decoder.

use proptest::prelude::*;

use crate::wire::xmlrpc::decode_call_full;
use crate::wire::xmlrpc::fast::decode_call;
use crate::wire::Limits;

fn scalar() -> impl Strategy<Value = String> {
    let text = "[a-z <>&\"'\t\n\r\u{e9}\u{1}\u{fffe}\u{20ac}]{0,8}";
    prop_oneof![
        text.prop_map(|s| format!("<value>{s}</value>")),
        text.prop_map(|s| format!("<value><string>{s}</string></value>")),
        "[ \n]{0,2}".prop_map(|w| format!("<value>{w}<string>x</string>{w}</value>")),
        any::<i64>().prop_map(|i| format!("<value><int>{i}</int></value>")),
        any::<i32>().prop_map(|i| format!("<value><i4> {i} </i4></value>")),
        "[0-9a-z.+-]{0,6}".prop_map(|s| format!("<value><i8>{s}</i8></value>")),
        any::<f64>().prop_map(|d| format!("<value><double>{d}</double></value>")),
        "(0|1|true|FALSE|2)".prop_map(|b| format!("<value><boolean>{b}</boolean></value>")),
        Just("<value/>".to_string()),
        Just("<value><array><data/></array></value>".to_string()),
        Just("<value>a&amp;b</value>".to_string()),
    ]
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(""),
            Just("<?xml version='1.0'?>\n"),
            Just("<?xml version=\"1.0\"?>"),
            Just("<?xml version=\"1.1\"?>")
        ],
        "[ \n]{0,2}",
        "[a-zA-Z_. ]{0,20}",
        proptest::collection::vec(scalar(), 0..5),
        any::<bool>(),
    )
        .prop_map(|(decl, ws, name, params, empty_params)| {
            let mut s = format!("{decl}<methodCall>{ws}<methodName>{name}</methodName>{ws}");
            if params.is_empty() && empty_params {
                s.push_str("<params/>");
            } else {
                s.push_str("<params>");
                for p in params {
                    s.push_str(&format!("{ws}<param>{ws}{p}{ws}</param>"));
                }
                s.push_str("</params>");
            }
            s.push_str(&format!("{ws}</methodCall>{ws}"));
            s.into_bytes()
        })
}

/// Where the fast path answers, the full decoder answers the same.
fn agree(body: &[u8]) {
    if let Some(fast) = decode_call(body) {
        assert_eq!(
            decode_call_full(body, &Limits::default()),
            Ok(fast),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn fast_path_agrees_with_the_full_decoder(body in request()) {
        agree(&body);
    }

    #[test]
    fn fast_path_agrees_on_mutated_requests(
        body in request(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut b = body;
        for (at, byte, kind) in edits {
            if b.is_empty() {
                break;
            }
            let i = at.index(b.len());
            match kind {
                0 => b[i] = byte,
                1 => { b.remove(i); }
                _ => b.insert(i, byte),
            }
        }
        agree(&b);
    }
}

#[test]
fn takes_the_common_shapes() {
    for body in [
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>task.get_progress</methodName>\n<params>\n<param>\n<value><string>OpaqueRef:a</string></value>\n</param>\n</params>\n</methodCall>\n",
        "<methodCall><methodName>x</methodName><params><param><value>s</value></param><param><value><int>5</int></value></param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params/></methodCall>",
        "<methodCall><methodName>x</methodName></methodCall>",
    ] {
        assert!(decode_call(body.as_bytes()).is_some(), "{body}");
        agree(body.as_bytes());
    }
}
