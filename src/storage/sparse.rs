//! Zero detection: the copy jobs and the HTTP import skip writing blocks
//! that are all zeroes, so their targets stay as sparse as their sources
//! (as `qemu-img convert` does with its default `-S 4k`).

/// Whether a buffer holds only zero bytes.
pub fn is_zero(b: &[u8]) -> bool {
    // Word at a time, no early exit, so the compiler vectorises it.
    let words = b.chunks_exact(8);
    let rest = words.remainder();
    let acc = words.fold(0u64, |a, c| {
        a | u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
    });
    acc == 0 && rest.iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::is_zero;

    #[test]
    fn any_non_zero_byte_counts() {
        assert!(is_zero(&[]));
        for len in [1, 7, 8, 9, 4096, 4099] {
            let mut b = vec![0u8; len];
            assert!(is_zero(&b), "{len}");
            for at in [0, len / 2, len - 1] {
                b[at] = 1;
                assert!(!is_zero(&b), "{len} at {at}");
                b[at] = 0;
            }
        }
    }
}
