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

/// Parses bytes as JSON, refusing payloads over `max_bytes` before looking at them, and any
/// object that names a member twice: serde_json keeps the last one, so
/// `{"password":"wrong","password":"31415"}` would otherwise authenticate, while a form body
/// takes the first. A duplicate is a `VALIDATION_ERROR` on rule `semantic:<member>`.
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
    serde_json::from_slice::<UniqueKeys>(bytes)
        .map(|unique| unique.0)
        .map_err(|e| match (e.classify(), duplicate_member(&e)) {
            (serde_json::error::Category::Data, Some(member)) => ParseError::invalid(
                Path::root().key(&member).rule(RuleKind::Semantic),
                format!("member {member:?} appears more than once; send each member once"),
            ),
            _ => ParseError::new(ErrorCode::InvalidJson, format!("not valid JSON: {e}")),
        })
}

const DUPLICATE: &str = "duplicate member ";

/// The member named by a duplicate-member error of [`UniqueKeys`].
fn duplicate_member(error: &serde_json::Error) -> Option<String> {
    let text = error.to_string();
    let rest = text.strip_prefix(DUPLICATE)?;
    let end = rest.rfind(" at line ").unwrap_or(rest.len());
    serde_json::from_str(&rest[..end]).ok()
}

/// A JSON value in which no object names a member twice, at any depth.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(UniqueKeys)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let UniqueKeys(value) = map.next_value()?;
            if object.contains_key(&key) {
                let quoted = Value::String(key).to_string();
                return Err(serde::de::Error::custom(format!("{DUPLICATE}{quoted}")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Deserializes `value` into `T` and validates it; errors name the rule and path at fault.
pub fn decode_struct<T: DeserializeOwned + Validate>(value: Value) -> Result<T, ParseError> {
    decode_struct_at(value, &Path::root())
}

/// [`decode_struct`] for a value found at `at` in a larger message (rules name full paths).
pub fn decode_struct_at<T: DeserializeOwned + Validate>(
    value: Value,
    at: &Path,
) -> Result<T, ParseError> {
    let decoded: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = serde_path(at, e.path());
        let mut message = e.inner().to_string();
        let rule = classify_serde_message(&path, &message);
        if message.starts_with("invalid ") && e.path().iter().any(is_secret_member) {
            message = without_quoted_values(&message);
        }
        ParseError::invalid(rule, message)
    })?;
    decoded.validate(at)?;
    Ok(decoded)
}

/// Members whose value is a secret: an error about them never quotes the value back (serde
/// says "invalid type: integer `31415`, expected a string" for a number as password).
const SECRET_MEMBERS: [&str; 3] = ["password", "token", "api_key"];

fn is_secret_member(segment: &serde_path_to_error::Segment) -> bool {
    matches!(segment, serde_path_to_error::Segment::Map { key } if SECRET_MEMBERS.contains(&key.as_str()))
}

/// `message` with every `` `quoted` `` value removed (serde quotes the value it got).
fn without_quoted_values(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, part)| part)
        .collect::<Vec<_>>()
        .join("")
        .replace(" ,", ",")
}

fn serde_path(base: &Path, path: &serde_path_to_error::Path) -> Path {
    use serde_path_to_error::Segment;
    path.iter().fold(base.clone(), |at, segment| match segment {
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

/// JSON equality with numbers compared by value: `30`, `30.0` and `3e1` are the same number
/// (a value decoded into `f64` and encoded again, or relayed by a JavaScript server, changes
/// its spelling, not its value).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
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
    fn numbers_compare_by_value_and_shapes_by_structure() {
        use serde_json::json;
        assert!(same_json(
            &json!({"a": [30, {"b": 1.5}]}),
            &json!({"a": [30.0, {"b": 1.5}]})
        ));
        assert!(!same_json(&json!({"a": 1}), &json!({"a": 1, "b": null})));
        assert!(!same_json(&json!([1, 2]), &json!([2, 1])));
        assert!(!same_json(&json!("1"), &json!(1)));
    }

    #[test]
    fn an_error_about_a_secret_member_does_not_quote_its_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Auth {
            password: String,
            count: u32,
        }
        impl Validate for Auth {
            fn validate(&self, _: &Path) -> Result<(), ParseError> {
                Ok(())
            }
        }
        let err = decode_struct::<Auth>(serde_json::json!({"password": 31415, "count": 1}))
            .expect_err("a number");
        assert!(!err.message.contains("31415"), "{}", err.message);
        assert!(
            err.message
                .contains("invalid type: integer, expected a string"),
            "{}",
            err.message
        );
        // Other members keep their values in the message: they help and are not secret.
        let err = decode_struct::<Auth>(serde_json::json!({"password": "x", "count": "271"}))
            .expect_err("a string");
        assert!(err.message.contains("271"), "{}", err.message);
    }

    #[test]
    fn oversize_payloads_are_refused_before_parsing() {
        let err = parse_json(b"{\"a\": 1}", 4).expect_err("too large");
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        let err = parse_json(
            br#"{"type":"auth","password":"wrong","password":"31415"}"#,
            1024,
        )
        .expect_err("duplicate");
        assert_eq!(err.code, ErrorCode::ValidationError);
        assert_eq!(
            err.rule.map(|r| r.to_string()).as_deref(),
            Some("semantic:password")
        );
        let nested = parse_json(br#"{"a":[{"b\"c":1,"b\"c":2}]}"#, 1024).expect_err("nested");
        assert_eq!(
            nested.rule.map(|r| r.to_string()).as_deref(),
            Some("semantic:b\"c")
        );
        let fine = parse_json(br#"{"a":{"x":1},"b":{"x":[1.5,null,true,"s"]}}"#, 1024);
        assert_eq!(
            fine.expect("distinct at each level"),
            serde_json::json!({"a":{"x":1},"b":{"x":[1.5,null,true,"s"]}})
        );
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
