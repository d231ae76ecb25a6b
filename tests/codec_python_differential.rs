//! Differential tests against Python 3's `xmlrpc.client`, the reference
//! client most XenAPI scripts use. One Python process per test, fed JSON
//! lines, so thousands of cases run in well under a second.

#[path = "codec/gen.rs"]
mod gen;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use gen::*;
use proptest::prelude::*;
use serde_json::{json, Value as J};
use xapid::wire::{base64, xmlrpc, DateTime, Limits, Reply, Value};

/// Python values travel as tagged JSON: {"i": int}, {"b": bool},
/// {"d": float bits}, {"s": str}, {"n": null}, {"a": [...]},
/// {"m": [[key, value], ...]}, {"x": base64}, {"t": DateTime.value}.
const SCRIPT: &str = r#"
import sys, json, struct, base64
import xmlrpc.client as X

def f2b(f): return struct.unpack('<Q', struct.pack('<d', f))[0]
def b2f(b): return struct.unpack('<d', struct.pack('<Q', b))[0]

def from_tag(t):
    (k, v), = t.items()
    if k in ('i', 'b', 's'): return v
    if k == 'd': return b2f(v)
    if k == 'n': return None
    if k == 'a': return [from_tag(x) for x in v]
    if k == 'm': return {kk: from_tag(vv) for kk, vv in v}
    if k == 'x': return X.Binary(base64.b64decode(v))
    if k == 't': return X.DateTime(v)
    raise ValueError(k)

def to_tag(o):
    if isinstance(o, bool): return {'b': o}
    if isinstance(o, int): return {'i': o}
    if isinstance(o, float): return {'d': f2b(o)}
    if isinstance(o, str): return {'s': o}
    if o is None: return {'n': None}
    if isinstance(o, (list, tuple)): return {'a': [to_tag(x) for x in o]}
    if isinstance(o, dict): return {'m': [[k, to_tag(v)] for k, v in o.items()]}
    if isinstance(o, X.Binary): return {'x': base64.b64encode(o.data).decode()}
    if isinstance(o, X.DateTime): return {'t': o.value}
    raise TypeError(type(o).__name__)

def loads(xml):
    try:
        params, method = X.loads(xml)
        return {'ok': True, 'method': method, 'params': [to_tag(p) for p in params]}
    except Exception as e:
        return {'ok': False, 'err': type(e).__name__}

out = []
for line in sys.stdin:
    req = json.loads(line)
    op = req['op']
    if op == 'dumps':
        params = tuple(from_tag(p) for p in req['params'])
        xml = X.dumps(params, req['method'], allow_none=True)
        res = loads(xml)
        res['xml'] = xml
    elif op == 'loads':
        res = loads(req['xml'])
    elif op == 'g16':
        res = {'s': '%.16g' % b2f(req['bits'])}
    else:
        raise ValueError(op)
    out.append(json.dumps(res))
sys.stdout.write('\n'.join(out) + '\n')
"#;

/// Runs the script over `reqs`, one answer per request.
fn python(reqs: &[J]) -> Vec<J> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 on PATH");
    let mut input = String::new();
    for r in reqs {
        input.push_str(&r.to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    writer.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success(), "python failed");
    let answers: Vec<J> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), reqs.len());
    answers
}

// -- Python values ----------------------------------------------------------

/// A value Python can marshal.
#[derive(Clone, Debug)]
enum Py {
    Int(i64),
    Bool(bool),
    Float(f64),
    Str(String),
    None,
    List(Vec<Py>),
    Dict(Vec<(String, Py)>),
    Bytes(Vec<u8>),
    DateTime(String),
}

fn arb_py() -> BoxedStrategy<Py> {
    let leaf = prop_oneof![
        2 => (-(1i64 << 31) + 1..(1i64 << 31)).prop_map(Py::Int),
        1 => any::<bool>().prop_map(Py::Bool),
        1 => arb_double().prop_map(Py::Float),
        // Mostly clean strings; now and then characters XML cannot carry,
        // which both sides must refuse.
        6 => arb_string(false).prop_map(Py::Str),
        1 => arb_string(true).prop_map(Py::Str),
        1 => Just(Py::None),
        1 => proptest::collection::vec(any::<u8>(), 0..60).prop_map(Py::Bytes),
        1 => arb_datetime().prop_map(|d| {
            let mut s = d.to_xapi_string();
            s.pop(); // Python writes no zone
            Py::DateTime(s)
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Py::List),
            proptest::collection::vec((arb_string(false), inner), 0..6).prop_map(Py::Dict),
        ]
    })
    .boxed()
}

fn py_tag(p: &Py) -> J {
    match p {
        Py::Int(i) => json!({ "i": i }),
        Py::Bool(b) => json!({ "b": b }),
        Py::Float(f) => json!({ "d": f.to_bits() }),
        Py::Str(s) => json!({ "s": s }),
        Py::None => json!({ "n": null }),
        Py::List(l) => json!({ "a": l.iter().map(py_tag).collect::<Vec<_>>() }),
        Py::Dict(m) => {
            json!({ "m": m.iter().map(|(k, v)| json!([k, py_tag(v)])).collect::<Vec<_>>() })
        }
        Py::Bytes(b) => json!({ "x": base64::encode(b) }),
        Py::DateTime(s) => json!({ "t": s }),
    }
}

/// What a tagged Python value is as one of ours.
fn tag_value(t: &J) -> Value {
    let (k, v) = t.as_object().unwrap().iter().next().unwrap();
    match k.as_str() {
        "i" => Value::Int(v.as_i64().unwrap()),
        "b" => Value::Bool(v.as_bool().unwrap()),
        "d" => Value::Double(f64::from_bits(v.as_u64().unwrap())),
        "s" => Value::from(v.as_str().unwrap().to_owned()),
        "n" => Value::Nil,
        "a" => Value::Array(v.as_array().unwrap().iter().map(tag_value).collect()),
        "m" => Value::Struct(
            v.as_array()
                .unwrap()
                .iter()
                .map(|kv| (kv[0].as_str().unwrap().to_owned(), tag_value(&kv[1])))
                .collect(),
        ),
        "x" => Value::Base64(base64::decode(v.as_str().unwrap().as_bytes()).unwrap()),
        "t" => Value::DateTime(DateTime::parse(v.as_str().unwrap()).unwrap()),
        other => panic!("tag {other}"),
    }
}

/// (1) Whatever Python's `dumps` writes, we read as Python's `loads` does
/// (and we refuse what it refuses).
#[test]
fn python_dumps_decode_like_python_loads() {
    let cases = samples(
        (
            proptest::collection::vec(arb_py(), 0..5),
            prop_oneof![
                Just("VM.get_all_records".to_owned()),
                Just("a&b<c>\u{e9}".to_owned()),
                "[a-zA-Z_.]{1,30}"
            ],
        ),
        2000,
    );
    let reqs: Vec<J> = cases
        .iter()
        .map(|(params, method)| {
            json!({"op": "dumps", "method": method, "params": params.iter().map(py_tag).collect::<Vec<_>>()})
        })
        .collect();
    let answers = python(&reqs);
    let mut refused = 0;
    for ((params, method), ans) in cases.iter().zip(&answers) {
        let xml = ans["xml"].as_str().unwrap();
        let ours = xmlrpc::decode_call(xml.as_bytes(), &Limits::default());
        if !ans["ok"].as_bool().unwrap() {
            refused += 1;
            assert!(ours.is_err(), "python refused, we accepted:\n{xml}");
            continue;
        }
        let ours = ours.unwrap_or_else(|e| panic!("{e} for {params:?}:\n{xml}"));
        assert_eq!(&ours.method, method);
        let theirs: Vec<Value> = ans["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(tag_value)
            .collect();
        assert_eq!(ours.params.len(), theirs.len());
        for (a, b) in ours.params.iter().zip(&theirs) {
            assert!(same(a, b), "ours {a:?}\ntheirs {b:?}\n{xml}");
        }
    }
    // The generator does produce both kinds.
    assert!(refused > 10 && refused < cases.len() / 2, "{refused}");
}

/// What Python's `loads` makes of a value we encode: what our own decoder
/// makes of it (a dict keeps the last value of a key, in the first key's
/// place, as `dedup` does).
fn python_view(v: &Value) -> Value {
    after_xml(v)
}

/// (2) Python's `loads` reads our replies as we mean them.
#[test]
fn our_replies_load_in_python() {
    let values = samples(arb_value(true), 2000);
    let mut replies: Vec<Reply> = values.iter().cloned().map(Reply::Success).collect();
    replies.push(Reply::Failure(vec![
        "HANDLE_INVALID".into(),
        "VM".into(),
        "<&>\"'\u{1}\r\n".into(),
    ]));
    replies.push(Reply::Failure(vec![]));
    replies.push(Reply::Bare(Value::Array(vec![Value::from("VM.start")])));
    replies.push(Reply::Bare(Value::Nil));
    let reqs: Vec<J> = replies
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            xmlrpc::encode_reply(r, &mut out);
            json!({"op": "loads", "xml": String::from_utf8(out).unwrap()})
        })
        .collect();
    let answers = python(&reqs);
    for ((r, req), ans) in replies.iter().zip(&reqs).zip(&answers) {
        let xml = req["xml"].as_str().unwrap();
        assert!(
            ans["ok"].as_bool().unwrap(),
            "python refused ({}):\n{xml}",
            ans["err"]
        );
        assert!(ans["method"].is_null());
        let params = ans["params"].as_array().unwrap();
        assert_eq!(params.len(), 1);
        let theirs = tag_value(&params[0]);
        let want = match r {
            Reply::Success(v) => Value::Struct(vec![
                ("Status".into(), Value::from("Success")),
                ("Value".into(), python_view(v)),
            ]),
            Reply::Failure(desc) => Value::Struct(vec![
                ("Status".into(), Value::from("Failure")),
                (
                    "ErrorDescription".into(),
                    Value::Array(desc.iter().map(|s| Value::from(xml_text(s))).collect()),
                ),
            ]),
            Reply::Bare(v) => python_view(v),
        };
        assert!(
            same(&theirs, &want),
            "theirs {theirs:?}\nwant {want:?}\n{xml}"
        );
    }
}

/// Our `%.16g` is C's (Python's `%` formatting is C's, correctly rounded).
#[test]
fn g16_matches_c_printf() {
    let mut xs: Vec<f64> = samples(arb_double(), 20_000);
    let mut r: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20_000 {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        xs.push(f64::from_bits(r));
        xs.push((r % 10_000_000) as f64 / 10_000.0);
        // Doubles whose exact value has 17 significant digits ending in 5:
        // ties, which printf breaks to even.
        xs.push(((r % (1 << 17)) | 1) as f64 / (1u64 << 17) as f64);
    }
    xs.extend([
        0.0,
        -0.0,
        1e-5,
        1e-4,
        1e15,
        1e16,
        9_999_999_999_999_999.0,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        -f64::NAN,
    ]);
    let reqs: Vec<J> = xs
        .iter()
        .map(|x| json!({"op": "g16", "bits": x.to_bits()}))
        .collect();
    let answers = python(&reqs);
    for (x, ans) in xs.iter().zip(&answers) {
        assert_eq!(
            g16(*x),
            ans["s"].as_str().unwrap(),
            "{x:e} ({:#x})",
            x.to_bits()
        );
    }
}
