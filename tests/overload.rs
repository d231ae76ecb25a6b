//! Too many clients and clients too slow (`http::overload`): beyond the cap
//! and its waiting places a connection is refused at once with 503; a
//! waiting one is refused after `connection_wait`; headers that dribble,
//! a body that stalls and a reader that stops reading are each cut off in
//! their time, and their places are free again.

mod common;

use std::time::{Duration, Instant};

use common::{config, start, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn read_all(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, s.read_to_end(&mut out)).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_cap_and_the_waiting_places_a_connection_is_refused_at_once() {
    let mut cfg = config();
    cfg.max_connections = 1;
    cfg.max_waiting_connections = 1;
    cfg.connection_wait = Duration::from_millis(500);
    let srv = start(cfg).await;
    let mut a = Client::connect(srv.addr).await;
    let s = a.login().await;
    // The second waits for a place; the third is refused at once.
    let mut waiting = TcpStream::connect(srv.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    let mut third = TcpStream::connect(srv.addr).await.unwrap();
    let answer = String::from_utf8(read_all(&mut third, Duration::from_secs(5)).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    // The waiting one is refused once its wait is over.
    let answer = String::from_utf8(read_all(&mut waiting, Duration::from_secs(5)).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    // The served client was never disturbed; once it goes, a new one is served.
    a.ok("task.get_all", &[&s]).await;
    drop(a);
    let mut b = Client::connect(srv.addr).await;
    b.ok("task.get_all", &[&s]).await;
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dribbled_headers_and_a_stalled_body_are_cut_off_and_free_their_place() {
    let mut cfg = config();
    cfg.max_connections = 1;
    cfg.connection_wait = Duration::from_secs(10);
    cfg.header_read_timeout = Duration::from_millis(600);
    cfg.body_idle_timeout = Duration::from_millis(600);
    let srv = start(cfg).await;
    // Headers one byte at a time, slower than the limit allows.
    let mut slow = TcpStream::connect(srv.addr).await.unwrap();
    let t0 = Instant::now();
    for b in b"POST / HTTP/1.1\r\nHost: x\r\n" {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if t0.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let _ = read_all(&mut slow, Duration::from_secs(5)).await;
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    // A body that promises more than it sends: 408, and the place is free.
    let mut stall = TcpStream::connect(srv.addr).await.unwrap();
    stall
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<methodCall>")
        .await
        .unwrap();
    let t0 = Instant::now();
    let answer = String::from_utf8(read_all(&mut stall, Duration::from_secs(5)).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    let mut c = Client::connect(srv.addr).await;
    c.login().await;
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_is_disconnected() {
    let mut cfg = config();
    cfg.write_stall_timeout = Duration::from_millis(500);
    let srv = start(cfg).await;
    let mut c = Client::connect(srv.addr).await;
    let s = c.login().await;
    // Enough tasks that their records fill every buffer on the way (the
    // kernel's send buffer on the server's side grows to a few MiB).
    let long = "d".repeat(6000);
    for i in 0..2_000 {
        c.ok("task.create", &[&s, &format!("task {i:06}"), &long])
            .await;
    }
    let body = format!(
        "<methodCall><methodName>task.get_all_records</methodName><params><param><value>{s}</value></param></params></methodCall>"
    );
    // A small receive buffer: the reply backs up at once.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut r = sock.connect(srv.addr).await.unwrap();
    r.write_all(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // Read nothing for a while: the server gives up on us.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = read_all(&mut r, Duration::from_secs(10)).await;
    // What was in flight arrives, then the end: not the whole reply.
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.trim_end().ends_with("</methodResponse>"),
        "the whole reply arrived"
    );
    // And the server serves on.
    c.ok("task.get_all", &[&s]).await;
    srv.shutdown().await;
}
