//! Shared helpers for the Rust integration tests: start the real server on
//! port 0 in-process, and a minimal keep-alive HTTP/XML-RPC client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use xapid::wire::{xmlrpc, Limits, Value};
use xapid::{Config, Running};

pub const PASSWORD: &str = "test-password";

/// A fresh state directory under the system temp dir.
pub fn temp_state() -> PathBuf {
    let d = std::env::temp_dir().join(format!("xapid-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A config for tests: port 0, a fresh state dir, a known password, short
/// login delays.
pub fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        listen_tls: "127.0.0.1:0".parse().unwrap(),
        state_dir: temp_state(),
        root_password: Some(PASSWORD.into()),
        login_failure_delay: Duration::from_millis(300),
        login_failure_max_delay: Duration::from_millis(300),
        ..Config::default()
    }
}

pub async fn start(config: Config) -> Running {
    xapid::start(config).await.expect("server starts")
}

/// One keep-alive HTTP/1.1 connection.
pub struct Client {
    stream: BufReader<TcpStream>,
}

/// An HTTP response.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            stream: BufReader::new(s),
        }
    }

    pub async fn post(&mut self, path: &str, body: &[u8]) -> Reply {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut msg = head.into_bytes();
        msg.extend_from_slice(body);
        self.stream.get_mut().write_all(&msg).await.unwrap();
        self.read_reply().await
    }

    async fn read_reply(&mut self) -> Reply {
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let body = if chunked {
            self.read_chunked().await
        } else {
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; len];
            self.stream.read_exact(&mut body).await.unwrap();
            body
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            self.stream.read_exact(&mut chunk).await.unwrap();
            if size == 0 {
                return body;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    /// Posts a JSON-RPC request to `/jsonrpc`; returns the parsed reply.
    pub async fn json(&mut self, body: &serde_json::Value) -> serde_json::Value {
        let r = self.post("/jsonrpc", body.to_string().as_bytes()).await;
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).unwrap()
    }

    /// Calls a method with string parameters; returns the decoded reply
    /// struct (Status/Value or Status/ErrorDescription).
    pub async fn call(&mut self, method: &str, params: &[&str]) -> Value {
        let body = request(method, params);
        let r = self.post("/", body.as_bytes()).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        xmlrpc::decode_reply(&r.body, &Limits::default()).unwrap()
    }

    /// Calls and expects success; returns Value.
    pub async fn ok(&mut self, method: &str, params: &[&str]) -> Value {
        let v = self.call(method, params).await;
        assert_eq!(
            v.member("Status").and_then(Value::as_str),
            Some("Success"),
            "{method}: {v:?}"
        );
        v.member("Value").unwrap().clone()
    }

    /// Calls and expects failure; returns the ErrorDescription strings.
    pub async fn fails(&mut self, method: &str, params: &[&str]) -> Vec<String> {
        let v = self.call(method, params).await;
        assert_eq!(
            v.member("Status").and_then(Value::as_str),
            Some("Failure"),
            "{method}: {v:?}"
        );
        match v.member("ErrorDescription") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().unwrap_or("").to_owned())
                .collect(),
            other => panic!("no ErrorDescription: {other:?}"),
        }
    }

    pub async fn login(&mut self) -> String {
        self.ok(
            "session.login_with_password",
            &["root", PASSWORD, "1.0", "rust-tests"],
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
    }
}

/// An XML-RPC request with string parameters.
pub fn request(method: &str, params: &[&str]) -> String {
    let mut s =
        format!("<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>");
    for p in params {
        s.push_str("<param><value><string>");
        s.push_str(&p.replace('&', "&amp;").replace('<', "&lt;"));
        s.push_str("</string></value></param>");
    }
    s.push_str("</params></methodCall>");
    s
}
