//! Encoding a large answer on every core, sent in order: the rows are cut
//! into pieces, worker threads encode pieces in turn (worker `w` takes
//! pieces `w`, `w + n`, ...), and the caller's thread hands each piece's
//! chunks on in piece order. At most two pieces per worker are held at
//! once, so memory stays bounded whatever the answer's size; a reader that
//! goes away stops the workers at their next piece.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// Rows per piece: about 3 MB of XML for tasks, enough that a piece costs
/// far more than handing it over, few enough that the first bytes leave
/// early.
pub const PIECE_ROWS: usize = 2048;

/// How many threads encode: every CPU (at most 4); one where there is a
/// single CPU or a single piece.
fn workers(pieces: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus.clamp(1, 4).min(pieces).max(1)
}

/// Encodes `pieces` with `encode(index, piece)` (a piece's chunks, in
/// order; none for an empty piece) and passes every chunk to `send(index,
/// chunk)` in piece order; stops early when `send` returns false. Runs on the calling (blocking) thread and threads
/// of its own, all joined before it returns.
pub fn encode_in_order<P: Sync>(
    pieces: &[P],
    encode: impl Fn(usize, &P) -> Vec<Vec<u8>> + Sync,
    mut send: impl FnMut(usize, Vec<u8>) -> bool,
) {
    let n = workers(pieces.len());
    if n <= 1 {
        for (i, p) in pieces.iter().enumerate() {
            for c in encode(i, p) {
                if !send(i, c) {
                    return;
                }
            }
        }
        return;
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let mut inbox = Vec::with_capacity(n);
        for w in 0..n {
            // One finished piece waits per worker while it encodes the next.
            let (tx, rx) = mpsc::sync_channel::<Vec<Vec<u8>>>(1);
            inbox.push(rx);
            let (encode, stop) = (&encode, &stop);
            scope.spawn(move || {
                for i in (w..pieces.len()).step_by(n) {
                    if stop.load(Ordering::Relaxed) || tx.send(encode(i, &pieces[i])).is_err() {
                        return;
                    }
                }
            });
        }
        'pieces: for i in 0..pieces.len() {
            let Ok(chunks) = inbox[i % n].recv() else {
                break;
            };
            for c in chunks {
                if !send(i, c) {
                    stop.store(true, Ordering::Relaxed);
                    break 'pieces;
                }
            }
        }
        // A worker blocked handing over a piece nobody will take is let go.
        drop(inbox);
    });
}

/// Streams an answer into `tx`: `opening`, the chunks of the non-empty
/// pieces (encoded by [`encode_in_order`]) joined by `separator`, then
/// `closing()`. Stops when the reader goes away.
pub fn stream_joined<P: Sync>(
    tx: &tokio::sync::mpsc::Sender<bytes::Bytes>,
    opening: Vec<u8>,
    pieces: &[P],
    separator: &'static [u8],
    encode: impl Fn(usize, &P) -> Vec<Vec<u8>> + Sync,
    closing: impl FnOnce() -> Vec<u8>,
) {
    if tx.blocking_send(opening.into()).is_err() {
        return;
    }
    let mut gone = false;
    let mut last = None;
    encode_in_order(pieces, encode, |i, c| {
        if last != Some(i) {
            if last.is_some() && !separator.is_empty() {
                gone = tx
                    .blocking_send(bytes::Bytes::from_static(separator))
                    .is_err();
            }
            last = Some(i);
        }
        gone = gone || tx.blocking_send(c.into()).is_err();
        !gone
    });
    if !gone {
        let _ = tx.blocking_send(closing().into());
    }
}

#[cfg(test)]
mod tests;
