//! Values shared by several NHEM messages: detection state, peak signal, rectangles,
//! error details, configuration trees and the HTTP response envelope.

use crate::codec::{check_len, check_range_u64, Validate};
use crate::error::ParseError;
use crate::rule::{Path, RuleKind};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// State of the detection pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectionStatus {
    Running,
    Stopped,
    Paused,
}

impl DetectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DetectionStatus::Running => "running",
            DetectionStatus::Stopped => "stopped",
            DetectionStatus::Paused => "paused",
        }
    }
}

/// `peak_signal`: `1` on the frame a peak is confirmed, `0` otherwise. Frames still warming
/// up carry `null`, which is `Option::None` around this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeakSignal {
    NoPeak,
    Peak,
}

impl Serialize for PeakSignal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(match self {
            PeakSignal::NoPeak => 0,
            PeakSignal::Peak => 1,
        })
    }
}

impl<'de> Deserialize<'de> for PeakSignal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PeakSignal;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("0, 1 or null")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PeakSignal, E> {
                match v {
                    0 => Ok(PeakSignal::NoPeak),
                    1 => Ok(PeakSignal::Peak),
                    _ => Err(E::unknown_variant(&v.to_string(), &["0", "1"])),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PeakSignal, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::unknown_variant(&v.to_string(), &["0", "1"])),
                }
            }
            // JSON Schema's `enum: [0, 1, null]` compares by value, so 1.0 is 1 and anything
            // else (a string, a boolean, 0.5) is a wrong *value*, not a wrong type.
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<PeakSignal, E> {
                match v {
                    0.0 => Ok(PeakSignal::NoPeak),
                    1.0 => Ok(PeakSignal::Peak),
                    _ => Err(E::unknown_variant(&v.to_string(), &["0", "1"])),
                }
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<PeakSignal, E> {
                Err(E::unknown_variant(&v.to_string(), &["0", "1"]))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PeakSignal, E> {
                Err(E::unknown_variant(v, &["0", "1"]))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<PeakSignal, A::Error> {
                Err(serde::de::Error::unknown_variant("an object", &["0", "1"]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<PeakSignal, A::Error> {
                Err(serde::de::Error::unknown_variant("an array", &["0", "1"]))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Largest coordinate the seed's `validate_coordinates` accepts ("reasonable screen bounds").
pub const MAX_COORDINATE: u32 = 10_000;

/// A region of interest in frame pixels: `x1 < x2`, `y1 < y2`, all within 0..=10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rect {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
}

impl Rect {
    pub fn width(&self) -> u32 {
        self.x2.saturating_sub(self.x1)
    }

    pub fn height(&self) -> u32 {
        self.y2.saturating_sub(self.y1)
    }
}

impl Validate for Rect {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        validate_corners(self.x1, self.y1, self.x2, self.y2, at)
    }
}

/// Bounds of every corner, then the ordering rules JSON Schema cannot state.
pub(crate) fn validate_corners(
    x1: u32,
    y1: u32,
    x2: u32,
    y2: u32,
    at: &Path,
) -> Result<(), ParseError> {
    let max = u64::from(MAX_COORDINATE);
    for (name, v) in [("x1", x1), ("y1", y1), ("x2", x2), ("y2", y2)] {
        check_range_u64(u64::from(v), 0, max, &at.key(name))?;
    }
    if x1 >= x2 {
        return Err(ParseError::invalid(
            at.key("x2").rule(RuleKind::Semantic),
            format!("x2 ({x2}) must be greater than x1 ({x1})"),
        ));
    }
    if y1 >= y2 {
        return Err(ParseError::invalid(
            at.key("y2").rule(RuleKind::Semantic),
            format!("y2 ({y2}) must be greater than y1 ({y1})"),
        ));
    }
    Ok(())
}

/// `details` of an error: which input was refused and by which constraint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetails {
    pub parameter: String,
    pub value: Value,
    pub constraint: String,
}

impl Validate for ErrorDetails {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_len(&self.parameter, 0, 256, &at.key("parameter"))?;
        check_len(&self.constraint, 0, 256, &at.key("constraint"))
    }
}

/// A configuration tree: nested objects whose keys are never dangerous, at any depth.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfigTree(pub Map<String, Value>);

impl Validate for ConfigTree {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        super::validate::find_dangerous_key_in_map(&self.0, at).map_or(Ok(()), |rule| {
            Err(ParseError::invalid(
                rule,
                "configuration keys must not name code (eval, exec, open, file, __import__, __*)",
            ))
        })
    }
}

/// The HTTP success envelope `{type, timestamp, success: true, data}` (its `type` is the tag
/// of the enclosing [`super::HttpResponse`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    pub timestamp: Timestamp,
    pub success: bool,
    pub data: T,
}

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Envelope {
            timestamp: Timestamp::now(),
            success: true,
            data,
        }
    }
}

impl<T: Validate> Validate for Envelope<T> {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        crate::codec::check_timestamp(&self.timestamp, &at.key("timestamp"))?;
        if !self.success {
            return Err(ParseError::invalid(
                at.key("success").rule(RuleKind::Enum),
                "a success envelope has `success: true`; failures use the error message",
            ));
        }
        self.data.validate(&at.key("data"))
    }
}

pub(crate) use crate::codec::present;
