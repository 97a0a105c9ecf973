//! The NHEM profile: every message of `docs/protocol-nhem.md` as a Rust type, and the
//! decoders that turn bytes or JSON into them.
//!
//! Messages are grouped by where they travel: [`ClientMessage`] and [`ServerMessage`] on the
//! WebSocket, [`HttpResponse`] and [`HttpRequest`] on HTTP. [`MessageKind`] names each of the
//! 19 message types once, with its schema file; [`Message`] holds any of them.

mod common;
mod http;
mod profile;
pub mod sanitize;
pub mod validate;
mod ws;

pub use profile::{Nhem, NHEM};

pub use common::{
    ConfigTree, DetectionStatus, Envelope, ErrorDetails, PeakSignal, Rect, MAX_COORDINATE,
};
pub use http::{
    check_config_key, ConfigChange, ConfigSetRequest, ConfigView, ControlCommand, ControlRequest,
    ControlResult, EnhancedPeak, Health, HealthState, PixelFormat, RealtimeData, RoiChange,
    RoiData, RoiSetRequest, RoiView, SeriesPoint, SystemStatus, MAX_PIXELS_BASE64_LEN,
    MAX_SERIES_POINTS, MAX_THUMBNAIL_SIDE,
};
pub use ws::{
    Auth, AuthResponse, BroadcastFrame, ErrorMessage, GetStatus, Ping, Pong, StatusMessage,
    StatusReason, MAX_TARGET_FPS,
};

use crate::codec::{decode_struct, parse_json, type_field};
use crate::error::{ErrorCode, ParseError};
use crate::rule::{Path, RuleKind};
use serde::Serialize;
use serde_json::Value;

/// Where a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// WebSocket, client → server.
    WsClient,
    /// WebSocket, server → client (`error` is also the HTTP error body).
    WsServer,
    /// HTTP request (form fields; the JSON model is what the schema checks).
    HttpRequest,
    /// HTTP response body.
    HttpResponse,
}

/// Every NHEM message type; its [`name`](MessageKind::name) is both the wire `type` (where
/// there is one) and the schema file stem in `schemas/nhem/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    Auth,
    Ping,
    GetStatus,
    AuthResponse,
    Data,
    Status,
    Pong,
    Error,
    Health,
    SystemStatus,
    RealtimeData,
    ControlRequest,
    ControlResponse,
    Config,
    ConfigSetRequest,
    ConfigUpdate,
    Roi,
    RoiSetRequest,
    RoiUpdate,
}

impl MessageKind {
    pub const ALL: [MessageKind; 19] = [
        MessageKind::Auth,
        MessageKind::Ping,
        MessageKind::GetStatus,
        MessageKind::AuthResponse,
        MessageKind::Data,
        MessageKind::Status,
        MessageKind::Pong,
        MessageKind::Error,
        MessageKind::Health,
        MessageKind::SystemStatus,
        MessageKind::RealtimeData,
        MessageKind::ControlRequest,
        MessageKind::ControlResponse,
        MessageKind::Config,
        MessageKind::ConfigSetRequest,
        MessageKind::ConfigUpdate,
        MessageKind::Roi,
        MessageKind::RoiSetRequest,
        MessageKind::RoiUpdate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Auth => "auth",
            MessageKind::Ping => "ping",
            MessageKind::GetStatus => "get_status",
            MessageKind::AuthResponse => "auth_response",
            MessageKind::Data => "data",
            MessageKind::Status => "status",
            MessageKind::Pong => "pong",
            MessageKind::Error => "error",
            MessageKind::Health => "health",
            MessageKind::SystemStatus => "system_status",
            MessageKind::RealtimeData => "realtime_data",
            MessageKind::ControlRequest => "control_request",
            MessageKind::ControlResponse => "control_response",
            MessageKind::Config => "config",
            MessageKind::ConfigSetRequest => "config_set_request",
            MessageKind::ConfigUpdate => "config_update",
            MessageKind::Roi => "roi",
            MessageKind::RoiSetRequest => "roi_set_request",
            MessageKind::RoiUpdate => "roi_update",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The message kind whose wire `type` is `name` (request models have no `type`).
    pub fn from_type(name: &str) -> Option<Self> {
        Self::from_name(name).filter(|k| k.has_type_field())
    }

    pub fn channel(self) -> Channel {
        use MessageKind::*;
        match self {
            Auth | Ping | GetStatus => Channel::WsClient,
            AuthResponse | Data | Status | Pong | Error => Channel::WsServer,
            ControlRequest | ConfigSetRequest | RoiSetRequest => Channel::HttpRequest,
            Health | SystemStatus | RealtimeData | ControlResponse | Config | ConfigUpdate
            | Roi | RoiUpdate => Channel::HttpResponse,
        }
    }

    /// Request models are form fields and carry no `type`; every other message does.
    pub fn has_type_field(self) -> bool {
        self.channel() != Channel::HttpRequest
    }

    pub fn schema_file(self) -> String {
        format!("{}.json", self.name())
    }
}

/// WebSocket messages from client to server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Auth(Auth),
    Ping(Ping),
    GetStatus(GetStatus),
}

/// WebSocket messages from server to client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    AuthResponse(AuthResponse),
    Data(BroadcastFrame),
    Status(StatusMessage),
    Pong(Pong),
    Error(ErrorMessage),
}

/// HTTP response bodies other than `error` (which is [`ServerMessage::Error`]'s body).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HttpResponse {
    Health(Envelope<Health>),
    SystemStatus(Envelope<SystemStatus>),
    RealtimeData(RealtimeData),
    ControlResponse(Envelope<ControlResult>),
    Config(Envelope<ConfigView>),
    ConfigUpdate(Envelope<ConfigChange>),
    Roi(Envelope<RoiView>),
    RoiUpdate(Envelope<RoiChange>),
}

/// JSON models of the HTTP form requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HttpRequest {
    Control(ControlRequest),
    ConfigSet(ConfigSetRequest),
    RoiSet(RoiSetRequest),
}

/// Any NHEM message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Message {
    Client(ClientMessage),
    Server(ServerMessage),
    HttpResponse(HttpResponse),
    HttpRequest(HttpRequest),
}

impl Message {
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Client(m) => match m {
                ClientMessage::Auth(_) => MessageKind::Auth,
                ClientMessage::Ping(_) => MessageKind::Ping,
                ClientMessage::GetStatus(_) => MessageKind::GetStatus,
            },
            Message::Server(m) => m.kind(),
            Message::HttpResponse(m) => match m {
                HttpResponse::Health(_) => MessageKind::Health,
                HttpResponse::SystemStatus(_) => MessageKind::SystemStatus,
                HttpResponse::RealtimeData(_) => MessageKind::RealtimeData,
                HttpResponse::ControlResponse(_) => MessageKind::ControlResponse,
                HttpResponse::Config(_) => MessageKind::Config,
                HttpResponse::ConfigUpdate(_) => MessageKind::ConfigUpdate,
                HttpResponse::Roi(_) => MessageKind::Roi,
                HttpResponse::RoiUpdate(_) => MessageKind::RoiUpdate,
            },
            Message::HttpRequest(m) => match m {
                HttpRequest::Control(_) => MessageKind::ControlRequest,
                HttpRequest::ConfigSet(_) => MessageKind::ConfigSetRequest,
                HttpRequest::RoiSet(_) => MessageKind::RoiSetRequest,
            },
        }
    }

    /// The message as JSON, exactly as it goes on the wire.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("message types serialize to JSON without fail")
    }
}

impl ServerMessage {
    pub fn kind(&self) -> MessageKind {
        match self {
            ServerMessage::AuthResponse(_) => MessageKind::AuthResponse,
            ServerMessage::Data(_) => MessageKind::Data,
            ServerMessage::Status(_) => MessageKind::Status,
            ServerMessage::Pong(_) => MessageKind::Pong,
            ServerMessage::Error(_) => MessageKind::Error,
        }
    }

    /// Serializes to the JSON text sent in one WebSocket text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("message types serialize to JSON without fail")
    }
}

/// Decodes `value` as a message of `kind`: checks the `type` member (if the kind has one),
/// then the members.
pub fn decode(kind: MessageKind, mut value: Value) -> Result<Message, ParseError> {
    if kind.has_type_field() {
        let found = type_field(&value)?;
        if found != kind.name() {
            return Err(ParseError::invalid(
                Path::root().key("type").rule(RuleKind::Enum),
                format!("expected type {:?}, found {found:?}", kind.name()),
            ));
        }
        if let Some(object) = value.as_object_mut() {
            object.remove("type");
        }
    }
    decode_members(kind, value)
}

fn decode_members(kind: MessageKind, value: Value) -> Result<Message, ParseError> {
    use MessageKind as K;
    let message = match kind {
        K::Auth => Message::Client(ClientMessage::Auth(decode_struct(value)?)),
        K::Ping => Message::Client(ClientMessage::Ping(decode_struct(value)?)),
        K::GetStatus => Message::Client(ClientMessage::GetStatus(decode_struct(value)?)),
        K::AuthResponse => Message::Server(ServerMessage::AuthResponse(decode_struct(value)?)),
        K::Data => Message::Server(ServerMessage::Data(decode_struct(value)?)),
        K::Status => Message::Server(ServerMessage::Status(decode_struct(value)?)),
        K::Pong => Message::Server(ServerMessage::Pong(decode_struct(value)?)),
        K::Error => Message::Server(ServerMessage::Error(decode_struct(value)?)),
        K::Health => Message::HttpResponse(HttpResponse::Health(decode_struct(value)?)),
        K::SystemStatus => Message::HttpResponse(HttpResponse::SystemStatus(decode_struct(value)?)),
        K::RealtimeData => Message::HttpResponse(HttpResponse::RealtimeData(decode_struct(value)?)),
        K::ControlResponse => {
            Message::HttpResponse(HttpResponse::ControlResponse(decode_struct(value)?))
        }
        K::Config => Message::HttpResponse(HttpResponse::Config(decode_struct(value)?)),
        K::ConfigUpdate => Message::HttpResponse(HttpResponse::ConfigUpdate(decode_struct(value)?)),
        K::Roi => Message::HttpResponse(HttpResponse::Roi(decode_struct(value)?)),
        K::RoiUpdate => Message::HttpResponse(HttpResponse::RoiUpdate(decode_struct(value)?)),
        K::ControlRequest => Message::HttpRequest(HttpRequest::Control(decode_struct(value)?)),
        K::ConfigSetRequest => Message::HttpRequest(HttpRequest::ConfigSet(decode_struct(value)?)),
        K::RoiSetRequest => Message::HttpRequest(HttpRequest::RoiSet(decode_struct(value)?)),
    };
    Ok(message)
}

/// Decodes any message that carries a `type` member.
pub fn decode_typed(value: Value) -> Result<Message, ParseError> {
    let name = type_field(&value)?;
    let Some(kind) = MessageKind::from_type(name) else {
        return Err(unknown_type(name));
    };
    decode(kind, value)
}

fn unknown_type(name: &str) -> ParseError {
    ParseError::with_rule(
        ErrorCode::UnknownMessageType,
        Path::root().key("type").rule(RuleKind::Enum),
        format!("unknown message type {:?}", truncate(name, 64)),
    )
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Parses one WebSocket message from a client. Server-to-client types sent by a client are
/// unknown here, exactly like made-up ones.
pub fn parse_client_message(bytes: &[u8], max_bytes: usize) -> Result<ClientMessage, ParseError> {
    let value = parse_json(bytes, max_bytes)?;
    let name = type_field(&value)?;
    match MessageKind::from_type(name) {
        Some(kind) if kind.channel() == Channel::WsClient => match decode(kind, value)? {
            Message::Client(message) => Ok(message),
            _ => unreachable!("client kinds decode to client messages"),
        },
        _ => Err(unknown_type(name)),
    }
}

/// Parses one WebSocket message from a server.
pub fn parse_server_message(bytes: &[u8], max_bytes: usize) -> Result<ServerMessage, ParseError> {
    let value = parse_json(bytes, max_bytes)?;
    let name = type_field(&value)?;
    match MessageKind::from_type(name) {
        Some(kind) if kind.channel() == Channel::WsServer => match decode(kind, value)? {
            Message::Server(message) => Ok(message),
            _ => unreachable!("server kinds decode to server messages"),
        },
        _ => Err(unknown_type(name)),
    }
}
