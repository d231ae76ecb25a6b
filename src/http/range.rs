//! The `Range` header of `GET /export_raw_vdi` (RFC 9110, section 14): one
//! byte range, `bytes=a-b`, `bytes=a-` or `bytes=-n` (the last `n` bytes).
//! Several ranges, other units or a malformed header are ignored (the whole
//! body is sent, as the RFC allows); a range that starts past the end is
//! unsatisfiable (416).
//!
//! And the body of `GET /export_raw_vdi?...&base=<vdi>`: only the ranges
//! that changed since `base`, as `multipart/byteranges` (RFC 9110, section
//! 14.6): one part per changed extent, each with its `Content-Range`.

/// The framing of a `multipart/byteranges` body of `extents` (byte
/// ranges `(offset, length)`) of a `size`-byte VDI: the parts (framing
/// then range), the closing delimiter, and the body's whole length.
pub fn multipart(
    boundary: &str,
    extents: &[(u64, u64)],
    size: u64,
) -> (Vec<(bytes::Bytes, u64, u64)>, bytes::Bytes, u64) {
    let mut parts = Vec::with_capacity(extents.len());
    let mut total = 0u64;
    for (i, (off, len)) in extents.iter().enumerate() {
        let sep = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{sep}--{boundary}\r\nContent-Type: application/octet-stream\r\n\
             Content-Range: bytes {off}-{}/{size}\r\n\r\n",
            off + len - 1
        );
        total += head.len() as u64 + len;
        parts.push((bytes::Bytes::from(head), *off, off + len));
    }
    let tail = if extents.is_empty() {
        format!("--{boundary}--\r\n")
    } else {
        format!("\r\n--{boundary}--\r\n")
    };
    total += tail.len() as u64;
    (parts, bytes::Bytes::from(tail), total)
}

/// What a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// The whole body (no usable `Range`).
    All,
    /// Bytes `[start, end)`: answered 206.
    Part {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// Nothing of the body can be served: 416.
    Unsatisfiable,
}

/// Reads a `Range` header against a body of `size` bytes.
pub fn wanted(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (a.trim().is_empty(), b.trim().is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match num(b) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if size == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part {
                start: size.saturating_sub(n),
                end: size,
            },
            None => Wanted::All,
        },
        // bytes=a-
        (false, true) => match num(a) {
            Some(start) if start >= size => Wanted::Unsatisfiable,
            Some(start) => Wanted::Part { start, end: size },
            None => Wanted::All,
        },
        // bytes=a-b (b inclusive)
        (false, false) => match (num(a), num(b)) {
            (Some(start), Some(last)) if last >= start => {
                if start >= size {
                    Wanted::Unsatisfiable
                } else {
                    Wanted::Part {
                        start,
                        end: last.saturating_add(1).min(size),
                    }
                }
            }
            _ => Wanted::All,
        },
        (true, true) => Wanted::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let w = |h: &str| wanted(Some(h), 1000);
        assert_eq!(wanted(None, 1000), Wanted::All);
        assert_eq!(w("bytes=0-99"), Wanted::Part { start: 0, end: 100 });
        assert_eq!(
            w("bytes=900-"),
            Wanted::Part {
                start: 900,
                end: 1000
            }
        );
        assert_eq!(
            w("bytes=-100"),
            Wanted::Part {
                start: 900,
                end: 1000
            }
        );
        assert_eq!(
            w("bytes=-5000"),
            Wanted::Part {
                start: 0,
                end: 1000
            }
        );
        assert_eq!(
            w("bytes=990-5000"),
            Wanted::Part {
                start: 990,
                end: 1000
            }
        );
        assert_eq!(w("bytes=1000-"), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=1000-1001"), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=-0"), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-10"), 0), Wanted::Unsatisfiable);
        // Ignored: several ranges, other units, nonsense.
        assert_eq!(w("bytes=0-1,5-6"), Wanted::All);
        assert_eq!(w("items=0-1"), Wanted::All);
        assert_eq!(w("bytes=5-1"), Wanted::All);
        assert_eq!(w("bytes=x-1"), Wanted::All);
        assert_eq!(w("bytes=+1-2"), Wanted::All);
        assert_eq!(w("bytes=-"), Wanted::All);
        assert_eq!(w("bytes=99999999999999999999999-"), Wanted::All);
    }
}
