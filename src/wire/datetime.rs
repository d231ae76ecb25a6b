//! XenAPI datetimes: `YYYYMMDDTHH:MM:SSZ` on output, the usual spellings on
//! input.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime as ChronoDateTime, NaiveDateTime, Utc};

/// A point in time, in whole seconds since the Unix epoch, UTC.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct DateTime(pub i64);

impl DateTime {
    /// `19700101T00:00:00Z`: what xapi shows for "not yet" (e.g. `finished`
    /// of a pending task).
    pub const EPOCH: DateTime = DateTime(0);

    /// Now, truncated to seconds.
    pub fn now() -> DateTime {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        DateTime(d.as_secs() as i64)
    }

    /// Formats as xapi does: `20261123T12:00:00Z`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let (y, mo, d, h, mi, s) = civil(self.0);
        // Years outside 0..=9999 cannot be written in this format; clamp.
        let y = y.clamp(0, 9999) as u32;
        let mut buf = *b"00000000T00:00:00Z";
        put(&mut buf[0..4], y, 4);
        put(&mut buf[4..6], mo, 2);
        put(&mut buf[6..8], d, 2);
        put(&mut buf[9..11], h, 2);
        put(&mut buf[12..14], mi, 2);
        put(&mut buf[15..17], s, 2);
        out.extend_from_slice(&buf);
    }

    /// The xapi spelling as a `String`.
    pub fn to_xapi_string(&self) -> String {
        let mut v = Vec::with_capacity(18);
        self.write_to(&mut v);
        String::from_utf8(v).unwrap_or_default()
    }

    /// Parses what clients send: xapi's `20261123T12:00:00Z`, Python's
    /// zone-less `20261123T12:00:00`, dashed RFC 3339 with fractions and an
    /// offset (`2026-11-23T12:00:00.123Z`, what JavaScript's `toISOString`
    /// gives). A value without a zone is UTC, as in xapi.
    pub fn parse(s: &str) -> Option<DateTime> {
        let s = s.trim();
        if s.is_empty() || s.len() > 64 {
            return None;
        }
        if let Ok(dt) = ChronoDateTime::parse_from_rfc3339(s) {
            return Some(DateTime(dt.timestamp()));
        }
        let (body, offset) = split_zone(s)?;
        for fmt in [
            "%Y%m%dT%H:%M:%S%.f",
            "%Y%m%dT%H%M%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y%m%d",
        ] {
            if let Ok(n) = NaiveDateTime::parse_from_str(body, fmt) {
                return Some(DateTime(n.and_utc().timestamp() - offset));
            }
            if fmt == "%Y%m%d" {
                if let Ok(d) = chrono::NaiveDate::parse_from_str(body, fmt) {
                    let n = d.and_hms_opt(0, 0, 0)?;
                    return Some(DateTime(n.and_utc().timestamp() - offset));
                }
            }
        }
        None
    }

    /// A fast parser for the one spelling xapi and Python use,
    /// `20261123T12:00:00` with an optional `Z` (ISO 8601's basic format).
    /// `None` for anything else (or anything odd), which is then left to
    /// [`DateTime::parse`]; where this answers, `parse` answers the same.
    pub(crate) fn parse_compact(s: &str) -> Option<DateTime> {
        let b = s.as_bytes();
        let b = match b.len() {
            17 => b,
            18 if b[17] == b'Z' => &b[..17],
            _ => return None,
        };
        if b[8] != b'T' || b[11] != b':' || b[14] != b':' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            b[r].iter().try_fold(0i64, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
            })
        };
        let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (h, mi, sec) = (num(9..11)?, num(12..14)?, num(15..17)?);
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mdays = match mo {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if d < 1 || d > mdays || h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        // Days from civil (Howard Hinnant's algorithm).
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (mo + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(DateTime(days * 86_400 + h * 3600 + mi * 60 + sec))
    }

    /// This instant as a chrono value.
    pub fn to_chrono(&self) -> Option<ChronoDateTime<Utc>> {
        ChronoDateTime::from_timestamp(self.0, 0)
    }
}

/// Splits a trailing `Z` or `+hh:mm`/`-hh:mm`/`+hhmm` zone off; returns the
/// rest and the offset in seconds east of UTC.
fn split_zone(s: &str) -> Option<(&str, i64)> {
    if let Some(b) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((b, 0));
    }
    let bytes = s.as_bytes();
    // Look for a sign in the time part (after the 'T').
    let t = s.find(['T', 't'])?;
    if let Some(pos) = s[t..].rfind(['+', '-']).map(|p| p + t) {
        let zone = &s[pos + 1..];
        let digits: String = zone.chars().filter(|c| *c != ':').collect();
        if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = digits[2..].parse().ok()?;
            let sign = if bytes[pos] == b'-' { -1 } else { 1 };
            return Some((&s[..pos], sign * (h * 3600 + m * 60)));
        }
    }
    Some((s, 0))
}

fn put(dst: &mut [u8], mut v: u32, width: usize) {
    for i in (0..width).rev() {
        dst[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Seconds since the epoch to (year, month, day, hour, minute, second), UTC
/// (Howard Hinnant's days-to-civil algorithm).
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_xapi() {
        assert_eq!(DateTime::EPOCH.to_xapi_string(), "19700101T00:00:00Z");
        assert_eq!(
            DateTime(1_795_420_800).to_xapi_string(),
            "20261123T08:00:00Z"
        );
    }

    #[test]
    fn parses_client_spellings() {
        let want = Some(DateTime(1_795_420_800));
        assert_eq!(DateTime::parse("20261123T08:00:00Z"), want);
        assert_eq!(DateTime::parse("20261123T08:00:00"), want);
        assert_eq!(DateTime::parse("2026-11-23T08:00:00.000Z"), want);
        assert_eq!(DateTime::parse("2026-11-23T09:00:00+01:00"), want);
        assert_eq!(DateTime::parse("20261123T09:00:00+01:00"), want);
        assert_eq!(DateTime::parse("20261123T07:00:00-01:00"), want);
        assert_eq!(DateTime::parse("nonsense"), None);
        assert_eq!(DateTime::parse(""), None);
    }

    #[test]
    fn civil_matches_chrono() {
        for secs in [0i64, 86_399, 951_782_400, 4_102_444_800, 1_795_435_199] {
            let c = DateTime(secs).to_chrono().unwrap();
            assert_eq!(
                DateTime(secs).to_xapi_string(),
                c.format("%Y%m%dT%H:%M:%SZ").to_string()
            );
        }
    }

    #[test]
    fn parse_compact_matches_parse() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // 1600..2400
            let secs = (x % 25_246_080_000) as i64 - 11_676_096_000;
            let text = DateTime(secs).to_xapi_string();
            assert_eq!(
                DateTime::parse_compact(&text),
                Some(DateTime(secs)),
                "{text}"
            );
            assert_eq!(DateTime::parse(&text), Some(DateTime(secs)), "{text}");
            assert_eq!(DateTime::parse_compact(&text[..17]), Some(DateTime(secs)));
        }
        for odd in [
            "20240229T00:00:00Z",
            "20230229T00:00:00Z",
            "21000229T00:00:00Z",
            "20000229T23:59:59Z",
            "20241231T24:00:00Z",
            "2024123xT00:00:00Z",
        ] {
            assert_eq!(DateTime::parse_compact(odd), DateTime::parse(odd), "{odd}");
        }
    }
}
