//! The ECG profile (`PROFILES.md` §3): a per-connection stream of ECG samples over Flask-Sock.
//!
//! Two kinds: `ecg_frame` (server → client, every 160 ms, **no `type` member**: a frame is
//! recognised by its direction and its `points`) and `start_stream` (client → server, which
//! servers read and ignore). There is no error message in this protocol: a bad token is a bare
//! close with 1000. Loss has no counter to go by; it is told by timestamp steps.

use crate::codec::{check_items, check_len, check_timestamp, decode_struct, type_field, Validate};
use crate::error::{ErrorCode, ParseError};
use crate::profile::{
    Delivery, Direction, Documents, KindInfo, LossSignal, Placeholder, Profile, StreamSpec,
    Unclassified, VolatileField,
};
use crate::rule::{Path, RuleKind};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Points per frame are 1 to 10,000 (decision; 40 at 250 Hz and 160 ms).
pub const MAX_POINTS: usize = 10_000;
/// The seed's `time.sleep(0.16)`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(160);
/// The path of the stream endpoint.
pub const STREAM_PATH: &str = "/ws/ecg/stream";
/// The query parameter that carries the token.
pub const TOKEN_PARAM: &str = "token";

/// `ecg_frame` (S→C): a batch of samples in mV, and the scheduled time of its last sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcgFrame {
    pub points: Vec<f64>,
    /// Optional in the schema (two of the seed's three examples lack it), never `null`.
    #[serde(
        default,
        deserialize_with = "crate::codec::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<Timestamp>,
}

impl Validate for EcgFrame {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_items(self.points.len(), 1, MAX_POINTS, &at.key("points"))?;
        match &self.timestamp {
            Some(ts) => check_timestamp(ts, &at.key("timestamp")),
            None => Ok(()),
        }
    }
}

/// `start_stream` (C→S): the seed's front end may send it; servers ignore it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartStream {
    pub user_id: String,
}

/// User ids are 1 to 256 characters.
pub const MAX_USER_ID_CHARS: usize = 256;

impl Validate for StartStream {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_len(&self.user_id, 1, MAX_USER_ID_CHARS, &at.key("user_id"))
    }
}

/// Any ECG message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Frame(EcgFrame),
    StartStream(StartStream),
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Frame(_) => "ecg_frame",
            Message::StartStream(_) => "start_stream",
        }
    }

    /// The message as it goes on the wire.
    pub fn to_value(&self) -> Value {
        let mut value = match self {
            Message::Frame(frame) => serde_json::to_value(frame),
            Message::StartStream(start) => serde_json::to_value(start),
        }
        .expect("ECG messages serialize to JSON without fail");
        if let (Message::StartStream(_), Some(object)) = (self, value.as_object_mut()) {
            object.insert("type".into(), Value::from("start_stream"));
        }
        value
    }
}

/// Decodes `value` as a message of `kind` (`ecg_frame` or `start_stream`).
pub fn decode(kind: &str, mut value: Value) -> Result<Message, ParseError> {
    match kind {
        "ecg_frame" => Ok(Message::Frame(decode_struct(value)?)),
        "start_stream" => {
            let found = type_field(&value)?;
            if found != "start_stream" {
                return Err(ParseError::invalid(
                    Path::root().key("type").rule(RuleKind::Enum),
                    format!("expected type \"start_stream\", found {found:?}"),
                ));
            }
            if let Some(object) = value.as_object_mut() {
                object.remove("type");
            }
            Ok(Message::StartStream(decode_struct(value)?))
        }
        other => Err(ParseError::new(
            ErrorCode::UnknownMessageType,
            format!("ECG has no message kind {other:?}"),
        )),
    }
}

#[derive(Debug)]
pub struct Ecg;

/// The ECG profile.
pub static ECG: Ecg = Ecg;

static DOCUMENTS: Documents = Documents {
    name: "ecg",
    schemas: crate::embedded_schemas!("ecg": "common", "ecg_frame", "start_stream"),
    openapi: None,
    asyncapi: Some(crate::embedded_document!("ecg", "asyncapi.json")),
};

static KINDS: [KindInfo; 2] = [
    KindInfo {
        name: "ecg_frame",
        direction: Some(Direction::ServerToClient),
    },
    KindInfo {
        name: "start_stream",
        direction: Some(Direction::ClientToServer),
    },
];

static VOLATILE: [VolatileField; 1] = [VolatileField {
    kind: "ecg_frame",
    pointer: "/timestamp",
    placeholder: Placeholder::Timestamp,
}];

static STREAMS: [StreamSpec; 1] = [StreamSpec {
    kind: "ecg_frame",
    delivery: Delivery::PerConnection,
    period: DEFAULT_INTERVAL,
    timestamp: Some("/timestamp"),
    loss: LossSignal::TimestampSteps,
}];

impl Profile for Ecg {
    fn name(&self) -> &'static str {
        "ecg"
    }

    fn title(&self) -> &'static str {
        "ECG stream: 160 ms per-connection frames over Flask-Sock, token in the query"
    }

    fn documents(&self) -> &'static Documents {
        &DOCUMENTS
    }

    fn kinds(&self) -> &'static [KindInfo] {
        &KINDS
    }

    /// Server frames carry no `type`: any object from the server is an `ecg_frame` (the schema
    /// then judges it). From the client, only `start_stream` is known.
    fn classify(
        &self,
        direction: Direction,
        message: &Value,
    ) -> Result<&'static str, Unclassified> {
        if !message.is_object() {
            return Err(Unclassified("a message must be a JSON object".into()));
        }
        match direction {
            Direction::ServerToClient => Ok("ecg_frame"),
            Direction::ClientToServer => match message.get("type").and_then(Value::as_str) {
                Some("start_stream") => Ok("start_stream"),
                Some(other) => Err(Unclassified(format!(
                    "no client message has type {:?}",
                    other.chars().take(64).collect::<String>()
                ))),
                None => Err(Unclassified("a client message has no type".into())),
            },
        }
    }

    fn decode(&self, kind: &str, message: Value) -> Result<(), ParseError> {
        decode(kind, message).map(|_| ())
    }

    fn default_secret(&self) -> Option<&'static str> {
        Some("ecg-demo-token")
    }

    fn error_codes(&self) -> &'static [&'static str] {
        &[]
    }

    fn volatile_fields(&self) -> &'static [VolatileField] {
        &VOLATILE
    }

    fn streams(&self) -> &'static [StreamSpec] {
        &STREAMS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_are_classified_without_a_type() {
        let frame = json!({"points": [1.0]});
        assert_eq!(
            ECG.classify(Direction::ServerToClient, &frame),
            Ok("ecg_frame")
        );
        let start = json!({"type": "start_stream", "user_id": "1"});
        assert_eq!(
            ECG.classify(Direction::ClientToServer, &start),
            Ok("start_stream")
        );
        assert!(ECG.classify(Direction::ClientToServer, &frame).is_err());
        assert!(ECG
            .classify(Direction::ServerToClient, &json!([1]))
            .is_err());
    }

    #[test]
    fn rules_are_named() {
        let rule = |kind, value| {
            decode(kind, value)
                .expect_err("invalid")
                .rule
                .map(|r| r.to_string())
        };
        assert_eq!(
            rule("ecg_frame", json!({})).as_deref(),
            Some("required:points")
        );
        assert_eq!(
            rule("ecg_frame", json!({"points": []})).as_deref(),
            Some("length:points")
        );
        assert_eq!(
            rule("ecg_frame", json!({"points": [1, "2.0"]})).as_deref(),
            Some("type:points/1")
        );
        assert_eq!(
            rule(
                "ecg_frame",
                json!({"points": [1], "timestamp": "yesterday"})
            )
            .as_deref(),
            Some("format:timestamp")
        );
        assert_eq!(
            rule(
                "start_stream",
                json!({"type": "start_stream", "user_id": 123})
            )
            .as_deref(),
            Some("type:user_id")
        );
    }

    #[test]
    fn round_trips() {
        let start = json!({"type": "start_stream", "user_id": "123"});
        assert_eq!(
            decode("start_stream", start.clone())
                .expect("valid")
                .to_value(),
            start
        );
        let frame = json!({"points": [1.0, 2.5], "timestamp": "2025-11-26T10:30:00Z"});
        assert_eq!(
            decode("ecg_frame", frame.clone())
                .expect("valid")
                .to_value(),
            frame
        );
    }
}
