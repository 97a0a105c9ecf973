//! RFC 3339 UTC timestamps with a literal `Z`, kept as the text that was sent.
//!
//! The text is kept (not only the instant) so that a message round-trips byte for byte: a
//! peer that sends milliseconds gets milliseconds back, and broadcast frames carry
//! microseconds so one-way latency can be measured below a millisecond.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Formats an instant in UTC with exactly six fractional digits (microseconds).
    pub fn from_datetime_micros(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        let (year, month, day) = (at.year(), u8::from(at.month()), at.day());
        Timestamp(format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            at.hour(),
            at.minute(),
            at.second(),
            at.microsecond()
        ))
    }

    /// The current time, with microseconds.
    pub fn now() -> Self {
        Self::from_datetime_micros(OffsetDateTime::now_utc())
    }

    /// Formats an instant in UTC with exactly three fractional digits, as JavaScript's
    /// `Date.toISOString()` writes it (the handler profile's precision).
    pub fn from_datetime_millis(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        let (year, month, day) = (at.year(), u8::from(at.month()), at.day());
        Timestamp(format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            at.hour(),
            at.minute(),
            at.second(),
            at.millisecond()
        ))
    }

    /// The current time, with milliseconds.
    pub fn now_millis() -> Self {
        Self::from_datetime_millis(OffsetDateTime::now_utc())
    }

    /// Accepts `text` only if it is an RFC 3339 UTC timestamp ending in `Z`.
    pub fn parse(text: &str) -> Option<Self> {
        is_valid(text).then(|| Timestamp(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The instant this timestamp names (always `Some` for a value built by this crate's
    /// constructors or accepted by its parsers).
    pub fn to_datetime(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(&self.0, &Rfc3339).ok()
    }

    /// Nanoseconds since the Unix epoch, for latency arithmetic.
    pub fn unix_nanos(&self) -> Option<i128> {
        self.to_datetime().map(OffsetDateTime::unix_timestamp_nanos)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shape check of the schema's pattern
/// `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$`,
/// plus the calendar check of `format: date-time` (month 13 or second 61 are rejected).
pub fn is_valid(text: &str) -> bool {
    unix_micros(text).is_some()
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

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Microseconds since the Unix epoch of a timestamp [`is_valid`] accepts (digits past the
/// sixth are truncated); `None` for anything else. The one timestamp parser of the toolkit:
/// hand-written because the load generator runs it on every received frame (>100k/s), and
/// property-tested against the `time` crate's RFC 3339 parser.
pub fn unix_micros(text: &str) -> Option<i64> {
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
        b.get(r)?.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, mut second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // A leap second (":60") is valid RFC 3339 only as the last second of a UTC month-end day;
    // like `time`, it stands for the last instant before the next second.
    let leap = second == 60;
    if leap {
        if hour != 23 || minute != 59 || day != days_in_month(year, month) {
            return None;
        }
        second = 59;
    }
    let mut micros = 0i64;
    if b.len() > 20 {
        let digits = &b[20..b.len() - 1];
        if b[19] != b'.'
            || !(1..=9).contains(&digits.len())
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        for i in 0..6 {
            micros = micros * 10 + digits.get(i).map_or(0, |c| i64::from(c - b'0'));
        }
    }
    if leap {
        micros = 999_999;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000 + micros)
}

/// `unix_micros` as RFC 3339 UTC with exactly six fractional digits.
pub fn format_unix_micros(unix_micros: i64) -> Timestamp {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Timestamp::from_datetime_micros(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn accepts_the_seed_and_microsecond_forms() {
        for ok in [
            "2025-12-05T12:30:45.123Z",
            "2025-12-05T12:30:45.123456Z",
            "2025-12-05T12:30:45Z",
            "2025-12-05T12:30:45.123456789Z",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
    }

    #[test]
    fn rejects_offsets_bad_calendars_and_shapes() {
        for bad in [
            "2025-12-05T12:30:45.123+00:00",
            "2025-12-05T12:30:45.123",
            "2025-13-05T12:30:45Z",
            "2025-02-30T12:30:45Z",
            "2025-12-05T24:30:45Z",
            "2025-12-05",
            "2025-12-05 12:30:45Z",
            "2025-12-05T12:30:45.Z",
            "2025-12-05T12:30:45.1234567890Z",
            "",
            "２０２５-12-05T12:30:45Z",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn formats_microseconds_in_utc() {
        let ts = Timestamp::from_datetime_micros(datetime!(2025-12-05 12:30:45.123456789 UTC));
        assert_eq!(ts.as_str(), "2025-12-05T12:30:45.123456Z");
        assert!(is_valid(ts.as_str()));
        let again = Timestamp::parse(ts.as_str()).expect("valid");
        assert_eq!(again.unix_nanos(), Some(1_764_937_845_123_456_000));
    }

    #[test]
    fn formats_milliseconds_like_javascript() {
        let ts = Timestamp::from_datetime_millis(datetime!(2024-01-01 12:00:00.999999 UTC));
        assert_eq!(ts.as_str(), "2024-01-01T12:00:00.999Z");
        assert!(is_valid(ts.as_str()));
    }
}
