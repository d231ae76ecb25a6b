//! The private executor that drives imago's async functions on the
//! calling thread (see the module comment of [`image`](super)).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Wakes the thread blocked in [`block_on`].
struct Unparker(std::thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread, parking it while
/// the future waits (for a `tokio::sync` lock held by another thread).
/// Needs no runtime, so it neither panics inside one nor needs one outside;
/// tokio's cooperative budget is switched off for the future, so it cannot
/// starve when polled from a runtime's worker thread.
pub(super) fn block_on<F: Future>(fut: F) -> F::Output {
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unparker(std::thread::current())));
    }
    let waker = WAKER
        .try_with(Waker::clone)
        .unwrap_or_else(|_| Waker::from(Arc::new(Unparker(std::thread::current()))));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(tokio::task::unconstrained(fut));
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
