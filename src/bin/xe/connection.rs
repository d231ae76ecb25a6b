//! The connection to the server: HTTP/1.1 over a `TcpStream`, with TLS
//! (rustls, accepting any certificate, as xapi's `xe` does through stunnel
//! without verification) unless `--nossl`. XML-RPC calls are POSTs to `/`
//! encoded and decoded with the library's codec (`xapid::wire`); the data
//! paths (`/import_raw_vdi`, `/export_raw_vdi`) stream bodies from and to
//! files. The connection is kept alive between calls and reopened when the
//! server has closed it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use xapid::wire::xmlrpc::{decode_reply, decode_value, encode_value};
use xapid::wire::{Limits, Value};

/// Where to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS (the default) or plain HTTP (`--nossl`).
    pub tls: bool,
}

/// What went wrong with a call.
#[derive(Debug)]
pub enum CallError {
    /// The server answered `Failure`: the error code and its parameters.
    Api(Vec<String>),
    /// The server could not be reached, or the connection broke.
    Connect(String),
    /// The answer was not what XML-RPC promises.
    Protocol(String),
}

impl From<io::Error> for CallError {
    fn from(e: io::Error) -> Self {
        CallError::Connect(e.to_string())
    }
}

/// A byte stream to the server, plain or TLS.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One HTTP response's head.
#[derive(Debug)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// A header's value by (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a response body ends.
enum Framing {
    Length(u64),
    Chunked { left: u64, done: bool },
    UntilClose,
}

/// A connection to the server (reopened as needed).
pub struct Conn {
    target: Target,
    stream: Option<BufReader<Box<dyn Stream>>>,
    /// Answers read with a fresh connection were received on it (a stale
    /// kept-alive connection is retried once).
    reused: bool,
}

impl Conn {
    /// A connection to `target` (opened at the first call).
    pub fn new(target: Target) -> Conn {
        Conn {
            target,
            stream: None,
            reused: false,
        }
    }

    /// Drops the connection (after a body left half-read).
    pub fn reset(&mut self) {
        self.stream = None;
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn open(&mut self) -> Result<(), CallError> {
        let t = &self.target;
        let addrs = (t.host.as_str(), t.port)
            .to_socket_addrs()
            .map_err(|_| CallError::Connect(format!("Host '{}' not found.", t.host)))?;
        let mut last = None;
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            CallError::Connect(match last {
                Some(e) => e.to_string(),
                None => format!("Host '{}' not found.", t.host),
            })
        })?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = if t.tls {
            let name = ServerName::try_from(t.host.clone())
                .map_err(|e| CallError::Connect(e.to_string()))?;
            let conn = ClientConnection::new(tls_config()?, name)
                .map_err(|e| CallError::Connect(e.to_string()))?;
            Box::new(StreamOwned::new(conn, tcp))
        } else {
            Box::new(tcp)
        };
        self.stream = Some(BufReader::with_capacity(64 * 1024, stream));
        self.reused = false;
        Ok(())
    }

    /// Sends a request head (and `body` bytes, if any) and reads the
    /// response head; retries once on a fresh connection when a kept-alive
    /// one turns out to be closed.
    fn exchange(&mut self, head: &str, body: &[u8]) -> Result<Head, CallError> {
        for attempt in 0..2 {
            if self.stream.is_none() {
                self.open()?;
            }
            let reused = self.reused;
            let r = (|| -> io::Result<Head> {
                let s = self.stream.as_mut().expect("open");
                let w = s.get_mut();
                w.write_all(head.as_bytes())?;
                w.write_all(body)?;
                w.flush()?;
                read_head(s)
            })();
            match r {
                Ok(h) => {
                    self.reused = true;
                    return Ok(h);
                }
                Err(e) => {
                    self.stream = None;
                    if !(reused && attempt == 0) {
                        return Err(e.into());
                    }
                }
            }
        }
        Err(CallError::Connect("Lost connection to the server.".into()))
    }

    fn request_head(&self, method: &str, path: &str, extra: &str) -> String {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: xe-cli/xapid/{}\r\noriginator: cli\r\n{extra}\r\n",
            self.target.host,
            self.target.port,
            env!("CARGO_PKG_VERSION")
        )
    }

    /// Calls `method` with `params`; the `Value` of a `Success`, or the
    /// `ErrorDescription` of a `Failure` as [`CallError::Api`].
    pub fn call(&mut self, method: &str, params: &[Value]) -> Result<Value, CallError> {
        let mut body = Vec::with_capacity(256);
        body.extend_from_slice(b"<?xml version=\"1.0\"?><methodCall><methodName>");
        for c in method.bytes() {
            match c {
                b'<' => body.extend_from_slice(b"&lt;"),
                b'&' => body.extend_from_slice(b"&amp;"),
                c => body.push(c),
            }
        }
        body.extend_from_slice(b"</methodName><params>");
        for p in params {
            body.extend_from_slice(b"<param>");
            encode_value(p, &mut body);
            body.extend_from_slice(b"</param>");
        }
        body.extend_from_slice(b"</params></methodCall>");
        let head = self.request_head(
            "POST",
            "/",
            &format!(
                "Content-Type: text/xml\r\nContent-Length: {}\r\n",
                body.len()
            ),
        );
        let h = self.exchange(&head, &body)?;
        let mut reply = Vec::new();
        self.body(&h)?.read_to_end(&mut reply)?;
        if h.status != 200 {
            return Err(CallError::Protocol(format!(
                "HTTP {}: {}",
                h.status,
                String::from_utf8_lossy(&reply).trim()
            )));
        }
        let limits = Limits {
            max_depth: 64,
            max_elements: usize::MAX,
        };
        let v = decode_reply(&reply, &limits)
            .map_err(|e| CallError::Protocol(format!("bad XML-RPC reply: {e}")))?;
        match v.member("Status").and_then(Value::as_str) {
            Some("Success") => Ok(v.member("Value").cloned().unwrap_or_else(Value::void)),
            Some("Failure") => {
                let desc = match v.member("ErrorDescription") {
                    Some(Value::Array(a)) => a.iter().map(value_text).collect(),
                    _ => vec!["INTERNAL_ERROR".into()],
                };
                Err(CallError::Api(desc))
            }
            _ => Err(CallError::Protocol("reply without a Status".into())),
        }
    }

    /// Sends `GET path` and returns the response head and a reader of its
    /// body.
    pub fn get(&mut self, path: &str) -> Result<(Head, BodyReader<'_>), CallError> {
        let head = self.request_head("GET", path, "");
        let h = self.exchange(&head, &[])?;
        let b = self.body(&h)?;
        Ok((h, b))
    }

    /// Sends `PUT path` with `len` bytes read from `src` (calling `sent`
    /// after each piece with the total so far; it returns false to stop)
    /// and returns the response head and body text.
    pub fn put(
        &mut self,
        path: &str,
        len: u64,
        src: &mut dyn Read,
        sent: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(Head, String), CallError> {
        if self.stream.is_none() || self.reused {
            // A body cannot be replayed: start on a fresh connection.
            self.stream = None;
            self.open()?;
        }
        let head = self.request_head("PUT", path, &format!("Content-Length: {len}\r\n"));
        let s = self.stream.as_mut().expect("open");
        let w = s.get_mut();
        w.write_all(head.as_bytes())?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        while total < len {
            let want = buf.len().min((len - total) as usize);
            let n = src.read(&mut buf[..want])?;
            if n == 0 {
                return Err(CallError::Connect("the file is shorter than it was".into()));
            }
            if let Err(e) = w.write_all(&buf[..n]) {
                // The server may have refused early: read its answer.
                self.reused = true;
                return match read_head(self.stream.as_mut().expect("open")) {
                    Ok(h) => {
                        let mut text = String::new();
                        let _ = self.body(&h)?.read_to_string(&mut text);
                        self.stream = None;
                        Ok((h, text))
                    }
                    Err(_) => Err(e.into()),
                };
            }
            total += n as u64;
            if !sent(total) {
                self.stream = None;
                return Err(CallError::Connect("cancelled".into()));
            }
        }
        w.flush()?;
        let h = read_head(s)?;
        self.reused = true;
        let mut text = String::new();
        self.body(&h)?.read_to_string(&mut text)?;
        Ok((h, text))
    }

    fn body(&mut self, h: &Head) -> Result<BodyReader<'_>, CallError> {
        let chunked = h
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let framing = if chunked {
            Framing::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some(n) = h
            .header("content-length")
            .and_then(|v| v.trim().parse().ok())
        {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        };
        let keep = !matches!(framing, Framing::UntilClose)
            && !h
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let conn = self;
        Ok(BodyReader {
            framing,
            keep,
            conn,
        })
    }
}

/// A response body being read (by length, chunks or until the close).
pub struct BodyReader<'a> {
    framing: Framing,
    keep: bool,
    conn: &'a mut Conn,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(s) = self.conn.stream.as_mut() else {
            return Ok(0);
        };
        let n = match &mut self.framing {
            Framing::Length(0) => 0,
            Framing::Length(left) => {
                let want = buf.len().min(*left as usize);
                let n = s.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n as u64;
                n
            }
            Framing::Chunked { done: true, .. } => 0,
            Framing::Chunked { left, done } => {
                if *left == 0 {
                    let mut line = String::new();
                    s.read_line(&mut line)?;
                    if line.trim().is_empty() {
                        // the CRLF after the previous chunk
                        line.clear();
                        s.read_line(&mut line)?;
                    }
                    let size = line.trim().split(';').next().unwrap_or("");
                    let size = u64::from_str_radix(size.trim(), 16)
                        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk"))?;
                    if size == 0 {
                        // trailers up to the empty line
                        loop {
                            line.clear();
                            if s.read_line(&mut line)? == 0 || line.trim().is_empty() {
                                break;
                            }
                        }
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let want = buf.len().min(*left as usize);
                let n = s.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                *left -= n as u64;
                n
            }
            Framing::UntilClose => s.read(buf)?,
        };
        if n == 0 && !self.keep {
            self.conn.stream = None;
        }
        Ok(n)
    }
}

/// Reads a status line and headers.
fn read_head(s: &mut BufReader<Box<dyn Stream>>) -> io::Result<Head> {
    let mut line = String::new();
    if s.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "Lost connection to the server.",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if s.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Ok(Head { status, headers })
}

/// A value as text: strings as they are, numbers and other scalars
/// printed.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::I4(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Ref(r) => r.to_string(),
        Value::DateTime(d) => d.to_xapi_string(),
        Value::Nil => String::new(),
        other => format!("{other:?}"),
    }
}

/// Decodes a task's `result` (an XML-RPC `<value>` fragment) to text.
pub fn task_result_text(result: &str) -> String {
    if result.trim().is_empty() {
        return String::new();
    }
    match decode_value(result.as_bytes(), &Limits::default()) {
        Ok(v) => value_text(&v),
        Err(_) => result.to_string(),
    }
}

/// Accepts any server certificate (xapi's `xe` does not verify either).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config() -> Result<Arc<ClientConfig>, CallError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| CallError::Connect(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}
