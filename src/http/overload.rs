//! Too many clients, and clients too slow: what bounds them.
//!
//! - A connection beyond `max_connections` waits for a place at most
//!   `connection_wait`, among at most `max_waiting_connections` others;
//!   beyond those it is refused at once: `503 Service Unavailable` with
//!   `Retry-After` on plain HTTP (written without reading the request),
//!   closed on TLS (no handshake is spent on it). So a storm of connections
//!   is answered quickly and holds no more than the two bounds' sockets.
//! - A request's headers must arrive within `header_read_timeout` (hyper's
//!   timer; it also ends a keep-alive connection idle that long).
//! - A request body that sends nothing for `body_idle_timeout` is given up
//!   (`rpc` and the import path).
//! - A client that takes nothing of a reply for `write_stall_timeout` is
//!   disconnected ([`StallGuard`]): the reply's producer (a large
//!   `get_all_records`, an export) sees its channel closed and lets go of
//!   its thread and its claim.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep, Sleep};

/// Answers a connection refused for want of a place, and closes it: a
/// one-line 503 on plain HTTP (within a second: a client that does not
/// read is not waited for), nothing on TLS.
pub async fn refuse_busy(mut stream: TcpStream, tls: bool) {
    if !tls {
        const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
            content-type: text/plain; charset=utf-8\r\n\
            retry-after: 1\r\n\
            connection: close\r\n\
            content-length: 54\r\n\r\n\
            the server is serving all the connections it can take\n";
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(BUSY).await?;
            stream.shutdown().await
        })
        .await;
    }
    drop(stream);
}

/// An IO whose writes fail (`TimedOut`) once one has made no progress for
/// the given time: a client that stops reading cannot hold its reply's
/// producer forever.
pub struct StallGuard<I> {
    inner: I,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<I> StallGuard<I> {
    /// Guards `inner` with `limit`.
    pub fn new(inner: I, limit: Duration) -> StallGuard<I> {
        StallGuard {
            inner,
            limit,
            stalled: None,
        }
    }

    /// After a pending write or flush: the time's up?
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let limit = self.limit;
        let s = self.stalled.get_or_insert_with(|| Box::pin(sleep(limit)));
        match s.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took nothing of the reply for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

use std::future::Future;

impl<I: AsyncRead + Unpin> AsyncRead for StallGuard<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for StallGuard<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.check(cx),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.check(cx),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.check(cx).map_ok(|_| ()),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
