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
mod tests;
