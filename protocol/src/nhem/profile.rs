//! NHEM as a [`Profile`]: what the server core, the suite and the load generator learn about
//! it without naming it.

use super::{decode, Channel, MessageKind};
use crate::codec::type_field;
use crate::error::ParseError;
use crate::profile::{
    Delivery, Direction, Documents, KindInfo, LossSignal, Placeholder, StreamSpec, Unclassified,
    VolatileField,
};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug)]
pub struct Nhem;

/// The NHEM profile.
pub static NHEM: Nhem = Nhem;

static DOCUMENTS: Documents = Documents {
    name: "nhem",
    schemas: crate::embedded_schemas!("nhem":
        "common", "auth", "ping", "get_status", "auth_response", "data", "status", "pong",
        "error", "health", "system_status", "realtime_data", "control_request",
        "control_response", "config", "config_set_request", "config_update", "roi",
        "roi_set_request", "roi_update",
    ),
    openapi: Some(crate::embedded_document!("nhem", "openapi.json")),
    asyncapi: Some(crate::embedded_document!("nhem", "asyncapi.json")),
};

static KINDS: std::sync::LazyLock<Vec<KindInfo>> = std::sync::LazyLock::new(|| {
    MessageKind::ALL
        .iter()
        .map(|kind| KindInfo {
            name: kind.name(),
            direction: direction_of(kind.channel()),
        })
        .collect()
});

fn direction_of(channel: Channel) -> Option<Direction> {
    match channel {
        Channel::WsClient => Some(Direction::ClientToServer),
        Channel::WsServer => Some(Direction::ServerToClient),
        Channel::HttpRequest | Channel::HttpResponse => None,
    }
}

/// The wire strings of [`crate::ErrorCode::ALL`] (a test keeps the two lists equal).
static ERROR_CODES: [&str; 16] = [
    "INVALID_JSON",
    "UNKNOWN_MESSAGE_TYPE",
    "VALIDATION_ERROR",
    "AUTH_REQUIRED",
    "AUTH_FAILED",
    "AUTH_TIMEOUT",
    "RATE_LIMITED",
    "PAYLOAD_TOO_LARGE",
    "REQUEST_TIMEOUT",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "INVALID_COMMAND",
    "INVALID_STATE",
    "TOO_MANY_CONNECTIONS",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR",
];

const fn volatile(
    kind: &'static str,
    pointer: &'static str,
    placeholder: Placeholder,
) -> VolatileField {
    VolatileField {
        kind,
        pointer,
        placeholder,
    }
}

static VOLATILE: [VolatileField; 12] = [
    volatile("data", "/timestamp", Placeholder::Timestamp),
    volatile("data", "/frame_count", Placeholder::Zero),
    volatile("data", "/current_value", Placeholder::Zero),
    volatile("data", "/baseline", Placeholder::Zero),
    volatile("data", "/peak_signal", Placeholder::Null),
    volatile("status", "/timestamp", Placeholder::Timestamp),
    volatile("status", "/frame_count", Placeholder::Zero),
    volatile("status", "/fps", Placeholder::Zero),
    volatile("status", "/connected_clients", Placeholder::Zero),
    volatile("pong", "/timestamp", Placeholder::Timestamp),
    volatile("error", "/timestamp", Placeholder::Timestamp),
    volatile("auth_response", "/timestamp", Placeholder::Timestamp),
];

/// 60 frames a second, broadcast; loss and order from `frame_count`.
static STREAMS: [StreamSpec; 1] = [StreamSpec {
    kind: "data",
    delivery: Delivery::Broadcast,
    period: Duration::from_nanos(1_000_000_000 / 60),
    timestamp: Some("/timestamp"),
    loss: LossSignal::Sequence {
        pointer: "/frame_count",
    },
}];

impl crate::profile::Profile for Nhem {
    fn name(&self) -> &'static str {
        "nhem"
    }

    fn title(&self) -> &'static str {
        "NHEM: peak-detection backend, 60 FPS broadcast, REST API"
    }

    fn documents(&self) -> &'static Documents {
        &DOCUMENTS
    }

    fn kinds(&self) -> &'static [KindInfo] {
        KINDS.as_slice()
    }

    /// Every NHEM WebSocket message names its kind in `type`.
    fn classify(
        &self,
        direction: Direction,
        message: &Value,
    ) -> Result<&'static str, Unclassified> {
        let name = type_field(message).map_err(|e| Unclassified(e.message))?;
        MessageKind::from_type(name)
            .filter(|kind| direction_of(kind.channel()) == Some(direction))
            .map(MessageKind::name)
            .ok_or_else(|| {
                Unclassified(format!(
                    "no {} message has type {name:?}",
                    direction.as_str()
                ))
            })
    }

    fn decode(&self, kind: &str, message: Value) -> Result<(), ParseError> {
        let kind = MessageKind::from_name(kind).ok_or_else(|| {
            ParseError::new(
                crate::ErrorCode::UnknownMessageType,
                format!("NHEM has no message kind {kind:?}"),
            )
        })?;
        decode(kind, message).map(|_| ())
    }

    fn default_secret(&self) -> Option<&'static str> {
        Some("31415")
    }

    fn error_codes(&self) -> &'static [&'static str] {
        &ERROR_CODES
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
    use crate::profile::Profile;
    use serde_json::json;

    #[test]
    fn error_vocabulary_is_the_error_code_enum() {
        let codes: Vec<_> = crate::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, ERROR_CODES);
        // The schema lists the same codes (as examples: other servers may send their own).
        let (_, common) = DOCUMENTS
            .schemas
            .iter()
            .find(|(name, _)| *name == "common.json")
            .expect("common.json is embedded");
        let common: Value = serde_json::from_str(common).expect("JSON");
        let examples = &common["$defs"]["error_code"]["examples"];
        assert_eq!(examples, &json!(ERROR_CODES), "schemas/nhem/common.json");
    }

    #[test]
    fn any_upper_snake_code_is_well_formed() {
        use crate::WireErrorCode;
        for good in ["ERROR_CODE", "OOPS", "E2E_TIMEOUT", "A"] {
            assert!(WireErrorCode::is_well_formed(good), "{good}");
        }
        for bad in ["", "oops", "_A", "A_", "A__B", "2FA", "A-B", "Ä"] {
            assert!(!WireErrorCode::is_well_formed(bad), "{bad}");
        }
        assert!(WireErrorCode::from("AUTH_FAILED".to_owned()).is_known());
        assert!(!WireErrorCode::from("ERROR_CODE".to_owned()).is_known());
    }

    #[test]
    fn classifies_by_type_and_direction() {
        let auth = json!({"type": "auth", "password": "x"});
        assert_eq!(NHEM.classify(Direction::ClientToServer, &auth), Ok("auth"));
        assert!(NHEM.classify(Direction::ServerToClient, &auth).is_err());
        let data = json!({"type": "data"});
        assert_eq!(NHEM.classify(Direction::ServerToClient, &data), Ok("data"));
        assert!(NHEM
            .classify(Direction::ServerToClient, &json!({"x": 1}))
            .is_err());
        assert!(NHEM
            .classify(Direction::ClientToServer, &json!({"type": "health"}))
            .is_err());
    }
}
