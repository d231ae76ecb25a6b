//! What the decoder refuses, and its limits.

use super::*;

#[test]
fn doctype_rejected() {
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><methodCall><methodName>&lol2;</methodName></methodCall>";
    assert_eq!(call(laughs), Err(E_DOCTYPE));
    let xxe = "<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><methodCall><methodName>&xxe;</methodName></methodCall>";
    assert_eq!(call(xxe), Err(E_DOCTYPE));
    assert_eq!(
        call("<!DOCTYPE methodCall><methodCall><methodName>m</methodName></methodCall>"),
        Err(E_DOCTYPE)
    );
}

#[test]
fn unknown_elements_rejected() {
    assert_eq!(param("<value><foo>1</foo></value>"), Err(E_UNKNOWN));
    assert_eq!(param("<value><String>x</String></value>"), Err(E_UNKNOWN));
    assert_eq!(
        param("<value><dateTime>x</dateTime></value>"),
        Err(E_UNKNOWN)
    );
    assert_eq!(
        call("<methodCall><methodName>m</methodName><extra/></methodCall>"),
        Err(E_UNKNOWN)
    );
    assert_eq!(call("<html><body/></html>"), Err(E_UNKNOWN));
}

#[test]
fn wrong_nesting_rejected() {
    for body in [
        "<methodResponse><params/></methodResponse>",
        "<value>x</value>",
        "<methodCall><params/><methodName>m</methodName></methodCall>",
        "<methodCall><methodName>m</methodName><params><value>1</value></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><param/></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><value>1</value></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><string><i4>1</i4></string></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><data/></value></param></params></methodCall>",
        "<methodCall><methodName><value/></methodName></methodCall>",
    ] {
        assert_eq!(call(body), Err(E_ELEMENT), "{body}");
    }
    // Mismatched end tags.
    for body in [
        "<methodCall><methodName>m</methodCall></methodName>",
        "<methodCall><methodName>m</methodName><params><param><value><int>1</i4></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><int>1</value></int></param></params></methodCall>",
    ] {
        assert!(call(body).is_err(), "{body}");
    }
    assert_eq!(
        call("<methodCall><methodName>m</methodName><params><param></param></params></methodCall>"),
        Err(E_PARAM)
    );
    assert_eq!(
        call("<methodCall><methodName>m</methodName><params><param/></params></methodCall>"),
        Err(E_PARAM)
    );
}

#[test]
fn stray_text_rejected() {
    assert_eq!(
        call("junk<methodCall><methodName>m</methodName></methodCall>"),
        Err(E_TEXT)
    );
    assert_eq!(
        call("<methodCall>x<methodName>m</methodName></methodCall>"),
        Err(E_TEXT)
    );
    assert_eq!(
        call("<methodCall><methodName>m</methodName><params>x</params></methodCall>"),
        Err(E_TEXT)
    );
    assert_eq!(
        call("<methodCall><methodName>m</methodName><params><param>x<value/></param></params></methodCall>"),
        Err(E_TEXT)
    );
    assert_eq!(param("<value><struct>x</struct></value>"), Err(E_TEXT));
    assert_eq!(
        param("<value><struct><member>x<name>a</name><value/></member></struct></value>"),
        Err(E_TEXT)
    );
}

#[test]
fn trailing_garbage_rejected() {
    let ok = "<methodCall><methodName>m</methodName></methodCall>";
    assert!(call(&format!("{ok}\n\n<!-- c -->\n")).is_ok());
    for tail in [
        "x",
        "<methodCall/>",
        "<value/>",
        "\n\n junk",
        "</methodCall>",
        "<?xml version=\"1.0\"?>",
    ] {
        assert!(call(&format!("{ok}{tail}")).is_err(), "{tail}");
    }
    assert_eq!(call(&format!("{ok}x")), Err(E_TRAILING));
    assert_eq!(call(&format!("{ok}<value/>")), Err(E_TRAILING));
}

#[test]
fn misplaced_declaration_rejected() {
    assert_eq!(
        call("<methodCall><?xml version=\"1.0\"?><methodName>m</methodName></methodCall>"),
        Err(E_DECL)
    );
    assert_eq!(
        call("<?xml version=\"1.0\"?><?xml version=\"1.0\"?><methodCall><methodName>m</methodName></methodCall>"),
        Err(E_DECL)
    );
}

#[test]
fn truncated_documents_rejected() {
    let full = "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name><value><array><data><value><i4>1</i4></value></data></array></value></member></struct></value></param></params></methodCall>";
    assert!(call(full).is_ok());
    for cut in 0..full.len() {
        assert!(call(&full[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(call(""), Err(E_TRUNCATED));
    assert_eq!(call("   "), Err(E_TRUNCATED));
    assert_eq!(call("<methodCall>"), Err(E_TRUNCATED));
    assert_eq!(
        call("<methodCall><methodName>m</methodName><params><param><value>abc"),
        Err(E_TRUNCATED)
    );
}

#[test]
fn malformed_markup_rejected() {
    for body in [
        "<methodCall><methodName>m</methodName></methodCall",
        "<methodCall><methodName>m</methodName><!-- x </methodCall>",
        "<methodCall><methodName>m<![CDATA[x</methodName></methodCall>",
        "<methodCall a=><methodName>m</methodName></methodCall>",
        "<methodCall a=\"1\" a=\"2\"><methodName>m</methodName></methodCall>",
        "<methodCall><methodName>m</methodName></methodCall></methodCall>",
    ] {
        assert!(call(body).is_err(), "{body}");
    }
    // Well-formed attributes are ignored.
    assert!(
        call("<methodCall xmlns:ex=\"urn:x\" a='1'><methodName>m</methodName></methodCall>")
            .is_ok()
    );
}

#[test]
fn bad_literals_rejected() {
    assert_eq!(param("<value><i4>x</i4></value>"), Err(E_INT));
    assert_eq!(param("<value><boolean>x</boolean></value>"), Err(E_BOOL));
    assert_eq!(param("<value><double>x</double></value>"), Err(E_DOUBLE));
    assert_eq!(
        param("<value><dateTime.iso8601>x</dateTime.iso8601></value>"),
        Err(E_DATETIME)
    );
    assert_eq!(param("<value><base64>!</base64></value>"), Err(E_BASE64));
}

fn nested(depth: usize) -> String {
    let mut v = String::new();
    for _ in 0..depth {
        v += "<value><array><data>";
    }
    v += "<value>x</value>";
    for _ in 0..depth {
        v += "</data></array></value>";
    }
    v
}

#[test]
fn depth_limit() {
    let l = Limits {
        max_depth: 8,
        max_elements: 1_000_000,
    };
    let ok = format!(
        "<methodCall><methodName>m</methodName><params><param>{}</param></params></methodCall>",
        nested(8)
    );
    assert!(decode_call(ok.as_bytes(), &l).is_ok());
    let deep = format!(
        "<methodCall><methodName>m</methodName><params><param>{}</param></params></methodCall>",
        nested(9)
    );
    assert_eq!(decode_call(deep.as_bytes(), &l), Err(E_DEPTH));
    let mut st = String::new();
    for _ in 0..9 {
        st += "<value><struct><member><name>a</name>";
    }
    st += "<value/>";
    for _ in 0..9 {
        st += "</member></struct></value>";
    }
    assert_eq!(decode_value(st.as_bytes(), &l), Err(E_DEPTH));
}

#[test]
fn very_deep_nesting_rejected_fast() {
    let mut body = String::from("<methodCall><methodName>m</methodName><params><param>");
    for _ in 0..10_000 {
        body += "<value><array><data>";
    }
    for _ in 0..10_000 {
        body += "<value><struct><member><name>a</name>";
    }
    let t = std::time::Instant::now();
    assert_eq!(call(&body), Err(E_DEPTH));
    // Even with no limit worth the name, no stack is used.
    let l = Limits {
        max_depth: usize::MAX,
        max_elements: usize::MAX,
    };
    assert_eq!(decode_call(body.as_bytes(), &l), Err(E_TRUNCATED));
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn element_limit() {
    let l = Limits {
        max_depth: 64,
        max_elements: 10,
    };
    let mut body = String::from("<methodCall><methodName>m</methodName><params>");
    for _ in 0..3 {
        body += "<param><value><i4>1</i4></value></param>";
    }
    body += "</params></methodCall>";
    // 3 + 3 * 3 = 12 elements
    assert_eq!(decode_call(body.as_bytes(), &l), Err(E_ELEMENTS));
    let l = Limits {
        max_depth: 64,
        max_elements: 12,
    };
    assert!(decode_call(body.as_bytes(), &l).is_ok());
}
