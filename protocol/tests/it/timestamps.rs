//! The one timestamp parser (`protocol::timestamp::unix_micros`) against the `time` crate.

use proptest::prelude::*;
use protocol::timestamp::{format_unix_micros, is_valid, unix_micros};
use regex::Regex;
use std::sync::LazyLock;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The schema's pattern; `time` decides the calendar.
static SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$")
        .expect("valid regex")
});

/// What `time` says: `Some(µs since the epoch)` for a timestamp of the schema's shape.
fn oracle(text: &str) -> Option<i64> {
    if !SHAPE.is_match(text) {
        return None;
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some(at.unix_timestamp_nanos().div_euclid(1000) as i64)
}

/// Valid timestamps of years 1–9999 with 0 to 9 fractional digits.
fn timestamp_text() -> impl Strategy<Value = String> {
    (
        -62_135_596_800i64..253_402_300_799,
        0u32..1_000_000_000,
        0usize..=9,
    )
        .prop_map(|(secs, nanos, digits)| {
            let at = OffsetDateTime::from_unix_timestamp(secs).expect("in range");
            let base = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            );
            match digits {
                0 => format!("{base}Z"),
                n => format!("{base}.{}Z", &format!("{nanos:09}")[..n]),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_time_on_valid_timestamps(text in timestamp_text()) {
        prop_assert_eq!(unix_micros(&text), oracle(&text));
        prop_assert!(unix_micros(&text).is_some());
    }

    #[test]
    fn agrees_with_time_on_near_misses(
        text in timestamp_text(),
        at in 0usize..32,
        with in prop::sample::select(vec!['0', '1', '2', '3', '5', '9', '-', ':', '.', 'T', 't', 'Z', 'z', '+', ' ', '６']),
        delete in any::<bool>(),
    ) {
        let mut chars: Vec<char> = text.chars().collect();
        let at = at % (chars.len() + 1);
        if delete && at < chars.len() {
            chars.remove(at);
        } else {
            chars.insert(at, with);
        }
        let mutated: String = chars.into_iter().collect();
        prop_assert_eq!(unix_micros(&mutated), oracle(&mutated), "{}", mutated);
        prop_assert_eq!(is_valid(&mutated), oracle(&mutated).is_some());
    }

    #[test]
    fn never_panics_on_any_text(text in "\\PC{0,40}") {
        prop_assert_eq!(unix_micros(&text), oracle(&text));
    }

    #[test]
    fn formatting_round_trips(micros in -62_135_596_800_000_000i64..253_402_300_799_000_000) {
        let text = format_unix_micros(micros);
        prop_assert_eq!(unix_micros(text.as_str()), Some(micros));
    }
}

#[test]
fn calendar_edges() {
    for (text, ok) in [
        ("2024-02-29T00:00:00Z", true),
        ("2023-02-29T00:00:00Z", false),
        ("1900-02-29T00:00:00Z", false),
        ("2000-02-29T00:00:00Z", true),
        ("2025-04-31T00:00:00Z", false),
        ("2025-12-31T23:59:60Z", true),
        ("2025-06-30T23:59:60.5Z", true),
        ("2025-12-30T23:59:60Z", false),
        ("2025-12-31T23:58:60Z", false),
        ("2025-12-05T12:30:45.1234567890Z", false),
    ] {
        assert_eq!(unix_micros(text).is_some(), ok, "{text}");
        assert_eq!(unix_micros(text), oracle(text), "{text}");
    }
}
