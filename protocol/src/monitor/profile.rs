//! The monitor profile behind the [`Profile`] interface.

use super::client::{decode_client, CLIENT_KINDS};
use super::server::{decode_server, SERVER_KINDS};
use crate::error::{ErrorCode, ParseError};
use crate::profile::{
    Delivery, Direction, Documents, KindInfo, LossSignal, Placeholder, Profile, StreamSpec,
    Unclassified, VolatileField,
};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug)]
pub struct Monitor;

/// The monitor profile.
pub static MONITOR: Monitor = Monitor;

static DOCUMENTS: Documents = Documents {
    name: "monitor",
    schemas: crate::embedded_schemas!("monitor":
        "common", "connection", "performance", "alert", "status", "config", "system", "pong",
        "error", "subscribe", "unsubscribe", "request_data", "ping",
    ),
    openapi: None,
    asyncapi: Some(crate::embedded_document!("monitor", "asyncapi.json")),
};

static KINDS: std::sync::LazyLock<Vec<KindInfo>> = std::sync::LazyLock::new(|| {
    let server = SERVER_KINDS.iter().map(|name| KindInfo {
        name,
        direction: Some(Direction::ServerToClient),
    });
    let client = CLIENT_KINDS.iter().map(|name| KindInfo {
        name,
        direction: Some(Direction::ClientToServer),
    });
    server.chain(client).collect()
});

/// The codes the reference server sends (the schema allows any UPPER_SNAKE code).
static ERROR_CODES: [&str; 7] = [
    "AUTH_FAILED",
    "AUTHENTICATION_FAILED",
    "CONNECTION_FAILED",
    "RATE_LIMIT_EXCEEDED",
    "INVALID_JSON",
    "UNKNOWN_MESSAGE_TYPE",
    "VALIDATION_ERROR",
];

static VOLATILE: std::sync::LazyLock<Vec<VolatileField>> = std::sync::LazyLock::new(|| {
    SERVER_KINDS
        .iter()
        .map(|kind| VolatileField {
            kind,
            pointer: "/timestamp",
            placeholder: Placeholder::Timestamp,
        })
        .chain([VolatileField {
            kind: "connection",
            pointer: "/data/server_time",
            placeholder: Placeholder::Timestamp,
        }])
        .collect()
});

static STREAMS: [StreamSpec; 1] = [StreamSpec {
    kind: "performance",
    delivery: Delivery::Broadcast,
    period: Duration::from_secs(1),
    timestamp: Some("/timestamp"),
    loss: LossSignal::TimestampSteps,
}];

impl Profile for Monitor {
    fn name(&self) -> &'static str {
        "monitor"
    }

    fn title(&self) -> &'static str {
        "Monitoring API: envelopes on four endpoints, subscribe filters, rate limits"
    }

    fn documents(&self) -> &'static Documents {
        &DOCUMENTS
    }

    fn kinds(&self) -> &'static [KindInfo] {
        KINDS.as_slice()
    }

    /// Every message names its kind in `type`; the direction tells client kinds from server
    /// kinds.
    fn classify(
        &self,
        direction: Direction,
        message: &Value,
    ) -> Result<&'static str, Unclassified> {
        let Some(name) = message.get("type").and_then(Value::as_str) else {
            return Err(Unclassified("a message has no string `type`".into()));
        };
        let known: &[&'static str] = match direction {
            Direction::ServerToClient => &SERVER_KINDS,
            Direction::ClientToServer => &CLIENT_KINDS,
        };
        known.iter().copied().find(|k| *k == name).ok_or_else(|| {
            Unclassified(format!(
                "no {direction:?} message has type {:?}",
                name.chars().take(64).collect::<String>()
            ))
        })
    }

    fn decode(&self, kind: &str, message: Value) -> Result<(), ParseError> {
        if SERVER_KINDS.contains(&kind) {
            decode_server(kind, message).map(drop)
        } else if CLIENT_KINDS.contains(&kind) {
            decode_client(kind, message).map(drop)
        } else {
            Err(ParseError::new(
                ErrorCode::UnknownMessageType,
                format!("the monitor profile has no message kind {kind:?}"),
            ))
        }
    }

    fn default_secret(&self) -> Option<&'static str> {
        Some(super::DEFAULT_API_KEY)
    }

    fn error_codes(&self) -> &'static [&'static str] {
        &ERROR_CODES
    }

    fn volatile_fields(&self) -> &'static [VolatileField] {
        VOLATILE.as_slice()
    }

    fn streams(&self) -> &'static [StreamSpec] {
        &STREAMS
    }
}
