//! Server → client messages of the handler profile.
//!
//! Kinds whose `type` also travels the other way carry a `_s2c` suffix (`publish_s2c` is the
//! `publish` a subscriber receives). Members the seed does not show but upstream always sends
//! are optional here, so a third-party server that leaves them out still conforms.

use super::fields::{
    kind_table, message, CodeName, InsertId, Label, Name, Sequence, ServerCapabilities, Text,
};
use super::WireKind;
use crate::error::{ErrorCode, ParseError};
use crate::timestamp::Timestamp;
use serde_json::Value;

message! {
    /// `welcome`: the first message on every connection.
    Welcome
    required { client_id: Name = "clientId", auth_required: bool = "authRequired" }
    optional {
        server_capabilities: ServerCapabilities = "serverCapabilities",
        supported_client_types: Vec<Label> = "supportedClientTypes",
        timestamp: Timestamp = "timestamp",
    }
    nullable {}
}

message! {
    /// `handshake_response` (upstream): one per `handshake`.
    HandshakeResponse
    required { success: bool = "success" }
    optional {
        client_id: Name = "clientId",
        server_version: Label = "serverVersion",
        timestamp: Timestamp = "timestamp",
    }
    nullable {}
}

message! {
    /// `auth_response`: one per `auth`.
    AuthResponse
    required { success: bool = "success" }
    optional { message: Text = "message", timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `data_response`: one per `data` or `sensor_data`, in order.
    DataResponse
    required { success: bool = "success" }
    optional {
        timestamp: Timestamp = "timestamp",
        insert_id: InsertId = "insertId",
        message: Text = "message",
        request_id: Name = "requestId",
    }
    nullable {}
}

message! {
    /// `response` to a client's `request`.
    ResponseS2c
    required { request_id: Name = "requestId", success: bool = "success" }
    optional { data: Value = "data", timestamp: Timestamp = "timestamp" }
    nullable { error: String = "error" }
}

message! {
    /// `request` from the server (only the client probe sends it).
    RequestS2c
    required { request_id: Name = "requestId", endpoint: Name = "endpoint" }
    optional { data: Value = "data", timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `subscribe_response` (upstream).
    SubscribeResponse
    required { success: bool = "success", topic: Name = "topic" }
    optional { timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `unsubscribe_response` (upstream).
    UnsubscribeResponse
    required { success: bool = "success", topic: Name = "topic" }
    optional { timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `publish` to a subscriber (never to the publisher).
    PublishS2c
    required { topic: Name = "topic", data: Value = "data" }
    optional { timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `publish_response` (upstream), to the publisher.
    PublishResponse
    required { success: bool = "success", topic: Name = "topic" }
    optional { timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `rpc_response`: `data` on success, `error` on failure.
    RpcResponse
    required { request_id: Name = "requestId", success: bool = "success" }
    optional { data: Value = "data", error: Text = "error", timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `stream_start_response` (upstream).
    StreamStartResponse
    required { success: bool = "success", stream_id: Name = "streamId" }
    optional { timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `stream_end_response` (upstream), also for an unknown stream.
    StreamEndResponse
    required { success: bool = "success", stream_id: Name = "streamId" }
    optional { timestamp: Timestamp = "timestamp" }
    nullable {}
}

message! {
    /// `stream_start` of a server stream.
    StreamStartS2c
    required {
        stream_id: Name = "streamId",
        stream_type: Label = "streamType",
        timestamp: Timestamp = "timestamp",
    }
    optional {}
    nullable {}
}

message! {
    /// `stream_data` of a server stream; upstream's `sendStreamData` writes `null` when no
    /// sequence number is given.
    StreamDataS2c
    required {
        stream_id: Name = "streamId",
        data: Value = "data",
        sequence_number: Option<Sequence> = "sequenceNumber",
        timestamp: Timestamp = "timestamp",
    }
    optional {}
    nullable {}
}

message! {
    /// `stream_end` of a server stream.
    StreamEndS2c
    required { stream_id: Name = "streamId", timestamp: Timestamp = "timestamp" }
    optional {}
    nullable {}
}

message! {
    /// `heartbeat_response`: the barrier (messages are handled in order).
    HeartbeatResponse
    required { timestamp: Timestamp = "timestamp" }
    optional {}
    nullable {}
}

message! {
    /// `pong` (upstream), to a `ping`.
    Pong
    required { timestamp: Timestamp = "timestamp" }
    optional {}
    nullable {}
}

message! {
    /// `data` to one client (upstream `sendToClient`).
    DataS2c
    required { data: Value = "data", timestamp: Timestamp = "timestamp" }
    optional {}
    nullable {}
}

message! {
    /// `broadcast` to every client (upstream `broadcastToAll`): open.
    open Broadcast
    required { timestamp: Timestamp = "timestamp" }
    optional {}
    nullable {}
}

message! {
    /// `error`: a message the server could not accept; the connection stays open.
    Error
    required { message: Text = "message" }
    optional { timestamp: Timestamp = "timestamp", code: CodeName = "code" }
    nullable {}
}

kind_table! {
    /// A message from a server, one variant per kind.
    ServerMessage, SERVER_KINDS, decode_server, "server";
    Welcome(Welcome) = "welcome" as "welcome",
    HandshakeResponse(HandshakeResponse) = "handshake_response" as "handshake_response",
    AuthResponse(AuthResponse) = "auth_response" as "auth_response",
    DataResponse(DataResponse) = "data_response" as "data_response",
    Response(ResponseS2c) = "response_s2c" as "response",
    Request(RequestS2c) = "request_s2c" as "request",
    SubscribeResponse(SubscribeResponse) = "subscribe_response" as "subscribe_response",
    UnsubscribeResponse(UnsubscribeResponse) = "unsubscribe_response" as "unsubscribe_response",
    Publish(PublishS2c) = "publish_s2c" as "publish",
    PublishResponse(PublishResponse) = "publish_response" as "publish_response",
    RpcResponse(RpcResponse) = "rpc_response" as "rpc_response",
    StreamStartResponse(StreamStartResponse) = "stream_start_response" as "stream_start_response",
    StreamEndResponse(StreamEndResponse) = "stream_end_response" as "stream_end_response",
    StreamStart(StreamStartS2c) = "stream_start_s2c" as "stream_start",
    StreamData(StreamDataS2c) = "stream_data_s2c" as "stream_data",
    StreamEnd(StreamEndS2c) = "stream_end_s2c" as "stream_end",
    HeartbeatResponse(HeartbeatResponse) = "heartbeat_response" as "heartbeat_response",
    Pong(Pong) = "pong" as "pong",
    Data(DataS2c) = "data_s2c" as "data",
    Broadcast(Broadcast) = "broadcast" as "broadcast",
    Error(Error) = "error" as "error",
}
