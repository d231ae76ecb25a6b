//! N clients blocked in `event.from` on one task; one change; how long
//! after the change each of them has its whole answer, and the server's
//! memory per waiting client.
//!
//! `cargo run --release --example event_waiters -- ADDR PASSWORD SERVER_PID [N]`
//! (a running xapid; raw HTTP/1.1 over N keep-alive TCP connections).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn call(method: &str, params: &[&str]) -> Vec<u8> {
    let mut body =
        format!("<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>");
    for p in params {
        body.push_str("<param>");
        body.push_str(p);
        body.push_str("</param>");
    }
    body.push_str("</params></methodCall>");
    let mut req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    req
}

fn s(v: &str) -> String {
    format!("<value><string>{v}</string></value>")
}

/// Reads one whole response (Content-Length or chunked) and returns its
/// body.
async fn response(c: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let body_start = end + 4;
            if let Some(l) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                while buf.len() < body_start + l {
                    let n = c.read(&mut tmp).await.expect("read");
                    assert!(n > 0, "connection closed");
                    buf.extend_from_slice(&tmp[..n]);
                }
                return buf[body_start..body_start + l].to_vec();
            }
            // Chunked: read until the terminating chunk.
            while !buf[body_start..].windows(5).any(|w| w == b"0\r\n\r\n") {
                let n = c.read(&mut tmp).await.expect("read");
                assert!(n > 0, "connection closed");
                buf.extend_from_slice(&tmp[..n]);
            }
            return buf[body_start..].to_vec();
        }
        let n = c.read(&mut tmp).await.expect("read");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&tmp[..n]);
    }
}

async fn rpc(c: &mut TcpStream, req: &[u8]) -> String {
    c.write_all(req).await.expect("write");
    String::from_utf8_lossy(&response(c).await).into_owned()
}

fn value_of(reply: &str) -> String {
    let key = "<name>Value</name><value>";
    let at = reply.find(key).expect("a Success reply") + key.len();
    let rest = &reply[at..];
    let rest = rest.strip_prefix("<string>").unwrap_or(rest);
    rest[..rest.find('<').unwrap_or(0)].to_string()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (ns) that a process's threads have run, from schedstat.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn mono() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let password = args.get(2).cloned().unwrap_or_default();
    let pid: u32 = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(0);
    let n: usize = args.get(4).and_then(|p| p.parse().ok()).unwrap_or(1000);

    let mut ctl = TcpStream::connect(&addr).await.expect("connect");
    let sid = value_of(
        &rpc(
            &mut ctl,
            &call("session.login_with_password", &[&s("root"), &s(&password)]),
        )
        .await,
    );
    let task = value_of(
        &rpc(
            &mut ctl,
            &call("task.create", &[&s(&sid), &s("watched"), &s("")]),
        )
        .await,
    );
    let gen = value_of(&rpc(&mut ctl, &call("event.get_current_id", &[&s(&sid)])).await);
    let token = format!("{:020},{:020}", gen.trim().parse::<u64>().unwrap_or(0), 0);
    let sub = format!("<value><array><data><value>task/{task}</value></data></array></value>");
    let wait_req = call(
        "event.from",
        &[
            &s(&sid),
            &sub,
            &s(&token),
            "<value><double>60.0</double></value>",
        ],
    );
    // Memory per waiting client is measured on the second half of them:
    // the first half may be served from memory the server had already
    // freed (the login's password hash alone is ~19 MiB), which would make
    // the growth over all of them look smaller than it is.
    let rss0 = rss_kib(pid);
    let mut conns = Vec::with_capacity(n);
    let mut rss_half = 0;
    for i in 0..n {
        if i == n / 2 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_half = rss_kib(pid);
        }
        let mut c = TcpStream::connect(&addr).await.expect("connect");
        c.set_nodelay(true).ok();
        c.write_all(&wait_req).await.expect("write");
        conns.push(c);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_kib(pid);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for mut c in conns {
        let tx = tx.clone();
        tokio::spawn(async move {
            let body = response(&mut c).await;
            let t = Instant::now();
            // The connection stays open until every answer is in, so that
            // closing it is not part of what is measured.
            let _ = tx.send((t, body.windows(5).any(|w| w == b">mod<"), c));
        });
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let me = std::process::id();
    let (srv0, cli0) = (cpu_ns(pid), cpu_ns(me));
    let t0 = Instant::now();
    rpc(
        &mut ctl,
        &call(
            "task.set_progress",
            &[&s(&sid), &s(&task), "<value><double>0.5</double></value>"],
        ),
    )
    .await;
    let mut lat = Vec::with_capacity(n);
    let mut with_event = 0;
    let mut open = Vec::with_capacity(n);
    while let Some((t, ok, c)) = rx.recv().await {
        open.push(c);
        lat.push(t.duration_since(t0).as_secs_f64() * 1000.0);
        with_event += usize::from(ok);
    }
    let (srv1, cli1) = (cpu_ns(pid), cpu_ns(me));
    if std::env::var_os("WINDOW").is_some() {
        let now = mono();
        eprintln!("window {:.6} {:.6}", now - t0.elapsed().as_secs_f64(), now);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "{} waiters ({} saw the mod event): return after the change p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        with_event,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    if pid != 0 {
        println!(
            "CPU from the change to the last answer: server {:.2} ms ({:.1} us per waiter), this client {:.2} ms",
            (srv1 - srv0) as f64 / 1e6,
            (srv1 - srv0) as f64 / 1e3 / n as f64,
            (cli1 - cli0) as f64 / 1e6
        );
        println!(
            "server RSS: {} KiB before, {} KiB with {} waiting, {} KiB with {} more: {:.1} KiB per waiting client (the second half)",
            rss0,
            rss_half,
            n / 2,
            rss1,
            n - n / 2,
            (rss1.saturating_sub(rss_half)) as f64 / (n - n / 2) as f64
        );
    }
}
