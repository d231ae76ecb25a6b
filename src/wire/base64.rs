//! Standard base64 (RFC 4648 alphabet, `=` padding) for `<base64>` values.
//!
//! Encoding always pads. Decoding ignores ASCII whitespace anywhere (clients
//! wrap lines every 76 characters) and also accepts a missing final padding;
//! anything else outside the alphabet is an error.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Sextet value of each byte, or `INVALID`/`SPACE`.
const INVALID: u8 = 0xFF;
const SPACE: u8 = 0xFE;
const PAD: u8 = 0xFD;

const DECODE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t[b' ' as usize] = SPACE;
    t[b'\t' as usize] = SPACE;
    t[b'\n' as usize] = SPACE;
    t[b'\r' as usize] = SPACE;
    t[b'=' as usize] = PAD;
    t
};

/// Appends the base64 encoding of `input` to `out`.
pub fn encode_to(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len().div_ceil(3) * 4);
    let mut chunks = input.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// The base64 encoding of `input` as a `String`.
pub fn encode(input: &[u8]) -> String {
    let mut out = Vec::new();
    encode_to(input, &mut out);
    // The alphabet is ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes base64 text, skipping whitespace. `None` if it is not base64.
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut n = 0u32; // sextets in `acc`
    let mut pads = 0u32;
    for &b in input {
        match DECODE[b as usize] {
            SPACE => {}
            PAD => pads += 1,
            INVALID => return None,
            v => {
                if pads > 0 {
                    // Data after padding.
                    return None;
                }
                acc = (acc << 6) | u32::from(v);
                n += 1;
                if n == 4 {
                    out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
                    acc = 0;
                    n = 0;
                }
            }
        }
    }
    match (n, pads) {
        (0, 0) => {}
        (2, 0) | (2, 2) => out.push((acc >> 4) as u8),
        (3, 0) | (3, 1) => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn all_bytes_round_trip() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for len in 0..40 {
            assert_eq!(
                decode(encode(&data[..len]).as_bytes()).unwrap(),
                &data[..len]
            );
        }
        assert_eq!(decode(encode(&data).as_bytes()).unwrap(), data);
        assert!(encode(&[0xfb, 0xff]).contains('+') || encode(&[0xfb, 0xff]).contains('/'));
    }

    #[test]
    fn whitespace_and_missing_padding() {
        assert_eq!(decode(b" Zm9v\r\nYmFy\n").unwrap(), b"foobar");
        assert_eq!(decode(b"Zm9vYg").unwrap(), b"foob");
        assert_eq!(decode(b"Zm9vYmE").unwrap(), b"fooba");
        assert_eq!(decode(b"Zm9vYg= =").unwrap(), b"foob");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"Zm9v!"[..],
            b"Z",
            b"Zm9vY",
            b"Zg=a",
            b"Zg===",
            b"Zm8==",
            b"=",
            b"Zm9v-_",
        ] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
