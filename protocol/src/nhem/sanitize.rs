//! The seed's `SecureInputHandler.sanitize_input` and `DataValidator.sanitize_data`, made to
//! do what they mean to do.
//!
//! Differences from the seed, each on purpose:
//! - The seed HTML-escapes first and then strips `<script>…</script>` with a regex, so the
//!   script pattern can never match (the `<` is already `&lt;`), and escaping again on every
//!   pass makes it non-idempotent (`&` → `&amp;` → `&amp;amp;`). Here typed inputs are
//!   *validated* (never rewritten), and free text has the characters that open markup or
//!   attributes removed, then every dangerous pattern removed until none is left.
//! - The seed returns `""` for empty input of every type, so `int(sanitize_input("", "integer"))`
//!   crashes later; here an empty typed input is an error. Surrounding whitespace is trimmed.
//! - The seed's `numeric` pattern `^[0-9.]+$` accepts `1.2.3` and `...`; here it is a
//!   non-negative decimal number. `integer`/`coordinate` must also fit in 64 bits and `float`
//!   must be finite.
//! - The seed's `url` check runs on the HTML-escaped text; here the URL itself must be http(s)
//!   and contain no whitespace, control characters, quotes or angle brackets.
//! - Inputs longer than [`MAX_INPUT_CHARS`] are refused instead of processed.

use regex::Regex;
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// Longest input accepted, in characters.
pub const MAX_INPUT_CHARS: usize = 4096;

/// The kinds of input `sanitize_input` knows, as in the seed's `ALLOWED_PATTERNS` plus free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputType {
    Numeric,
    Integer,
    Float,
    Coordinate,
    Alphanumeric,
    Url,
    /// Free text: any other `input_type` in the seed.
    Text,
}

impl InputType {
    pub const ALL: [InputType; 7] = [
        InputType::Numeric,
        InputType::Integer,
        InputType::Float,
        InputType::Coordinate,
        InputType::Alphanumeric,
        InputType::Url,
        InputType::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InputType::Numeric => "numeric",
            InputType::Integer => "integer",
            InputType::Float => "float",
            InputType::Coordinate => "coordinate",
            InputType::Alphanumeric => "alphanumeric",
            InputType::Url => "url",
            InputType::Text => "text",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {} input: {reason}", input_type.as_str())]
pub struct SanitizeError {
    pub input_type: InputType,
    pub reason: &'static str,
}

/// Patterns that execute code when text lands in HTML, CSS or a URL (the seed's list,
/// widened to what it means: any script tag, `vbscript:`, whitespace before the colon).
static DANGEROUS_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)<\s*/?\s*script",
        r"(?i)javascript\s*:",
        r"(?i)vbscript\s*:",
        r"(?i)\bon[a-z]+\s*=",
        r"(?i)expression\s*\(",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("the dangerous patterns are valid regexes"))
    .collect()
});

/// Whether `text` contains any dangerous pattern.
pub fn contains_dangerous_pattern(text: &str) -> bool {
    DANGEROUS_PATTERNS.iter().any(|p| p.is_match(text))
}

/// Characters removed from free text: they open tags, quote attributes or start entities
/// (an entity such as `&#58;` could spell `javascript:` back after decoding).
fn is_markup_char(c: char) -> bool {
    matches!(c, '<' | '>' | '"' | '\'' | '`' | '&') || c.is_control()
}

/// Sanitizes one user input of the given type. Typed inputs come back trimmed and unchanged
/// or are refused; free text comes back with markup characters and dangerous patterns removed.
/// Idempotent: sanitizing the output again returns it unchanged.
pub fn sanitize_input(input: &str, input_type: InputType) -> Result<String, SanitizeError> {
    let fail = |reason| Err(SanitizeError { input_type, reason });
    if input.chars().count() > MAX_INPUT_CHARS {
        return fail("longer than 4096 characters");
    }
    let trimmed = input.trim();
    if input_type == InputType::Text {
        return Ok(sanitize_text(trimmed));
    }
    if trimmed.is_empty() {
        return fail("empty");
    }
    let ok = match input_type {
        InputType::Numeric => is_decimal(trimmed, false),
        InputType::Float => {
            is_decimal(trimmed, true) && trimmed.parse::<f64>().is_ok_and(f64::is_finite)
        }
        InputType::Integer | InputType::Coordinate => {
            trimmed.parse::<i64>().is_ok() && !trimmed.starts_with('+')
        }
        InputType::Alphanumeric => trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')),
        InputType::Url => is_http_url(trimmed),
        InputType::Text => unreachable!("handled above"),
    };
    if ok {
        Ok(trimmed.to_owned())
    } else {
        fail(match input_type {
            InputType::Numeric => "expected a non-negative decimal number such as 12 or 3.5",
            InputType::Float => "expected a decimal number such as -3.5",
            InputType::Integer | InputType::Coordinate => "expected a whole number such as 42",
            InputType::Alphanumeric => "expected letters, digits, '_', '-' or '.'",
            _ => "expected an http:// or https:// URL without spaces, quotes or angle brackets",
        })
    }
}

/// `digits[.digits]`, with an optional leading `-` when `signed`; the seed also allows `1.`.
fn is_decimal(s: &str, signed: bool) -> bool {
    let s = if signed {
        s.strip_prefix('-').unwrap_or(s)
    } else {
        s
    };
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn is_http_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &s[8..]
    } else if lower.starts_with("http://") {
        &s[7..]
    } else {
        return false;
    };
    let mut chars = rest.chars();
    let host_start_ok = chars
        .next()
        .is_some_and(|c| !c.is_whitespace() && !"/$.?#".contains(c));
    host_start_ok
        && rest.chars().count() >= 2
        && rest
            .chars()
            .all(|c| !c.is_whitespace() && !is_markup_char(c) || c == '&')
}

fn sanitize_text(text: &str) -> String {
    let mut out: String = text.chars().filter(|&c| !is_markup_char(c)).collect();
    // Removing one match can join its neighbours into a new one ("javajavascript:script:"),
    // so remove until nothing matches. Each pass shortens the text, so this ends.
    loop {
        let before = out.len();
        for pattern in DANGEROUS_PATTERNS.iter() {
            out = pattern.replace_all(&out, "").into_owned();
        }
        if out.len() == before {
            break;
        }
    }
    out.trim().to_owned()
}

/// Fields of a `realtime_data` response the seed's `sanitize_data` keeps.
pub const SAFE_REALTIME_FIELDS: [&str; 8] = [
    "type",
    "timestamp",
    "frame_count",
    "series",
    "peak_signal",
    "enhanced_peak",
    "baseline",
    "roi_data",
];

/// The seed's `DataValidator.sanitize_data`: keeps only the known-safe fields of a
/// realtime-data object (as deep copies) and drops everything else. A value that is not an
/// object yields an empty object (the seed would raise or return nonsense). Idempotent.
pub fn sanitize_data(data: &Value) -> Value {
    let Some(object) = data.as_object() else {
        return Value::Object(Map::new());
    };
    let kept = SAFE_REALTIME_FIELDS
        .iter()
        .filter_map(|&field| object.get(field).map(|v| (field.to_owned(), v.clone())))
        .collect();
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_inputs_are_validated_not_rewritten() {
        let ok = [
            ("12", InputType::Numeric),
            ("3.5", InputType::Numeric),
            ("-3.5", InputType::Float),
            ("1.", InputType::Float),
            (" 42 ", InputType::Integer),
            ("-7", InputType::Coordinate),
            ("detection.threshold", InputType::Alphanumeric),
            ("https://example.com/a?b=c&d=e", InputType::Url),
        ];
        for (input, ty) in ok {
            assert_eq!(
                sanitize_input(input, ty).as_deref(),
                Ok(input.trim()),
                "{input}"
            );
        }
        let bad = [
            ("1.2.3", InputType::Numeric),
            ("...", InputType::Numeric),
            ("", InputType::Integer),
            ("+5", InputType::Integer),
            ("99999999999999999999", InputType::Integer),
            ("1e3", InputType::Float),
            ("a b", InputType::Alphanumeric),
            ("<script>", InputType::Alphanumeric),
            ("javascript:alert(1)", InputType::Url),
            ("http://x\"onmouseover=alert(1)", InputType::Url),
            ("http:// spaced", InputType::Url),
        ];
        for (input, ty) in bad {
            assert!(sanitize_input(input, ty).is_err(), "{input:?} as {ty:?}");
        }
    }

    #[test]
    fn text_loses_markup_and_dangerous_patterns() {
        let cases = [
            ("<script>alert(1)</script>", "scriptalert(1)/script"),
            ("javajavascript:script:alert(1)", "alert(1)"),
            ("<img src=x onerror=alert(1)>", "img src=x alert(1)"),
            ("width: expression(alert(1))", "width: alert(1))"),
            ("R&D peak at 120", "RD peak at 120"),
            ("plain text", "plain text"),
        ];
        for (input, expected) in cases {
            let out = sanitize_input(input, InputType::Text).expect("text is always accepted");
            assert_eq!(out, expected, "{input}");
            assert!(!contains_dangerous_pattern(&out));
        }
    }

    #[test]
    fn sanitize_data_keeps_only_safe_fields() {
        let data = serde_json::json!({"type": "realtime_data", "frame_count": 3, "__proto__": {}, "evil": 1});
        assert_eq!(
            sanitize_data(&data),
            serde_json::json!({"type": "realtime_data", "frame_count": 3})
        );
        assert_eq!(
            sanitize_data(&serde_json::json!([1])),
            serde_json::json!({})
        );
    }
}
