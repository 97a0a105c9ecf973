//! Reading just what a load test needs from a broadcast frame, fast.
//!
//! At thousands of clients × 60 frames/s the generator parses >100k messages a second, so it
//! reads only `type`, `frame_count` and `timestamp` (serde skips the rest without building it)
//! and parses the timestamp by hand instead of through a general date-time parser.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct FrameHead<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Option<&'a str>,
    pub frame_count: Option<u64>,
    #[serde(borrow)]
    pub timestamp: Option<&'a str>,
    pub target_fps: Option<f64>,
    pub success: Option<bool>,
}

pub fn head(text: &str) -> Option<FrameHead<'_>> {
    serde_json::from_str(text).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Microseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.fraction]Z`; `None` otherwise.
pub fn timestamp_us(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[b.len() - 1] != b'Z'
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = b.get(r)?;
        s.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut micros = 0i64;
    if b[19] == b'.' {
        let digits = &b[20..b.len() - 1];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for i in 0..6 {
            micros = micros * 10 + digits.get(i).map_or(0, |c| i64::from(c - b'0'));
        }
    } else if b.len() != 20 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micros)
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since.as_micros() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_the_protocol_crate() {
        for text in [
            "2025-12-05T12:30:45.123456Z",
            "2025-12-05T12:30:45Z",
            "2025-12-05T12:30:45.1Z",
            "2000-02-29T23:59:59.999999999Z",
            "1970-01-01T00:00:00.000001Z",
        ] {
            let expected = protocol::Timestamp::parse(text)
                .and_then(|t| t.unix_nanos())
                .map(|n| (n / 1000) as i64);
            assert_eq!(timestamp_us(text), expected, "{text}");
        }
        for bad in [
            "",
            "2025-12-05T12:30:45+00:00",
            "2025-13-05T12:30:45Z",
            "2025-12-05T12:30:45.Z",
            "2025-12-05 12:30:45Z",
        ] {
            assert_eq!(timestamp_us(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_only_the_head_of_a_frame() {
        let h = head(r#"{"type":"data","timestamp":"2025-12-05T12:30:45.123456Z","frame_count":7,"current_value":1.5,"peak_signal":null,"baseline":1,"status":"running"}"#).expect("frame");
        assert_eq!((h.ty, h.frame_count), (Some("data"), Some(7)));
        assert!(head("{not json").is_none());
    }
}
