//! The handler profile behind the [`Profile`] interface.

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
pub struct Handler;

/// The handler profile.
pub static HANDLER: Handler = Handler;

static DOCUMENTS: Documents = Documents {
    name: "handler",
    schemas: crate::embedded_schemas!("handler":
        "common", "handshake", "auth", "data_c2s", "sensor_data", "request_c2s", "response_c2s",
        "subscribe", "unsubscribe", "publish_c2s", "rpc_call", "stream_start_c2s",
        "stream_data_c2s", "stream_end_c2s", "heartbeat", "ping", "welcome",
        "handshake_response", "auth_response", "data_response", "response_s2c", "request_s2c",
        "subscribe_response", "unsubscribe_response", "publish_s2c", "publish_response",
        "rpc_response", "stream_start_response", "stream_end_response", "stream_start_s2c",
        "stream_data_s2c", "stream_end_s2c", "heartbeat_response", "pong", "data_s2c",
        "broadcast", "error",
    ),
    openapi: None,
    asyncapi: Some(crate::embedded_document!("handler", "asyncapi.json")),
};

static KINDS: std::sync::LazyLock<Vec<KindInfo>> = std::sync::LazyLock::new(|| {
    let server = SERVER_KINDS.iter().map(|k| KindInfo {
        name: k.kind,
        direction: Some(Direction::ServerToClient),
    });
    let client = CLIENT_KINDS.iter().map(|k| KindInfo {
        name: k.kind,
        direction: Some(Direction::ClientToServer),
    });
    server.chain(client).collect()
});

/// The codes the reference server sends in `error.code` (PROFILES.md §1 "Errors").
static ERROR_CODES: [&str; 6] = [
    "INVALID_JSON",
    "VALIDATION_ERROR",
    "UNKNOWN_MESSAGE_TYPE",
    "AUTH_REQUIRED",
    "FEATURE_DISABLED",
    "UNKNOWN_STREAM",
];

/// The placeholder for server-generated client ids.
pub const REDACTED_CLIENT_ID: &str = "client_redacted";

static VOLATILE: std::sync::LazyLock<Vec<VolatileField>> = std::sync::LazyLock::new(|| {
    let timestamps = SERVER_KINDS.iter().map(|k| VolatileField {
        kind: k.kind,
        pointer: "/timestamp",
        placeholder: Placeholder::Timestamp,
    });
    let ids = ["welcome", "handshake_response"].map(|kind| VolatileField {
        kind,
        pointer: "/clientId",
        placeholder: Placeholder::Text(REDACTED_CLIENT_ID),
    });
    let stream_data = VolatileField {
        kind: "stream_data_s2c",
        pointer: "/data/timestamp",
        placeholder: Placeholder::Timestamp,
    };
    timestamps.chain(ids).chain([stream_data]).collect()
});

/// `streams.start` streams: one per request, numbered from 0, on absolute deadlines.
static STREAMS: [StreamSpec; 1] = [StreamSpec {
    kind: "stream_data_s2c",
    delivery: Delivery::PerConnection,
    period: Duration::from_secs(1),
    timestamp: Some("/timestamp"),
    loss: LossSignal::Sequence {
        pointer: "/sequenceNumber",
    },
}];

impl Profile for Handler {
    fn name(&self) -> &'static str {
        "handler"
    }

    fn title(&self) -> &'static str {
        "WebSocketHandler: requests, pub/sub, RPC and streams with correlation ids"
    }

    fn documents(&self) -> &'static Documents {
        &DOCUMENTS
    }

    fn kinds(&self) -> &'static [KindInfo] {
        KINDS.as_slice()
    }

    /// The `type` names the kind within one direction; seven types travel both ways.
    fn classify(
        &self,
        direction: Direction,
        message: &Value,
    ) -> Result<&'static str, Unclassified> {
        super::classify(direction, message)
    }

    fn decode(&self, kind: &str, message: Value) -> Result<(), ParseError> {
        if SERVER_KINDS.iter().any(|k| k.kind == kind) {
            decode_server(kind, message).map(drop)
        } else if CLIENT_KINDS.iter().any(|k| k.kind == kind) {
            decode_client(kind, message).map(drop)
        } else {
            Err(ParseError::new(
                ErrorCode::UnknownMessageType,
                format!("the handler profile has no message kind {kind:?}"),
            ))
        }
    }

    /// No default: the seed's default is `enableAuthentication: false`.
    fn default_secret(&self) -> Option<&'static str> {
        None
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
