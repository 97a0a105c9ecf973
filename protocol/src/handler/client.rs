//! Client → server messages of the handler profile.
//!
//! Kinds whose `type` also travels the other way carry a `_c2s` suffix (`data_c2s` is
//! `{"type": "data", …}` from a client). Each decoder names the rule a bad message breaks,
//! with the same names as `schemas/handler/<kind>.json`.

use super::fields::{
    kind_table, message, Capability, ClientTimestamp, Label, Name, Reading, Sequence, Token,
};
use super::{kind_of, WireKind};
use crate::codec::{parse_json, type_field};
use crate::error::{ErrorCode, ParseError};
use crate::rule::{Path, RuleKind};
use serde_json::{Map, Value};

message! {
    /// `handshake`: who the client is. It gates nothing (upstream).
    Handshake
    required { client_type: Label = "clientType" }
    optional { capabilities: Vec<Capability> = "capabilities", version: Label = "version" }
    nullable {}
}

message! {
    /// `auth`: the token, checked on every `auth`.
    Auth
    required { token: Token = "token" }
    optional {}
    nullable {}
}

message! {
    /// `data` from a client: an open application payload to store.
    DataC2s
    required { data: Map<String, Value> = "data" }
    optional {
        data_type: Label = "dataType",
        timestamp: ClientTimestamp = "timestamp",
        request_id: Name = "requestId",
    }
    nullable {}
}

message! {
    /// `sensor_data`: the legacy microcontroller reading; the whole message is the data.
    open SensorData
    required {}
    optional {
        temperature: f64 = "temperature",
        humidity: f64 = "humidity",
        sensor_id: Reading = "sensor_id",
        location: Reading = "location",
        battery_level: f64 = "battery_level",
        timestamp: ClientTimestamp = "timestamp",
    }
    nullable {}
}

message! {
    /// `request` from a client: answered by `response` with the same `requestId`.
    RequestC2s
    required { request_id: Name = "requestId", endpoint: Name = "endpoint" }
    optional { data: Value = "data", timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `response` from a client, to a server-initiated `request`.
    ResponseC2s
    required { request_id: Name = "requestId", success: bool = "success" }
    optional { data: Value = "data", timestamp: ClientTimestamp = "timestamp" }
    nullable { error: String = "error" }
}

message! {
    /// `subscribe`: exact topic, idempotent.
    Subscribe
    required { topic: Name = "topic" }
    optional { timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `unsubscribe`.
    Unsubscribe
    required { topic: Name = "topic" }
    optional { timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `publish` from a client: to every other subscriber of the topic.
    PublishC2s
    required { topic: Name = "topic", data: Value = "data" }
    optional { timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `rpc_call`: answered by `rpc_response` with the same `requestId`.
    RpcCall
    required { request_id: Name = "requestId", method: Name = "method" }
    optional { params: Value = "params", timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `stream_start` from a client: opens (or replaces) a client stream.
    StreamStartC2s
    required { stream_id: Name = "streamId", stream_type: Label = "streamType" }
    optional { metadata: Map<String, Value> = "metadata", timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `stream_data` from a client: no reply.
    StreamDataC2s
    required {
        stream_id: Name = "streamId",
        data: Value = "data",
        sequence_number: Sequence = "sequenceNumber",
    }
    optional { timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `stream_end` from a client: also ends a server stream of that id.
    StreamEndC2s
    required { stream_id: Name = "streamId" }
    optional { timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `heartbeat`: answered by `heartbeat_response`, in order (the suite's barrier).
    Heartbeat
    required {}
    optional { timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

message! {
    /// `ping` (upstream): answered by `pong`.
    Ping
    required {}
    optional { timestamp: ClientTimestamp = "timestamp" }
    nullable {}
}

kind_table! {
    /// A message from a client, one variant per kind.
    ClientMessage, CLIENT_KINDS, decode_client, "client";
    Handshake(Handshake) = "handshake" as "handshake",
    Auth(Auth) = "auth" as "auth",
    Data(DataC2s) = "data_c2s" as "data",
    SensorData(SensorData) = "sensor_data" as "sensor_data",
    Request(RequestC2s) = "request_c2s" as "request",
    Response(ResponseC2s) = "response_c2s" as "response",
    Subscribe(Subscribe) = "subscribe" as "subscribe",
    Unsubscribe(Unsubscribe) = "unsubscribe" as "unsubscribe",
    Publish(PublishC2s) = "publish_c2s" as "publish",
    RpcCall(RpcCall) = "rpc_call" as "rpc_call",
    StreamStart(StreamStartC2s) = "stream_start_c2s" as "stream_start",
    StreamData(StreamDataC2s) = "stream_data_c2s" as "stream_data",
    StreamEnd(StreamEndC2s) = "stream_end_c2s" as "stream_end",
    Heartbeat(Heartbeat) = "heartbeat" as "heartbeat",
    Ping(Ping) = "ping" as "ping",
}

/// Why a client message could not be accepted, in the terms the server answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Not JSON, or not an object (`INVALID_JSON`, "Invalid message format").
    InvalidJson(ParseError),
    /// No client kind has this `type` (`UNKNOWN_MESSAGE_TYPE`); `None` when `type` is missing
    /// or not a string (upstream writes `undefined`).
    UnknownType(Option<String>),
    /// A known `type` whose members break a rule (`VALIDATION_ERROR`), with the kind.
    Invalid {
        kind: &'static str,
        error: ParseError,
    },
}

/// Parses one text message from a client: JSON (duplicate members refused, at most
/// `max_bytes`), a known client `type`, then its members.
pub fn parse_client_message(bytes: &[u8], max_bytes: usize) -> Result<ClientMessage, Refusal> {
    let value = parse_json(bytes, max_bytes).map_err(Refusal::InvalidJson)?;
    if !value.is_object() {
        return Err(Refusal::InvalidJson(ParseError::invalid(
            Path::root().rule(RuleKind::Type),
            "a message must be a JSON object",
        )));
    }
    let name = match type_field(&value) {
        Ok(name) => name.to_owned(),
        Err(_) => return Err(Refusal::UnknownType(None)),
    };
    let Some(info) = kind_of(CLIENT_KINDS, &name) else {
        return Err(Refusal::UnknownType(Some(name)));
    };
    decode_client(info.kind, value).map_err(|error| Refusal::Invalid {
        kind: info.kind,
        error,
    })
}
