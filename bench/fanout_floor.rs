//! The floor for `event_waiters`: a server that holds every `event.from`
//! request and, when `task.set_progress` arrives, writes one canned answer
//! of the same size as xapid's to every held connection in a tight loop
//! (no HTTP library, no registry: just the kernel's cost of the writes).
//! Other calls get canned answers that are enough for the load tool.
//!
//! `cargo run --release --example fanout_floor -- ADDR [THREADS]`

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn reply(value: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>{value}</value></member></struct></value></param></params></methodResponse>"
    );
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\naccess-control-allow-origin: *\r\naccess-control-allow-headers: X-Requested-With\r\ncontent-length: {}\r\ndate: Mon, 23 Nov 2026 19:12:39 GMT\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

/// One request's body (Content-Length framing only).
async fn request(c: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    let mut tmp = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                buf.drain(..end + 4 + len);
                return Some(body);
            }
        }
        let n = c.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

type Held = Arc<Mutex<Vec<std::net::TcpStream>>>;

fn fan_out(held: &Held, answer: &[u8], threads: usize) {
    let t0 = std::time::Instant::now();
    let conns: Vec<std::net::TcpStream> = std::mem::take(&mut *held.lock().unwrap());
    let n = conns.len();
    let per = conns.len().div_ceil(threads.max(1)).max(1);
    let answer = Arc::new(answer.to_vec());
    let mut parts = conns.into_iter().peekable();
    let mut hs = Vec::new();
    while parts.peek().is_some() {
        let mine: Vec<_> = parts.by_ref().take(per).collect();
        let a = answer.clone();
        hs.push(std::thread::spawn(move || {
            for mut c in mine {
                let _ = c.write_all(&a);
                std::mem::forget(c); // kept open, as the client expects
            }
        }));
    }
    for h in hs {
        let _ = h.join();
    }
    eprintln!(
        "wrote {n} answers in {:.2} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:18099".into());
    let threads: usize = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(1);
    // An answer as big as xapid's for one task (2842 bytes of XML-RPC).
    let answer = {
        let head = "<struct><member><name>operation</name><value>mod</value></member><member><name>pad</name><value>";
        let tail = "</value></member></struct>";
        let empty = reply(&format!("{head}{tail}"));
        let body_now =
            empty.len() - empty.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) - 4;
        reply(&format!(
            "{head}{}{tail}",
            "x".repeat(2842usize.saturating_sub(body_now))
        ))
    };
    let held: Held = Arc::default();
    let l = TcpListener::bind(&addr).await.expect("bind");
    loop {
        let (mut c, _) = l.accept().await.expect("accept");
        c.set_nodelay(true).ok();
        let held = held.clone();
        let answer = answer.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            while let Some(body) = request(&mut c, &mut buf).await {
                if body.contains("event.from") {
                    let std = c.into_std().expect("std");
                    held.lock().unwrap().push(std);
                    return;
                }
                let v = if body.contains("get_current_id") {
                    "<string>5</string>"
                } else {
                    "<string>OpaqueRef:00000000-0000-0000-0000-000000000000</string>"
                };
                if c.write_all(&reply(v)).await.is_err() {
                    return;
                }
                if body.contains("set_progress") {
                    let h = held.clone();
                    let a = answer.clone();
                    tokio::task::spawn_blocking(move || fan_out(&h, &a, threads))
                        .await
                        .ok();
                }
            }
        });
    }
}
