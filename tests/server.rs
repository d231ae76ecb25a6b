//! The real server in-process on port 0: concurrency, the connection cap,
//! login throttling that slows only the guesser, durable acknowledgements
//! across a restart, graceful shutdown (which answers event waiters at
//! once).

mod common;

use std::time::{Duration, Instant};

use common::{config, start, Client};
use xapid::wire::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_many_concurrent_clients() {
    let srv = start(config()).await;
    let addr = srv.addr;
    let mut c = Client::connect(addr).await;
    let s = c.login().await;
    let t = c.ok("task.create", &[&s, "t", "d"]).await;
    let t = t.as_str().unwrap().to_owned();
    let mut joins = Vec::new();
    for _ in 0..8 {
        let (s, t) = (s.clone(), t.clone());
        joins.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            for _ in 0..200 {
                assert_eq!(
                    c.ok("task.get_progress", &[&s, &t]).await,
                    Value::Double(0.0)
                );
            }
        }));
    }
    for j in joins {
        j.await.unwrap();
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_queues_extra_connections() {
    let mut cfg = config();
    cfg.max_connections = 2;
    let srv = start(cfg).await;
    let mut a = Client::connect(srv.addr).await;
    let mut b = Client::connect(srv.addr).await;
    let s = a.login().await;
    b.ok("task.get_all", &[&s]).await;
    // A third connection is accepted only when one of the two goes away.
    let addr = srv.addr;
    let s2 = s.clone();
    let third = tokio::spawn(async move {
        let mut c = Client::connect(addr).await;
        c.ok("task.get_all", &[&s2]).await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "the third connection was served beyond the cap"
    );
    drop(b);
    tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("served once a slot freed")
        .unwrap();
    a.ok("task.get_all", &[&s]).await;
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_login_slows_only_itself() {
    let delay = Duration::from_secs(2);
    let mut cfg = config();
    cfg.login_failure_delay = delay;
    cfg.login_failure_max_delay = delay;
    let srv = start(cfg).await;
    let addr = srv.addr;
    let mut c = Client::connect(addr).await;
    let s = c.login().await;
    let t0 = Instant::now();
    let guess = tokio::spawn(async move {
        let mut g = Client::connect(addr).await;
        g.fails("session.login_with_password", &["root", "wrong"])
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Other calls are answered while the failed login is being held back.
    for _ in 0..100 {
        c.ok("task.get_all", &[&s]).await;
    }
    assert!(
        !guess.is_finished(),
        "the failed login was not delayed, or other calls were held up"
    );
    let err = guess.await.unwrap();
    assert_eq!(
        err,
        [
            "SESSION_AUTHENTICATION_FAILED",
            "root",
            "Authentication failure"
        ]
    );
    assert!(t0.elapsed() >= delay);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_a_restart() {
    let cfg = config();
    let dir = cfg.state_dir.clone();
    let srv = start(cfg.clone()).await;
    let mut c = Client::connect(srv.addr).await;
    let s = c.login().await;
    let t = c.ok("task.create", &[&s, "kept", "across restarts"]).await;
    let t = t.as_str().unwrap().to_owned();
    c.ok("task.add_to_other_config", &[&s, &t, "k", "v"]).await;
    c.ok("task.set_status", &[&s, &t, "success"]).await;
    srv.shutdown().await;

    let srv = start(cfg).await;
    let mut c = Client::connect(srv.addr).await;
    let s = c.login().await;
    let rec = c.ok("task.get_record", &[&s, &t]).await;
    assert_eq!(rec.member("name_label"), Some(&Value::from("kept")));
    assert_eq!(rec.member("status"), Some(&Value::from("success")));
    assert_eq!(
        rec.member("other_config"),
        Some(&Value::Struct(vec![("k".into(), Value::from("v"))]))
    );
    srv.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_return_a_task_that_completes() {
    let srv = start(config()).await;
    let mut c = Client::connect(srv.addr).await;
    let s = c.login().await;
    let t = c.ok("task.create", &[&s, "victim", ""]).await;
    let t = t.as_str().unwrap().to_owned();
    let a = c.ok("Async.task.cancel", &[&s, &t]).await;
    let a = a.as_str().unwrap().to_owned();
    assert_ne!(a, t);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let st = c.ok("task.get_status", &[&s, &a]).await;
        if st != Value::from("pending") {
            assert_eq!(st, Value::from("success"));
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        c.ok("task.get_result", &[&s, &a]).await,
        Value::from("<value></value>")
    );
    assert_eq!(
        c.ok("task.get_name_label", &[&s, &a]).await,
        Value::from("Async.task.cancel")
    );
    srv.shutdown().await;
}

/// `get_all_records` is streamed in chunks: a map far larger than one chunk
/// arrives whole and well-formed over both protocols.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_record_maps_stream_whole() {
    let srv = start(config()).await;
    let mut c = Client::connect(srv.addr).await;
    let s = c.login().await;
    let label = "x".repeat(600);
    let mut refs = Vec::new();
    for i in 0..700 {
        let t = c
            .ok("task.create", &[&s, &format!("{i}-{label}"), "big"])
            .await;
        refs.push(t.as_str().unwrap().to_owned());
    }
    // XML-RPC: ~1.5 MB, several 256 KiB chunks.
    let r = c
        .post(
            "/",
            common::request("task.get_all_records", &[&s]).as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/xml"));
    assert!(r.body.len() > 4 * xapid::wire::records::CHUNK);
    let v = xapid::wire::xmlrpc::decode_reply(&r.body, &xapid::wire::Limits::default()).unwrap();
    let Some(Value::Struct(map)) = v.member("Value") else {
        panic!("no map: {:?}", v.member("Status"));
    };
    assert_eq!(map.len(), 700);
    for t in &refs {
        let rec = &map.iter().find(|(k, _)| k == t).expect("every task").1;
        assert_eq!(rec.member("name_description"), Some(&Value::from("big")));
        assert!(
            rec.member("managed").is_none(),
            "internal fields stay hidden"
        );
    }
    // JSON-RPC, v2 and v1.
    for v2 in [true, false] {
        let mut req = serde_json::json!({"method": "task.get_all_records", "params": [s], "id": 7});
        if v2 {
            req["jsonrpc"] = "2.0".into();
        }
        let reply = c.json(&req).await;
        assert_eq!(reply["id"], 7);
        let map = reply["result"].as_object().expect("a map");
        assert_eq!(map.len(), 700);
        assert_eq!(map[&refs[0]]["name_label"], format!("0-{label}"));
        if !v2 {
            assert!(reply["error"].is_null());
        }
    }
    // The connection is still usable after a chunked reply.
    c.ok("task.get_all", &[&s]).await;
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_event_waiters_at_once() {
    let mut cfg = config();
    cfg.shutdown_grace = Duration::from_secs(30);
    let srv = start(cfg).await;
    let addr = srv.addr;
    let mut c = Client::connect(addr).await;
    let s = c.login().await;
    let gen = c.ok("event.get_current_id", &[&s]).await;
    let gen: u64 = gen.as_str().unwrap().parse().unwrap();
    let token = format!("{gen:020},{:020}", 0);
    let body = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>event.from</methodName><params>\
         <param><value>{s}</value></param>\
         <param><value><array><data><value>task</value></data></array></value></param>\
         <param><value>{token}</value></param>\
         <param><value><double>600</double></value></param></params></methodCall>"
    );
    let waiter = tokio::spawn(async move {
        let mut w = Client::connect(addr).await;
        w.post("/", body.as_bytes()).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "event.from waits for a change");
    let t0 = Instant::now();
    srv.shutdown().await;
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "a waiter held the shutdown for {:?}",
        t0.elapsed()
    );
    // It got an ordinary answer: no events, and a token to go on from.
    let r = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(r.status, 200);
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("<value>Success</value>"), "{body}");
    assert!(
        body.contains("<name>events</name><value><array><data></data></array></value>"),
        "{body}"
    );
}
