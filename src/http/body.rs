//! The response body: a whole buffer (the common case, sent with a
//! `Content-Length`), pieces already made (sent with a `Content-Length`,
//! without copying them into one buffer), or a head, chunks from a channel,
//! and a tail (large results, sent chunked as they are produced).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// All of it at once.
    Full(Option<Bytes>),
    /// All of it, in pieces (e.g. an envelope around a shared answer).
    Parts(std::collections::VecDeque<Bytes>),
    /// `head`, then every chunk the channel yields, then `tail`.
    Chunks {
        /// Sent first.
        head: Option<Bytes>,
        /// The producer's chunks.
        rx: mpsc::Receiver<Bytes>,
        /// Sent once the channel is closed.
        tail: Option<Bytes>,
    },
}

impl Body {
    /// A whole body.
    pub fn full(b: impl Into<Bytes>) -> Body {
        Body::Full(Some(b.into()))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Parts(p) => Poll::Ready(p.pop_front().map(|b| Ok(Frame::data(b)))),
            Body::Chunks { head, rx, tail } => {
                if let Some(h) = head.take() {
                    return Poll::Ready(Some(Ok(Frame::data(h))));
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(c)) => Poll::Ready(Some(Ok(Frame::data(c)))),
                    Poll::Ready(None) => Poll::Ready(tail.take().map(|t| Ok(Frame::data(t)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_none(),
            Body::Parts(p) => p.is_empty(),
            Body::Chunks { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Parts(p) => SizeHint::with_exact(p.iter().map(|b| b.len() as u64).sum()),
            Body::Chunks { .. } => SizeHint::default(),
        }
    }
}
