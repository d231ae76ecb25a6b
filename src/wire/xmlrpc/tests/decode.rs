//! Decoding what clients send: documents, values, text.

use super::*;
use crate::wire::{DateTime, Ref};

// -- documents ---------------------------------------------------------------

#[test]
fn python_style_call() {
    let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>session.login_with_password</methodName>\n<params>\n<param>\n<value><string>root</string></value>\n</param>\n<param>\n<value><string>pw</string></value>\n</param>\n</params>\n</methodCall>\n";
    let c = call(body).unwrap();
    assert_eq!(c.method, "session.login_with_password");
    assert_eq!(c.params, vec![s("root"), s("pw")]);
}

#[test]
fn declaration_comments_pis_whitespace() {
    let body = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->\n<?pi x?>\n<methodCall> <!-- c --> <methodName>a.b</methodName>\n\t<params> <?pi?> <param> <!--x--> <value><int>1</int></value> <!--y--> </param> </params> </methodCall> <!-- end -->\n<?done?>\n";
    let c = call(body).unwrap();
    assert_eq!(c.method, "a.b");
    assert_eq!(c.params, vec![Value::Int(1)]);
    assert!(call("<methodCall><methodName>a</methodName></methodCall>").is_ok());
}

#[test]
fn params_forms() {
    for body in [
        "<methodCall><methodName>m</methodName></methodCall>",
        "<methodCall><methodName>m</methodName><params/></methodCall>",
        "<methodCall><methodName>m</methodName><params></params></methodCall>",
        "<methodCall><methodName>m</methodName>\n<params>\n</params>\n</methodCall>",
    ] {
        let c = call(body).unwrap();
        assert_eq!(c.method, "m");
        assert!(c.params.is_empty());
    }
}

#[test]
fn method_name_trimmed_and_unescaped() {
    let c = call("<methodCall><methodName>\n  VM.get_all \t</methodName></methodCall>").unwrap();
    assert_eq!(c.method, "VM.get_all");
    let c = call("<methodCall><methodName>a&#46;b</methodName></methodCall>").unwrap();
    assert_eq!(c.method, "a.b");
    assert_eq!(
        call("<methodCall><methodName> </methodName></methodCall>"),
        Err(E_METHOD)
    );
    assert_eq!(
        call("<methodCall><methodName/></methodCall>"),
        Err(E_METHOD)
    );
    assert_eq!(call("<methodCall></methodCall>"), Err(E_METHOD));
}

// -- scalar values -----------------------------------------------------------

#[test]
fn ints() {
    for t in ["int", "i4", "i8", "i1", "i2", "biginteger", "ex:i8"] {
        assert_eq!(
            param(&format!("<value><{t}> 42\n</{t}></value>")),
            Ok(Value::Int(42))
        );
    }
    assert_eq!(param("<value><int>-7</int></value>"), Ok(Value::Int(-7)));
    assert_eq!(param("<value><int>+7</int></value>"), Ok(Value::Int(7)));
    assert_eq!(
        param("<value><i8>9223372036854775807</i8></value>"),
        Ok(Value::Int(i64::MAX))
    );
    assert_eq!(
        param("<value><i8>-9223372036854775808</i8></value>"),
        Ok(Value::Int(i64::MIN))
    );
    for bad in [
        "<value><int>9223372036854775808</int></value>",
        "<value><int></int></value>",
        "<value><int/></value>",
        "<value><int>1.5</int></value>",
        "<value><int>12a</int></value>",
        "<value><int>1 2</int></value>",
    ] {
        assert_eq!(param(bad), Err(E_INT), "{bad}");
    }
}

#[test]
fn booleans() {
    for (t, b) in [
        ("1", true),
        ("0", false),
        ("true", true),
        ("FALSE", false),
        (" True ", true),
    ] {
        assert_eq!(
            param(&format!("<value><boolean>{t}</boolean></value>")),
            Ok(Value::Bool(b))
        );
    }
    for bad in ["2", "yes", "", "01"] {
        assert_eq!(
            param(&format!("<value><boolean>{bad}</boolean></value>")),
            Err(E_BOOL)
        );
    }
}

#[test]
fn doubles() {
    for t in ["double", "float", "bigdecimal"] {
        assert_eq!(
            param(&format!("<value><{t}> 0.5 </{t}></value>")),
            Ok(Value::Double(0.5))
        );
    }
    assert_eq!(
        param("<value><double>1e-05</double></value>"),
        Ok(Value::Double(1e-5))
    );
    assert_eq!(
        param("<value><double>-2</double></value>"),
        Ok(Value::Double(-2.0))
    );
    assert_eq!(
        param("<value><double>inf</double></value>"),
        Ok(Value::Double(f64::INFINITY))
    );
    assert_eq!(
        param("<value><double>-inf</double></value>"),
        Ok(Value::Double(f64::NEG_INFINITY))
    );
    match param("<value><double>nan</double></value>") {
        Ok(Value::Double(d)) => assert!(d.is_nan()),
        other => panic!("{other:?}"),
    }
    for bad in ["", "abc", "1,5", "0x10"] {
        assert_eq!(
            param(&format!("<value><double>{bad}</double></value>")),
            Err(E_DOUBLE)
        );
    }
}

#[test]
fn strings() {
    assert_eq!(
        param("<value><string>  a b  </string></value>"),
        Ok(s("  a b  "))
    );
    assert_eq!(param("<value><string></string></value>"), Ok(s("")));
    assert_eq!(param("<value><string/></value>"), Ok(s("")));
    assert_eq!(param("<value>  untyped\n </value>"), Ok(s("  untyped\n ")));
    assert_eq!(param("<value>   </value>"), Ok(s("   ")));
    assert_eq!(param("<value/>"), Ok(s("")));
    assert_eq!(param("<value></value>"), Ok(s("")));
    assert_eq!(
        param("<value>h\u{e9}\u{1F600}</value>"),
        Ok(s("h\u{e9}\u{1F600}"))
    );
    assert_eq!(param("<value>a<!-- c -->b<?pi?>c</value>"), Ok(s("abc")));
}

#[test]
fn whitespace_around_typed_child() {
    assert_eq!(param("<value>  <i4>5</i4>  </value>"), Ok(Value::Int(5)));
    assert_eq!(param("<value>\n<string>x</string>\n</value>"), Ok(s("x")));
    assert_eq!(param("<value> <nil/> </value>"), Ok(Value::Nil));
    assert_eq!(param("<value>x<i4>5</i4></value>"), Err(E_TEXT));
    assert_eq!(param("<value><i4>5</i4>x</value>"), Err(E_TEXT));
    assert_eq!(param("<value><i4>5</i4><i4>5</i4></value>"), Err(E_ELEMENT));
}

#[test]
fn datetimes() {
    let want = Ok(Value::DateTime(DateTime(1_795_420_800)));
    for t in [
        "20261123T08:00:00Z",
        "20261123T08:00:00",
        " 20261123T08:00:00 ",
        "2026-11-23T08:00:00.000Z",
        "2026-11-23T09:00:00+01:00",
    ] {
        assert_eq!(
            param(&format!(
                "<value><dateTime.iso8601>{t}</dateTime.iso8601></value>"
            )),
            want,
            "{t}"
        );
    }
    for bad in ["", "tomorrow", "20261323T08:00:00Z", "20260230T08:00:00"] {
        assert_eq!(
            param(&format!(
                "<value><dateTime.iso8601>{bad}</dateTime.iso8601></value>"
            )),
            Err(E_DATETIME),
            "{bad}"
        );
    }
}

#[test]
fn base64_values() {
    assert_eq!(
        param("<value><base64>aGVs\n bG8=\n</base64></value>"),
        Ok(Value::Base64(b"hello".to_vec()))
    );
    assert_eq!(param("<value><base64/></value>"), Ok(Value::Base64(vec![])));
    assert_eq!(
        param("<value><base64></base64></value>"),
        Ok(Value::Base64(vec![]))
    );
    assert_eq!(param("<value><base64>a$==</base64></value>"), Err(E_BASE64));
    assert_eq!(param("<value><base64>a</base64></value>"), Err(E_BASE64));
}

#[test]
fn nils() {
    for v in [
        "<value><nil/></value>",
        "<value><nil></nil></value>",
        "<value><nil> </nil></value>",
        "<value><ex:nil/></value>",
        "<value><ex:nil xmlns:ex=\"http://ws.apache.org/xmlrpc/namespaces/extensions\"/></value>",
    ] {
        assert_eq!(param(v), Ok(Value::Nil), "{v}");
    }
    assert_eq!(param("<value><nil>x</nil></value>"), Err(E_NIL));
}

// -- containers --------------------------------------------------------------

#[test]
fn arrays() {
    for v in [
        "<value><array><data/></array></value>",
        "<value><array><data></data></array></value>",
        "<value><array>\n<data>\n</data>\n</array></value>",
        "<value><array></array></value>",
        "<value><array/></value>",
    ] {
        assert_eq!(param(v), Ok(Value::Array(vec![])), "{v}");
    }
    assert_eq!(
        param("<value><array><data>\n<value>a</value>\n<value><int>1</int></value><value/><value><array><data><value><boolean>1</boolean></value></data></array></value></data></array></value>"),
        Ok(Value::Array(vec![
            s("a"),
            Value::Int(1),
            s(""),
            Value::Array(vec![Value::Bool(true)])
        ]))
    );
    assert_eq!(
        param("<value><array><data>x</data></array></value>"),
        Err(E_TEXT)
    );
    assert_eq!(
        param("<value><array><value>a</value></array></value>"),
        Err(E_ELEMENT)
    );
}

#[test]
fn structs() {
    let v = param(
        "<value><struct>\n<member>\n<name>a</name>\n<value><int>1</int></value>\n</member>\n\
         <member><name>b</name><value>x</value></member>\
         <member><name> sp </name><value/></member>\
         <member><name/><value><struct/></value></member>\
         </struct></value>",
    )
    .unwrap();
    assert_eq!(
        v,
        Value::Struct(vec![
            ("a".into(), Value::Int(1)),
            ("b".into(), s("x")),
            (" sp ".into(), s("")),
            ("".into(), Value::Struct(vec![])),
        ])
    );
    assert_eq!(
        param("<value><struct></struct></value>"),
        Ok(Value::Struct(vec![]))
    );
}

#[test]
fn struct_duplicates_last_wins_first_position() {
    let v = param(
        "<value><struct><member><name>a</name><value>1</value></member>\
         <member><name>b</name><value>2</value></member>\
         <member><name>a</name><value>3</value></member></struct></value>",
    )
    .unwrap();
    assert_eq!(
        v,
        Value::Struct(vec![("a".into(), s("3")), ("b".into(), s("2"))])
    );
    // Past the linear-scan threshold too.
    let mut body = String::from("<value><struct>");
    for i in 0..100 {
        body += &format!(
            "<member><name>k{}</name><value><int>{i}</int></value></member>",
            i % 40
        );
    }
    body += "</struct></value>";
    let Value::Struct(m) = param(&body).unwrap() else {
        panic!()
    };
    assert_eq!(m.len(), 40);
    for (i, (k, v)) in m.iter().enumerate() {
        assert_eq!(k, &format!("k{i}"));
        assert_eq!(
            v,
            &Value::Int(if i < 20 { 80 + i as i64 } else { 40 + i as i64 })
        );
    }
}

#[test]
fn bad_members() {
    assert_eq!(
        param("<value><struct><member><name>a</name></member></struct></value>"),
        Err(E_NO_VALUE)
    );
    assert_eq!(
        param("<value><struct><member><value>1</value></member></struct></value>"),
        Err(E_NO_NAME)
    );
    assert_eq!(
        param("<value><struct><member/></struct></value>"),
        Err(E_NO_NAME)
    );
    assert_eq!(
        param("<value><struct><member><value>1</value><name>a</name></member></struct></value>"),
        Err(E_NO_NAME)
    );
    assert_eq!(
        param("<value><struct><member><name>a</name><value>1</value><value>2</value></member></struct></value>"),
        Err(E_ELEMENT)
    );
    assert_eq!(
        param("<value><struct><name>a</name></struct></value>"),
        Err(E_ELEMENT)
    );
}

// -- text --------------------------------------------------------------------

#[test]
fn entities_and_char_refs() {
    assert_eq!(
        param("<value>&lt;a&gt; &amp; &quot;q&quot; &apos;s&apos;</value>"),
        Ok(s("<a> & \"q\" 's'"))
    );
    assert_eq!(
        param("<value><string>&#65;&#x42;&#x1F600;-&#9;&#10;&#13;</string></value>"),
        Ok(s("AB\u{1F600}-\t\n\r"))
    );
    assert_eq!(param("<value>&amp;</value>"), Ok(s("&")));
    assert_eq!(param("<value>&#32;</value>"), Ok(s(" ")));
    assert_eq!(
        param("<value><struct><member><name>a&amp;b</name><value/></member></struct></value>"),
        Ok(Value::Struct(vec![("a&b".into(), s(""))]))
    );
    assert_eq!(
        param("<value><int>&#49;2</int></value>"),
        Ok(Value::Int(12))
    );
}

#[test]
fn bad_references() {
    assert_eq!(param("<value>&nbsp;</value>"), Err(E_ENTITY));
    assert_eq!(param("<value>&foo;</value>"), Err(E_ENTITY));
    for bad in [
        "&#0;",
        "&#x0;",
        "&#1;",
        "&#x1F;",
        "&#xFFFE;",
        "&#xFFFF;",
        "&#xD800;",
        "&#x110000;",
        "&#;",
        "&#x;",
        "&#-1;",
        "&#12a;",
        "&#X41;",
        "&#99999999999;",
    ] {
        assert_eq!(
            param(&format!("<value>{bad}</value>")),
            Err(E_CHARREF),
            "{bad}"
        );
    }
    // A lone ampersand is not XML.
    assert_eq!(param("<value>a & b</value>"), Err(E_MALFORMED));
    assert_eq!(param("<value>a &amp b</value>"), Err(E_MALFORMED));
}

#[test]
fn cdata_is_literal() {
    assert_eq!(
        param("<value><![CDATA[<b>&amp;</b>]]></value>"),
        Ok(s("<b>&amp;</b>"))
    );
    assert_eq!(
        param("<value><string>a<![CDATA[ & ]]>b&lt;</string></value>"),
        Ok(s("a & b<"))
    );
    assert_eq!(param("<value><![CDATA[]]></value>"), Ok(s("")));
}

#[test]
fn line_ends_normalised() {
    assert_eq!(param("<value>a\r\nb\rc\n</value>"), Ok(s("a\nb\nc\n")));
    assert_eq!(param("<value>a\r&amp;\r\n</value>"), Ok(s("a\n&\n")));
    assert_eq!(param("<value>&#13;&#10;</value>"), Ok(s("\r\n")));
}

#[test]
fn bad_bytes() {
    assert_eq!(param("<value>a\u{0}b</value>"), Err(E_CONTROL));
    assert_eq!(param("<value>a\u{1}b</value>"), Err(E_CONTROL));
    assert_eq!(param("<value>a\u{1b}b</value>"), Err(E_CONTROL));
    assert_eq!(param("<value>a\u{fffe}</value>"), Err(E_CONTROL));
    assert_eq!(param("<value>\u{ffff}</value>"), Err(E_CONTROL));
    assert_eq!(
        param("<value>\u{fffd}\u{efbf}\u{e000}</value>"),
        Ok(s("\u{fffd}\u{efbf}\u{e000}"))
    );
    let mut body = b"<methodCall><methodName>m</methodName><params><param><value>".to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(b"</value></param></params></methodCall>");
    assert_eq!(decode_call(&body, &lim()), Err(E_UTF8));
    let mut body = b"<methodCall><methodName>m\xc3</methodName></methodCall>".to_vec();
    assert_eq!(decode_call(&body, &lim()), Err(E_UTF8));
    body = b"<methodCall><methodName>m</methodName></methodCall><!-- \xe9 -->".to_vec();
    assert_eq!(decode_call(&body, &lim()), Err(E_UTF8));
    // Tab, LF, CR are fine.
    assert_eq!(param("<value>\t\n</value>"), Ok(s("\t\n")));
}

// -- replies and fragments ---------------------------------------------------

#[test]
fn decode_reply_forms() {
    let v = decode_reply(
        b"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><string>x</string></value>\n</param>\n</params>\n</methodResponse>\n",
        &lim(),
    );
    assert_eq!(v, Ok(s("x")));
    let v = decode_reply(
        b"<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member><member><name>faultString</name><value>boom</value></member></struct></value></fault></methodResponse>",
        &lim(),
    );
    assert_eq!(
        v,
        Ok(Value::Struct(vec![
            ("faultCode".into(), Value::Int(1)),
            ("faultString".into(), s("boom"))
        ]))
    );
    assert!(decode_reply(
        b"<methodResponse><params></params></methodResponse>",
        &lim()
    )
    .is_err());
    assert!(decode_reply(
        b"<methodResponse><params><param><value/></param><param><value/></param></params></methodResponse>",
        &lim()
    )
    .is_err());
    assert!(decode_reply(
        b"<methodCall><methodName>m</methodName></methodCall>",
        &lim()
    )
    .is_err());
}

#[test]
fn decode_value_fragments() {
    let r = Ref::new();
    assert_eq!(
        decode_value(enc(&Value::Ref(r)).as_bytes(), &lim()),
        Ok(s(&r.to_string()))
    );
    assert_eq!(decode_value(b"<value></value>", &lim()), Ok(s("")));
    assert_eq!(decode_value(b"<value/>", &lim()), Ok(s("")));
    assert_eq!(
        decode_value(b" <value><i4>1</i4></value>\n", &lim()),
        Ok(Value::Int(1))
    );
    assert!(decode_value(b"<value/><value/>", &lim()).is_err());
    assert!(decode_value(b"<i4>1</i4>", &lim()).is_err());
    assert!(decode_value(b"", &lim()).is_err());
}
