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
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[b.len() - 1] == b'Z'
        && match b.len() - 20 {
            0 => true,
            n => b[19] == b'.' && (2..=10).contains(&n) && digits(20..b.len() - 1),
        };
    // Leap seconds (":60") are valid RFC 3339 but the `time` crate rejects them; we reject
    // them too, and so does the schema's date-time format in the validators we run.
    shape && OffsetDateTime::parse(text, &Rfc3339).is_ok()
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
}
