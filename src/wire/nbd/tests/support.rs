//! A test export (an in-memory image with holes), a test server, and a
//! hand-written client.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::super::consts::*;
use super::super::*;

/// The granularity of the test image's holes.
pub const BLOCK: usize = 64 << 10;

/// An image: `blocks` blocks of 64 KiB where the blocks in `data` hold
/// bytes and the rest are holes, plus a dirty bitmap (the first block).
pub struct Mem {
    pub name: String,
    pub bytes: Vec<u8>,
    pub contexts: Vec<String>,
    pub list: Vec<String>,
}

impl Mem {
    pub fn new(name: &str, blocks: usize, data: &[usize]) -> Arc<Mem> {
        let mut bytes = vec![0u8; blocks * BLOCK];
        for &b in data {
            for (i, x) in bytes[b * BLOCK..(b + 1) * BLOCK].iter_mut().enumerate() {
                *x = ((i % 251) as u8)
                    .wrapping_add(1)
                    .wrapping_add(b as u8)
                    .max(1);
            }
        }
        Arc::new(Mem {
            name: name.to_string(),
            bytes,
            contexts: vec![
                "base:allocation".into(),
                "qemu:dirty-bitmap:b1".into(),
                "qemu:allocation-depth".into(),
            ],
            list: vec![name.to_string()],
        })
    }

    pub fn info(&self) -> ExportInfo {
        ExportInfo {
            name: self.name.clone(),
            description: Some("test image".into()),
            size: self.bytes.len() as u64,
            flags: TF_CAN_MULTI_CONN,
            contexts: self.contexts.clone(),
        }
    }

    /// The flags of the block at byte `off` in `context`.
    fn flags(&self, context: &str, off: usize) -> u32 {
        let b = off / BLOCK;
        match context {
            "base:allocation" => {
                let blk = &self.bytes[b * BLOCK..((b + 1) * BLOCK).min(self.bytes.len())];
                if blk.iter().all(|&x| x == 0) {
                    STATE_HOLE | STATE_ZERO
                } else {
                    0
                }
            }
            "qemu:dirty-bitmap:b1" => u32::from(b == 0),
            _ => 1,
        }
    }
}

/// A shared handle (the traits are implemented on it).
#[derive(Clone)]
pub struct Shared(pub Arc<Mem>);

impl Exports for Shared {
    async fn list(&self) -> Vec<String> {
        self.0.list.clone()
    }

    async fn resolve(&self, name: &str) -> Result<ExportInfo, NbdError> {
        if name == self.0.name || name.is_empty() {
            Ok(self.0.info())
        } else {
            Err(NbdError::UnknownExport(name.to_string()))
        }
    }
}

impl Backend for Shared {
    async fn read(&self, offset: u64, len: u32) -> Result<Bytes, NbdError> {
        let (o, l) = (offset as usize, len as usize);
        Ok(Bytes::copy_from_slice(&self.0.bytes[o..o + l]))
    }

    async fn block_status(
        &self,
        context: &str,
        offset: u64,
        len: u32,
    ) -> Result<Vec<Extent>, NbdError> {
        let mut out: Vec<Extent> = Vec::new();
        let mut off = offset as usize;
        let end = (offset + u64::from(len)) as usize;
        while off < end {
            let next = ((off / BLOCK + 1) * BLOCK).min(self.0.bytes.len());
            let f = self.0.flags(context, off);
            let l = (next - off) as u32;
            match out.last_mut() {
                Some(e) if e.flags == f => e.length += l,
                _ => out.push(Extent {
                    length: l,
                    flags: f,
                }),
            }
            off = next;
        }
        Ok(out)
    }
}

/// One connection: negotiate then serve.
pub async fn connection<S>(io: S, mem: Shared, tls: Tls<S>) -> Result<(), SessionError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let n = negotiate(io, &mem, tls).await?;
    serve(n.io, &n.session, &mem).await
}

/// A TCP server on 127.0.0.1 (any port) serving `mem` without TLS.
pub async fn tcp_server(mem: Arc<Mem>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let mem = Shared(mem.clone());
            tokio::spawn(async move {
                let _ = connection(s, mem, Tls::Off).await;
            });
        }
    });
    addr
}

/// The client's end of an in-memory connection, and the server task.
pub fn start(
    mem: Arc<Mem>,
    tls: Tls<DuplexStream>,
) -> (Client, JoinHandle<Result<(), SessionError>>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let h = tokio::spawn(connection(b, Shared(mem), tls));
    (Client { io: a }, h)
}

/// A hand-written client.
pub struct Client {
    pub io: DuplexStream,
}

impl Client {
    /// Reads and checks the greeting, sends the client flags.
    pub async fn greet(&mut self, flags: u32) {
        let mut g = [0u8; 18];
        self.io.read_exact(&mut g).await.unwrap();
        assert_eq!(&g[..8], b"NBDMAGIC");
        assert_eq!(&g[8..16], b"IHAVEOPT");
        assert_eq!(u16::from_be_bytes([g[16], g[17]]), 3);
        self.io.write_all(&flags.to_be_bytes()).await.unwrap();
    }

    pub async fn opt(&mut self, code: u32, data: &[u8]) {
        let mut b = IHAVEOPT.to_be_bytes().to_vec();
        b.extend_from_slice(&code.to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        self.io.write_all(&b).await.unwrap();
    }

    /// One option reply: (option, type, data).
    pub async fn reply(&mut self) -> (u32, u32, Vec<u8>) {
        assert_eq!(self.io.read_u64().await.unwrap(), REPLY_MAGIC);
        let opt = self.io.read_u32().await.unwrap();
        let kind = self.io.read_u32().await.unwrap();
        let len = self.io.read_u32().await.unwrap();
        let mut d = vec![0u8; len as usize];
        self.io.read_exact(&mut d).await.unwrap();
        (opt, kind, d)
    }

    /// Replies until `ACK` or an error: the ones before, and the last.
    pub async fn replies(&mut self) -> (Vec<(u32, Vec<u8>)>, u32) {
        let mut v = Vec::new();
        loop {
            let (_, k, d) = self.reply().await;
            if k == REP_ACK || k & (1 << 31) != 0 {
                return (v, k);
            }
            v.push((k, d));
        }
    }

    pub async fn request(&mut self, flags: u16, cmd: u16, cookie: u64, offset: u64, len: u32) {
        let mut b = REQUEST_MAGIC.to_be_bytes().to_vec();
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&cmd.to_be_bytes());
        b.extend_from_slice(&cookie.to_be_bytes());
        b.extend_from_slice(&offset.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        self.io.write_all(&b).await.unwrap();
    }

    /// A simple reply: (error, cookie).
    pub async fn simple(&mut self) -> (u32, u64) {
        assert_eq!(self.io.read_u32().await.unwrap(), SIMPLE_REPLY_MAGIC);
        let e = self.io.read_u32().await.unwrap();
        (e, self.io.read_u64().await.unwrap())
    }

    /// A structured chunk: (flags, type, cookie, payload).
    pub async fn chunk(&mut self) -> (u16, u16, u64, Vec<u8>) {
        assert_eq!(self.io.read_u32().await.unwrap(), STRUCTURED_REPLY_MAGIC);
        let f = self.io.read_u16().await.unwrap();
        let t = self.io.read_u16().await.unwrap();
        let c = self.io.read_u64().await.unwrap();
        let l = self.io.read_u32().await.unwrap();
        let mut d = vec![0u8; l as usize];
        self.io.read_exact(&mut d).await.unwrap();
        (f, t, c, d)
    }

    /// `GO` (with structured replies and `base:allocation` when `sr`).
    pub async fn go(&mut self, name: &str, sr: bool) {
        self.greet(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).await;
        if sr {
            self.opt(OPT_STRUCTURED_REPLY, &[]).await;
            assert_eq!(self.reply().await.1, REP_ACK);
            self.opt(OPT_SET_META_CONTEXT, &meta_data(name, &["base:allocation"]))
                .await;
            let (v, k) = self.replies().await;
            assert_eq!((v.len(), k), (1, REP_ACK));
        }
        self.opt(OPT_GO, &info_data(name, &[])).await;
        let (_, k) = self.replies().await;
        assert_eq!(k, REP_ACK);
    }
}

/// The data of `INFO`/`GO`.
pub fn info_data(name: &str, reqs: &[u16]) -> Vec<u8> {
    let mut d = (name.len() as u32).to_be_bytes().to_vec();
    d.extend_from_slice(name.as_bytes());
    d.extend_from_slice(&(reqs.len() as u16).to_be_bytes());
    for r in reqs {
        d.extend_from_slice(&r.to_be_bytes());
    }
    d
}

/// The data of `LIST_META_CONTEXT`/`SET_META_CONTEXT`.
pub fn meta_data(name: &str, queries: &[&str]) -> Vec<u8> {
    let mut d = (name.len() as u32).to_be_bytes().to_vec();
    d.extend_from_slice(name.as_bytes());
    d.extend_from_slice(&(queries.len() as u32).to_be_bytes());
    for q in queries {
        d.extend_from_slice(&(q.len() as u32).to_be_bytes());
        d.extend_from_slice(q.as_bytes());
    }
    d
}
