//! Measures the XML-RPC and JSON-RPC codecs on typical traffic.
//!
//! `cargo run --release --example bench_codec`

use std::hint::black_box;
use std::time::Instant;

use xapid::wire::{jsonrpc, xmlrpc, DateTime, Limits, Ref, Reply, Value};

/// Prints the best ns per call of `f` over several ~50 ms runs (the best
/// run is the least disturbed by other load on the machine).
fn bench(name: &str, mut f: impl FnMut()) {
    for _ in 0..10_000 {
        f();
    }
    let mut iters = 1_000u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed().as_millis() >= 50 {
            break;
        }
        iters *= 2;
    }
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    println!("{name:<44} {best:>8.1} ns/op");
}

/// Just walking quick-xml's events, for comparison: the floor under
/// `decode_call`.
fn quick_xml_events(body: &[u8]) -> usize {
    let mut rd = quick_xml::Reader::from_reader(body);
    let mut n = 0;
    loop {
        match rd.read_event() {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(e) => {
                black_box(e);
                n += 1;
            }
        }
    }
}

fn main() {
    let limits = Limits::default();
    // What Python's xmlrpc.client sends for task.get_progress.
    let call = format!(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>task.get_progress</methodName>\n<params>\n\
         <param>\n<value><string>OpaqueRef:{}</string></value>\n</param>\n\
         <param>\n<value><string>OpaqueRef:{}</string></value>\n</param>\n</params>\n</methodCall>\n",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    println!(
        "request: {} bytes, {} quick-xml events",
        call.len(),
        quick_xml_events(call.as_bytes())
    );
    bench("xml decode_call task.get_progress (python)", || {
        black_box(xmlrpc::decode_call(black_box(call.as_bytes()), &limits).unwrap());
    });
    bench("  quick-xml events alone, same body", || {
        black_box(quick_xml_events(black_box(call.as_bytes())));
    });
    let compact: String = call.replace('\n', "");
    bench("xml decode_call task.get_progress (compact)", || {
        black_box(xmlrpc::decode_call(black_box(compact.as_bytes()), &limits).unwrap());
    });

    let mut out = Vec::with_capacity(4096);
    let progress = Reply::Success(Value::Double(0.5));
    bench("xml encode_reply Success(double)", || {
        out.clear();
        xmlrpc::encode_reply(black_box(&progress), &mut out);
        black_box(&out);
    });
    let r = Reply::Success(Value::Ref(Ref::new()));
    bench("xml encode_reply Success(ref)", || {
        out.clear();
        xmlrpc::encode_reply(black_box(&r), &mut out);
        black_box(&out);
    });
    let record = Reply::Success(Value::Struct(vec![
        ("uuid".into(), Value::from(uuid::Uuid::new_v4().to_string())),
        ("name_label".into(), Value::from("Async.VM.start")),
        ("name_description".into(), Value::from("")),
        ("status".into(), Value::from("pending")),
        ("progress".into(), Value::Double(0.25)),
        ("created".into(), Value::DateTime(DateTime::now())),
        ("finished".into(), Value::DateTime(DateTime::EPOCH)),
        ("resident_on".into(), Value::Ref(Ref::new())),
        ("other_config".into(), Value::Struct(vec![])),
        ("subtasks".into(), Value::Array(vec![])),
        ("error_info".into(), Value::Array(vec![])),
        (
            "allowed_operations".into(),
            Value::Array(vec![Value::from("cancel")]),
        ),
    ]));
    bench("xml encode_reply task record (12 fields)", || {
        out.clear();
        xmlrpc::encode_reply(black_box(&record), &mut out);
        black_box(&out);
    });
    out.clear();
    xmlrpc::encode_reply(&record, &mut out);
    let rec_xml = out.clone();
    bench("xml decode_reply task record", || {
        black_box(xmlrpc::decode_reply(black_box(&rec_xml), &limits).unwrap());
    });
    bench("  quick-xml events alone, same body", || {
        black_box(quick_xml_events(black_box(&rec_xml)));
    });

    let jcall = format!(
        r#"{{"jsonrpc":"2.0","method":"task.get_progress","params":["OpaqueRef:{}","OpaqueRef:{}"],"id":7}}"#,
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    bench("json decode_call task.get_progress", || {
        black_box(jsonrpc::decode_call(black_box(jcall.as_bytes()), &limits).unwrap());
    });
    let id = serde_json::json!(7);
    bench("json encode_reply Success(double)", || {
        out.clear();
        jsonrpc::encode_reply(black_box(&progress), &id, jsonrpc::Version::V2, &mut out);
        black_box(&out);
    });
}
