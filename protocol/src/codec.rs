//! Bytes → JSON → typed message, with a named rule for every way that can fail.
//!
//! Decoding happens in three steps, each with its own error code: the bytes must be JSON
//! (`INVALID_JSON`), the `type` must be known (`UNKNOWN_MESSAGE_TYPE`), and the members must
//! have the shapes and values of the contract (`VALIDATION_ERROR`, with the rule and JSON path).
//! Serde checks presence, JSON types, closed objects and enums; [`Validate`] checks what serde
//! cannot: ranges, lengths, formats, dangerous keys and cross-field rules.

use crate::error::{ErrorCode, ParseError};
use crate::rule::{Path, Rule, RuleKind};
use crate::timestamp::{self, Timestamp};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Checks the rules of the contract that serde cannot express.
pub trait Validate {
    fn validate(&self, at: &Path) -> Result<(), ParseError>;
}

/// Largest message a peer may send when no other limit is given (64 KiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Parses bytes as JSON, refusing payloads over `max_bytes` before looking at them.
pub fn parse_json(bytes: &[u8], max_bytes: usize) -> Result<Value, ParseError> {
    if bytes.len() > max_bytes {
        return Err(ParseError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "message is {} bytes; the limit is {max_bytes} bytes",
                bytes.len()
            ),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ParseError::new(ErrorCode::InvalidJson, format!("not valid JSON: {e}")))
}

/// Deserializes `value` into `T` and validates it; errors name the rule and path at fault.
pub fn decode_struct<T: DeserializeOwned + Validate>(value: Value) -> Result<T, ParseError> {
    let decoded: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = serde_path(e.path());
        let message = e.inner().to_string();
        let rule = classify_serde_message(&path, &message);
        ParseError::invalid(rule, message)
    })?;
    decoded.validate(&Path::root())?;
    Ok(decoded)
}

fn serde_path(path: &serde_path_to_error::Path) -> Path {
    use serde_path_to_error::Segment;
    path.iter().fold(Path::root(), |at, segment| match segment {
        Segment::Seq { index } => at.index(*index),
        Segment::Map { key } => at.key(key),
        Segment::Enum { .. } | Segment::Unknown => at,
    })
}

/// Maps serde's (stable) error messages onto rule kinds.
fn classify_serde_message(at: &Path, message: &str) -> Rule {
    let quoted = || message.split('`').nth(1).unwrap_or_default().to_owned();
    if message.starts_with("missing field") {
        at.key(&quoted()).rule(RuleKind::Required)
    } else if message.starts_with("unknown field") {
        let field = quoted();
        // serde_path_to_error may or may not have entered the unknown member already.
        if at.as_str().rsplit('/').next() == Some(field.as_str()) {
            at.rule(RuleKind::Additional)
        } else {
            at.key(&field).rule(RuleKind::Additional)
        }
    } else if message.starts_with("unknown variant") {
        at.rule(RuleKind::Enum)
    } else if message.starts_with("invalid value") {
        at.rule(RuleKind::Range)
    } else if message.starts_with("invalid length") {
        at.rule(RuleKind::Length)
    } else {
        at.rule(RuleKind::Type)
    }
}

/// Deserializes an optional member that, when present, must not be `null` (the schemas say
/// "optional", not "nullable"): use with `#[serde(default, deserialize_with = "present")]`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Reads the `type` member that tagged messages carry.
pub fn type_field(value: &Value) -> Result<&str, ParseError> {
    let Some(object) = value.as_object() else {
        return Err(ParseError::invalid(
            Path::root().rule(RuleKind::Type),
            "a message must be a JSON object",
        ));
    };
    match object.get("type") {
        None => Err(ParseError::invalid(
            Path::root().key("type").rule(RuleKind::Required),
            "missing field `type`",
        )),
        Some(Value::String(name)) => Ok(name),
        Some(_) => Err(ParseError::invalid(
            Path::root().key("type").rule(RuleKind::Type),
            "`type` must be a string",
        )),
    }
}

// Checks shared by the message modules. Each returns the rule it enforces at `at`.

pub(crate) fn check_range_f64(v: f64, min: f64, max: f64, at: &Path) -> Result<(), ParseError> {
    if (min..=max).contains(&v) {
        return Ok(());
    }
    Err(ParseError::invalid(
        at.rule(RuleKind::Range),
        format!("{v} is outside {min}..={max}"),
    ))
}

pub(crate) fn check_min_f64(v: f64, min: f64, at: &Path) -> Result<(), ParseError> {
    check_range_f64(v, min, f64::MAX, at)
}

pub(crate) fn check_range_u64(v: u64, min: u64, max: u64, at: &Path) -> Result<(), ParseError> {
    if (min..=max).contains(&v) {
        return Ok(());
    }
    Err(ParseError::invalid(
        at.rule(RuleKind::Range),
        format!("{v} is outside {min}..={max}"),
    ))
}

/// Gray levels of 8-bit pixels: 0 to 255.
pub(crate) fn check_gray(v: f64, at: &Path) -> Result<(), ParseError> {
    check_range_f64(v, 0.0, 255.0, at)
}

/// Integers a JSON number can carry exactly (2^53 − 1): frame counts must stay exact in
/// JavaScript clients.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

pub(crate) fn check_frame_count(v: u64, at: &Path) -> Result<(), ParseError> {
    check_range_u64(v, 0, MAX_SAFE_INTEGER, at)
}

/// Lengths in Unicode scalar values, as JSON Schema's `minLength`/`maxLength` count them.
pub(crate) fn check_len(s: &str, min: usize, max: usize, at: &Path) -> Result<(), ParseError> {
    let n = s.chars().count();
    if (min..=max).contains(&n) {
        return Ok(());
    }
    Err(ParseError::invalid(
        at.rule(RuleKind::Length),
        format!("length {n} is outside {min}..={max}"),
    ))
}

pub(crate) fn check_items(n: usize, min: usize, max: usize, at: &Path) -> Result<(), ParseError> {
    if (min..=max).contains(&n) {
        return Ok(());
    }
    Err(ParseError::invalid(
        at.rule(RuleKind::Length),
        format!("{n} items is outside {min}..={max}"),
    ))
}

pub(crate) fn check_timestamp(ts: &Timestamp, at: &Path) -> Result<(), ParseError> {
    if timestamp::is_valid(ts.as_str()) {
        return Ok(());
    }
    Err(ParseError::invalid(
        at.rule(RuleKind::Format),
        format!(
            "{:?} is not an RFC 3339 UTC timestamp ending in Z",
            ts.as_str()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_payloads_are_refused_before_parsing() {
        let err = parse_json(b"{\"a\": 1}", 4).expect_err("too large");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn bad_json_is_invalid_json() {
        for bad in [&b"{"[..], b"", b"\xff\xfe", b"{\"a\":}", b"nul"] {
            let err = parse_json(bad, 1024).expect_err("not JSON");
            assert_eq!(err.code, ErrorCode::InvalidJson);
        }
    }

    #[test]
    fn type_field_names_what_is_missing() {
        let cases = [
            ("[]", "type:"),
            ("{}", "required:type"),
            ("{\"type\": 3}", "type:type"),
        ];
        for (json, rule) in cases {
            let value: Value = serde_json::from_str(json).expect("test JSON");
            let err = type_field(&value).expect_err(json);
            assert_eq!(err.rule.expect("rule").to_string(), rule, "{json}");
        }
    }
}
