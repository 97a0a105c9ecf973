//! The seed's `DataValidator` and `SecureInputHandler` checks, returning the rule at fault
//! instead of a bare `bool`.
//!
//! These are the *seed's* checks, kept as lenient as the seed where it is lenient on purpose
//! (`validate_realtime_data` ignores unknown fields). The full contract is [`crate::nhem::decode`].
//! Differences from the seed, each on purpose:
//! - JSON booleans are not numbers (Python's `isinstance(True, int)` is `True`).
//! - Timestamps must be RFC 3339 UTC with `Z`; the seed's `fromisoformat` also takes offsets
//!   and bare dates.
//! - `validate_config_data` looks inside arrays too, compares keys trimmed and case-folded, and
//!   treats every `__dunder__` key as dangerous; the seed only recursed into dicts and matched
//!   five exact names.
//! - `validate_api_response` checks each key and string on its own. The seed regex-searched the
//!   `json.dumps` of the whole object, which can match across field boundaries, and it skipped
//!   lists nested in lists.

use super::sanitize::contains_dangerous_pattern;
use crate::rule::{Path, Rule, RuleKind};
use crate::timestamp;
use serde_json::{Map, Value};

/// Keys the seed's `validate_config_data` rejects, compared trimmed and lower-cased.
pub const DANGEROUS_CONFIG_KEYS: [&str; 5] = ["__import__", "eval", "exec", "open", "file"];

/// Whether a configuration key could name code: one of [`DANGEROUS_CONFIG_KEYS`] or any key
/// starting with `__`.
pub fn is_dangerous_key(key: &str) -> bool {
    let key = key.trim().to_lowercase();
    key.starts_with("__") || DANGEROUS_CONFIG_KEYS.contains(&key.as_str())
}

/// The first dangerous key in `map` or anywhere below it (objects and arrays), depth first.
pub fn find_dangerous_key_in_map(map: &Map<String, Value>, at: &Path) -> Option<Rule> {
    map.iter().find_map(|(key, value)| {
        let here = at.key(key);
        if is_dangerous_key(key) {
            Some(here.rule(RuleKind::DangerousKey))
        } else {
            find_dangerous_key(value, &here)
        }
    })
}

fn find_dangerous_key(value: &Value, at: &Path) -> Option<Rule> {
    match value {
        Value::Object(map) => find_dangerous_key_in_map(map, at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_dangerous_key(item, &at.index(i))),
        _ => None,
    }
}

/// `DataValidator.validate_config_data`: no dangerous key at any depth.
pub fn validate_config_data(config: &Value) -> Result<(), Rule> {
    match find_dangerous_key(config, &Path::root()) {
        Some(rule) => Err(rule),
        None => Ok(()),
    }
}

fn member<'a>(object: &'a Map<String, Value>, name: &str, at: &Path) -> Result<&'a Value, Rule> {
    object
        .get(name)
        .ok_or_else(|| at.key(name).rule(RuleKind::Required))
}

fn is_number(v: &Value) -> bool {
    v.is_number()
}

fn as_object<'a>(v: &'a Value, at: &Path) -> Result<&'a Map<String, Value>, Rule> {
    v.as_object().ok_or_else(|| at.rule(RuleKind::Type))
}

/// `DataValidator.validate_realtime_data`: `type`, `timestamp`, `frame_count` and `series`
/// present and well-formed; other fields are not looked at.
pub fn validate_realtime_data(data: &Value) -> Result<(), Rule> {
    let root = Path::root();
    let object = as_object(data, &root)?;
    for field in ["type", "timestamp", "frame_count", "series"] {
        member(object, field, &root)?;
    }
    if object["type"] != "realtime_data" {
        return Err(root.key("type").rule(RuleKind::Enum));
    }
    match object["timestamp"].as_str() {
        Some(ts) if timestamp::is_valid(ts) => {}
        Some(_) => return Err(root.key("timestamp").rule(RuleKind::Format)),
        None => return Err(root.key("timestamp").rule(RuleKind::Type)),
    }
    match &object["frame_count"] {
        Value::Number(n) if n.is_u64() => {}
        Value::Number(n) if n.is_i64() => {
            return Err(root.key("frame_count").rule(RuleKind::Range))
        }
        _ => return Err(root.key("frame_count").rule(RuleKind::Type)),
    }
    let series_at = root.key("series");
    let Some(series) = object["series"].as_array() else {
        return Err(series_at.rule(RuleKind::Type));
    };
    for (i, point) in series.iter().enumerate() {
        let at = series_at.index(i);
        let point = as_object(point, &at)?;
        for field in ["t", "value"] {
            if !is_number(member(point, field, &at)?) {
                return Err(at.key(field).rule(RuleKind::Type));
            }
        }
    }
    Ok(())
}

/// `DataValidator.validate_roi_data`: all five fields present, positive integer dimensions,
/// a gray value within 0–255.
pub fn validate_roi_data(roi_data: &Value) -> Result<(), Rule> {
    let root = Path::root();
    let object = as_object(roi_data, &root)?;
    for field in ["width", "height", "pixels", "gray_value", "format"] {
        member(object, field, &root)?;
    }
    for field in ["width", "height"] {
        match &object[field] {
            Value::Number(n) if n.as_u64().is_some_and(|v| v > 0) => {}
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                return Err(root.key(field).rule(RuleKind::Range))
            }
            _ => return Err(root.key(field).rule(RuleKind::Type)),
        }
    }
    let gray = object["gray_value"]
        .as_f64()
        .ok_or_else(|| root.key("gray_value").rule(RuleKind::Type))?;
    if !(0.0..=255.0).contains(&gray) {
        return Err(root.key("gray_value").rule(RuleKind::Range));
    }
    Ok(())
}

/// `SecureInputHandler.validate_coordinates`: non-negative, at most 10000, `x1 < x2`, `y1 < y2`.
pub fn validate_coordinates(x1: i64, y1: i64, x2: i64, y2: i64) -> Result<(), Rule> {
    let root = Path::root();
    let max = i64::from(crate::nhem::MAX_COORDINATE);
    for (name, v) in [("x1", x1), ("y1", y1), ("x2", x2), ("y2", y2)] {
        if !(0..=max).contains(&v) {
            return Err(root.key(name).rule(RuleKind::Range));
        }
    }
    if x1 >= x2 {
        return Err(root.key("x2").rule(RuleKind::Semantic));
    }
    if y1 >= y2 {
        return Err(root.key("y2").rule(RuleKind::Semantic));
    }
    Ok(())
}

/// DESIGN.md adds one rule to the seed's: the ROI must lie inside the frame.
pub fn validate_coordinates_in_frame(
    x1: i64,
    y1: i64,
    x2: i64,
    y2: i64,
    frame_width: u32,
    frame_height: u32,
) -> Result<(), Rule> {
    validate_coordinates(x1, y1, x2, y2)?;
    if x2 > i64::from(frame_width) {
        return Err(Path::root().key("x2").rule(RuleKind::Range));
    }
    if y2 > i64::from(frame_height) {
        return Err(Path::root().key("y2").rule(RuleKind::Range));
    }
    Ok(())
}

/// `SecureInputHandler.validate_api_response`: an object with no dangerous pattern in any key
/// or string, at any depth.
pub fn validate_api_response(response: &Value) -> Result<(), Rule> {
    as_object(response, &Path::root())?;
    match find_dangerous_text(response, &Path::root()) {
        Some(rule) => Err(rule),
        None => Ok(()),
    }
}

fn find_dangerous_text(value: &Value, at: &Path) -> Option<Rule> {
    match value {
        Value::String(s) if contains_dangerous_pattern(s) => Some(at.rule(RuleKind::Format)),
        Value::Object(map) => map.iter().find_map(|(key, v)| {
            let here = at.key(key);
            if contains_dangerous_pattern(key) {
                Some(here.rule(RuleKind::DangerousKey))
            } else {
                find_dangerous_text(v, &here)
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_dangerous_text(item, &at.index(i))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(r: Result<(), Rule>) -> String {
        r.map_or_else(|r| r.to_string(), |()| "ok".into())
    }

    #[test]
    fn realtime_data_matches_the_seed_with_fixes() {
        let ok = json!({"type": "realtime_data", "timestamp": "2025-12-05T12:30:45.123Z",
            "frame_count": 1, "series": [{"t": 0.5, "value": 3}], "extra": true});
        assert_eq!(rule(validate_realtime_data(&ok)), "ok");
        let cases = [
            ("/frame_count", json!(true), "type:frame_count"),
            ("/frame_count", json!(-1), "range:frame_count"),
            ("/type", json!("data"), "enum:type"),
            (
                "/timestamp",
                json!("2025-12-05T12:30:45+08:00"),
                "format:timestamp",
            ),
            ("/series/0/t", json!("0.5"), "type:series/0/t"),
            ("/series/0/value", json!(false), "type:series/0/value"),
            ("/series", json!({}), "type:series"),
        ];
        for (pointer, bad, expected) in cases {
            let mut data = ok.clone();
            *data.pointer_mut(pointer).expect("pointer exists") = bad;
            assert_eq!(rule(validate_realtime_data(&data)), expected);
        }
        assert_eq!(
            rule(validate_realtime_data(&json!({"type": "realtime_data"}))),
            "required:timestamp"
        );
    }

    #[test]
    fn roi_data_rules() {
        let ok = json!({"width": 2, "height": 1, "pixels": "AAA=", "gray_value": 0, "format": "gray8_base64"});
        assert_eq!(rule(validate_roi_data(&ok)), "ok");
        let mut zero = ok.clone();
        zero["width"] = json!(0);
        assert_eq!(rule(validate_roi_data(&zero)), "range:width");
        let mut gray = ok.clone();
        gray["gray_value"] = json!(255.5);
        assert_eq!(rule(validate_roi_data(&gray)), "range:gray_value");
        let mut missing = ok;
        missing.as_object_mut().expect("object").remove("format");
        assert_eq!(rule(validate_roi_data(&missing)), "required:format");
    }

    #[test]
    fn config_keys_are_checked_at_every_depth_and_in_arrays() {
        assert_eq!(
            rule(validate_config_data(&json!({"a": {"b": [1, {"c": 2}]}}))),
            "ok"
        );
        assert_eq!(
            rule(validate_config_data(&json!({"a": {"EVAL ": 1}}))),
            "dangerous_key:a/EVAL "
        );
        assert_eq!(
            rule(validate_config_data(
                &json!({"a": [{"x": {"__class__": 1}}]})
            )),
            "dangerous_key:a/0/x/__class__"
        );
    }

    #[test]
    fn coordinates_follow_the_seed_and_the_frame() {
        assert_eq!(rule(validate_coordinates(0, 0, 1, 1)), "ok");
        assert_eq!(rule(validate_coordinates(-1, 0, 1, 1)), "range:x1");
        assert_eq!(rule(validate_coordinates(5, 0, 5, 1)), "semantic:x2");
        assert_eq!(rule(validate_coordinates(0, 0, 10_001, 1)), "range:x2");
        assert_eq!(
            rule(validate_coordinates_in_frame(0, 0, 641, 10, 640, 480)),
            "range:x2"
        );
    }

    #[test]
    fn api_responses_with_scripts_are_refused() {
        assert_eq!(rule(validate_api_response(&json!({"a": [["ok"]]}))), "ok");
        assert_eq!(
            rule(validate_api_response(&json!({"a": [["<script>"]]}))),
            "format:a/0/0"
        );
        assert_eq!(
            rule(validate_api_response(&json!({"onclick=": 1}))),
            "dangerous_key:onclick="
        );
        assert_eq!(rule(validate_api_response(&json!([]))), "type:");
    }
}
