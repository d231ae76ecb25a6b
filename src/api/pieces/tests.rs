//! Pieces come out in order, whole, and a reader that stops stops the work.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::encode_in_order;

fn chunks_of(i: usize) -> Vec<Vec<u8>> {
    // Pieces of uneven cost and chunk counts.
    (0..=(i % 3))
        .map(|k| format!("{i}.{k};").into_bytes())
        .collect()
}

#[test]
fn every_chunk_comes_in_piece_order() {
    for count in [0, 1, 2, 3, 7, 100] {
        let pieces: Vec<usize> = (0..count).collect();
        let mut got = Vec::new();
        encode_in_order(
            &pieces,
            |i, p| {
                assert_eq!(i, *p);
                if i % 5 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                chunks_of(i)
            },
            |i, c| {
                assert!(c.starts_with(format!("{i}.").as_bytes()));
                got.extend(c);
                true
            },
        );
        let want: Vec<u8> = (0..count).flat_map(chunks_of).flatten().collect();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }
}

#[test]
fn a_reader_that_stops_stops_the_workers() {
    let pieces: Vec<usize> = (0..10_000).collect();
    let encoded = AtomicUsize::new(0);
    let mut sent = 0;
    encode_in_order(
        &pieces,
        |i, _| {
            encoded.fetch_add(1, Ordering::Relaxed);
            chunks_of(i)
        },
        |_, _| {
            sent += 1;
            sent < 3
        },
    );
    assert_eq!(sent, 3);
    // Each worker holds at most a piece in hand and one handed over.
    assert!(
        encoded.load(Ordering::Relaxed) < 20,
        "{}",
        encoded.load(Ordering::Relaxed)
    );
}
