//! A second floor for `event_waiters`: hyper and tokio as xapid uses them,
//! but nothing else. Every `event.from` request waits on a watch channel;
//! `task.set_progress` bumps it, and each waiter answers with the same
//! canned body (as big as xapid's answer). The gap between this and
//! `fanout_floor` is hyper's and tokio's share; between this and xapid,
//! ours.
//!
//! `cargo run --release --example fanout_hyper -- ADDR`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

// The same allocator as xapid.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn reply(value: &str) -> Bytes {
    Bytes::from(format!(
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>{value}</value></member></struct></value></param></params></methodResponse>"
    ))
}

fn response(body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", "text/xml")
        .header("access-control-allow-origin", "*")
        .header("access-control-allow-headers", "X-Requested-With")
        .body(Full::new(body))
        .expect("a response")
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18098".into());
    let head = "<struct><member><name>operation</name><value>mod</value></member><member><name>pad</name><value>";
    let tail = "</value></member></struct>";
    let pad = 2842usize.saturating_sub(reply(&format!("{head}{tail}")).len());
    let answer = reply(&format!("{head}{}{tail}", "x".repeat(pad)));
    let (tx, rx) = watch::channel(0u64);
    let tx = std::sync::Arc::new(tx);
    let l = TcpListener::bind(&addr).await.expect("bind");
    loop {
        let (c, _) = l.accept().await.expect("accept");
        c.set_nodelay(true).ok();
        let (tx, rx, answer) = (tx.clone(), rx.clone(), answer.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let (tx, mut rx, answer) = (tx.clone(), rx.clone(), answer.clone());
                async move {
                    let body = req.into_body().collect().await.map(|b| b.to_bytes());
                    let body = body.unwrap_or_default();
                    let has = |s: &[u8]| memchr::memmem::find(&body, s).is_some();
                    if has(b"event.from") {
                        rx.borrow_and_update();
                        let _ = rx.changed().await;
                        return Ok::<_, Infallible>(response(answer));
                    }
                    let v = if has(b"get_current_id") {
                        "<string>5</string>"
                    } else {
                        "<string>OpaqueRef:00000000-0000-0000-0000-000000000000</string>"
                    };
                    if has(b"set_progress") {
                        tx.send_modify(|g| *g += 1);
                    }
                    Ok(response(reply(v)))
                }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(c), svc)
                .await;
        });
    }
}
