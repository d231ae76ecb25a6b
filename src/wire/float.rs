//! Decimal numbers as xapi writes them: doubles as C's `printf("%.16g")`
//! prints them, and the plain integer printer both the float printer and
//! the XML-RPC encoder use.

use std::io::Write as _;

/// Writes `n` in decimal (the encoder's integers and the exponents here).
pub(crate) fn write_i64(n: i64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Writes `x` as C's `printf("%.16g", x)` does (what xapi uses for
/// doubles): 16 significant digits, trailing zeros removed, exponent form
/// (`1e-05`, `1e+20`) outside `1e-4 <= |x| < 1e16`; `nan`, `inf`, `-inf`.
pub fn write_g16(x: f64, out: &mut Vec<u8>) {
    if x.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if x.is_infinite() {
        out.extend_from_slice(if x > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if x.is_sign_negative() {
        out.push(b'-');
    }
    let (digits, exp) = match digits16(x.abs()) {
        Some(d) => d,
        None => match digits16_slow(x.abs()) {
            Some(d) => d,
            None => return,
        },
    };
    let mut nd = 16;
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    if !(-4..16).contains(&exp) {
        out.push(digits[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..nd]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        write_i64(i64::from(e), out);
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if nd <= int_len {
            out.extend_from_slice(&digits[..nd]);
            out.resize(out.len() + (int_len - nd), b'0');
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..nd]);
        }
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-exp - 1) as usize, b'0');
        out.extend_from_slice(&digits[..nd]);
    }
}

/// The 16 significant digits of `x` (finite, not negative), correctly
/// rounded half-to-even as C's printf does, and the decimal exponent of the
/// first one. Exact integer arithmetic; `None` outside the range it covers
/// (subnormals, below ~1e-21, at or above 1e16).
fn digits16(x: f64) -> Option<([u8; 16], i32)> {
    let mut digits = [b'0'; 16];
    if x == 0.0 {
        return Some((digits, 0));
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        return None;
    }
    let f = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let p = biased - 1075;
    if p >= 0 {
        // An integer: exact if it has at most 16 digits.
        if p > 10 {
            return None;
        }
        let v = f << p;
        if v >= 10_000_000_000_000_000 {
            return None;
        }
        let k = put_digits(v, &mut digits);
        return Some((digits, k as i32 - 1));
    }
    let n = p.unsigned_abs();
    if n > 124 {
        return None;
    }
    let mask: u128 = (1u128 << n) - 1;
    let mut frac: u128 = u128::from(f) & mask;
    let int = if n >= 64 { 0 } else { f >> n };
    let mut nd;
    let mut exp10;
    if int > 0 {
        nd = put_digits(int, &mut digits);
        exp10 = nd as i32 - 1;
    } else {
        exp10 = -1;
        loop {
            frac *= 10;
            let d = (frac >> n) as u8;
            frac &= mask;
            if d != 0 {
                digits[0] = b'0' + d;
                break;
            }
            exp10 -= 1;
        }
        nd = 1;
    }
    while nd < 16 {
        frac *= 10;
        digits[nd] = b'0' + (frac >> n) as u8;
        frac &= mask;
        nd += 1;
    }
    // What is left is frac / 2^n units of the last digit.
    let half = 1u128 << (n - 1);
    if frac > half || (frac == half && (digits[15] - b'0') % 2 == 1) {
        let mut i = 16;
        loop {
            if i == 0 {
                // 9999999999999999 rounded up.
                digits[0] = b'1';
                exp10 += 1;
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    Some((digits, exp10))
}

/// Writes the decimal digits of `v` (below 10^16) at the start of `dst`;
/// returns how many.
fn put_digits(mut v: u64, dst: &mut [u8; 16]) -> usize {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let k = tmp.len() - i;
    dst[..k].copy_from_slice(&tmp[i..]);
    k
}

/// [`digits16`] for any finite `x`, through Rust's exact formatting (which
/// also rounds half-to-even), slower.
fn digits16_slow(x: f64) -> Option<([u8; 16], i32)> {
    // "d.ddddddddddddddde-X"
    let mut buf = [0u8; 32];
    let len = {
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        write!(cur, "{x:.15e}").ok()?;
        cur.position() as usize
    };
    let s = &buf[..len];
    let epos = s.iter().position(|&b| b == b'e')?;
    if epos != 17 {
        return None;
    }
    let exp: i32 = std::str::from_utf8(&s[epos + 1..]).ok()?.parse().ok()?;
    let mut digits = [b'0'; 16];
    digits[0] = s[0];
    digits[1..].copy_from_slice(&s[2..17]);
    Some((digits, exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g16(x: f64) -> String {
        let mut out = Vec::new();
        write_g16(x, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn g16_cases() {
        for (x, want) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (0.5, "0.5"),
            (1.0, "1"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.0 / 3.0, "0.6666666666666666"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (1.5e-4, "0.00015"),
            (1e20, "1e+20"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000"),
            (9_999_999_999_999_998.0, "9999999999999998"),
            (12_345_678_901_234_567.0, "1.234567890123457e+16"),
            (-2.5, "-2.5"),
            (100.0, "100"),
            (123.456, "123.456"),
            (0.1 + 0.2, "0.3"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.797693134862316e+308"),
            (5e-324, "4.940656458412465e-324"),
            (2.2250738585072014e-308, "2.225073858507201e-308"),
            (65537.0 / 131072.0, "0.5000076293945312"),
            (0.99999999999999999, "1"),
            (0.9999999999999999, "0.9999999999999999"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(g16(x), want, "{x:e}");
        }
    }

    #[test]
    fn g16_fast_path_matches_exact_formatting() {
        let mut x: u64 = 0x0123_4567_89ab_cdef;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..300_000 {
            let r = next();
            let v = match i % 4 {
                0 => f64::from_bits(r),
                1 => (r >> 11) as f64 / (1u64 << 53) as f64,
                2 => (r % 100_000) as f64 / 1000.0,
                _ => {
                    f64::from_bits((r & 0x800f_ffff_ffff_ffff) | ((0x3b0 + (r >> 52) % 0xa0) << 52))
                }
            };
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let a = v.abs();
            if let Some(fast) = digits16(a) {
                assert_eq!(Some(fast), digits16_slow(a), "{v:e}");
            }
        }
    }

    #[test]
    fn g16_round_trips_within_16_digits() {
        for x in [0.25, 1.0 / 7.0, 123_456.789, 6.02214076e23, 1.602176634e-19] {
            let back: f64 = g16(x).parse().unwrap();
            assert!(((back - x) / x).abs() < 1e-15, "{x}");
        }
    }
}
