//! The handler profile (`PROFILES.md` §1): the WebSocketHandler library's protocol, with
//! correlated requests, RPC, pub/sub topics and streams over one socket.
//!
//! Seven `type`s travel both ways with different shapes, so kinds are not `type`s: a kind
//! that shares its `type` with the other direction carries a `_c2s` or `_s2c` suffix, and
//! [`classify`] needs the direction. [`client`] and [`server`] hold one Rust type per kind,
//! with decoders that name the same rules as `schemas/handler/`.

pub mod client;
mod fields;
mod profile;
pub mod server;

pub use client::{decode_client, parse_client_message, ClientMessage, Refusal, CLIENT_KINDS};
pub use fields::{
    Capability, ClientTimestamp, CodeName, InsertId, Label, Name, Reading, Sequence,
    ServerCapabilities, Text, Token,
};
pub use profile::{Handler, HANDLER};
pub use server::{decode_server, ServerMessage, SERVER_KINDS};

use crate::codec::type_field;
use crate::error::ParseError;
use crate::profile::{Direction, Unclassified};
use crate::rule::{Path, RuleKind};
use serde_json::Value;

/// The seed's port.
pub const DEFAULT_PORT: u16 = 8080;
/// The seed's `maxConnections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;
/// The seed's `maxPayloadSize` (10 MB).
pub const DEFAULT_MAX_PAYLOAD: usize = 10 * 1024 * 1024;
/// The seed's `requestTimeout`, in milliseconds.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// The seed's `heartbeatInterval`, in milliseconds.
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 30_000;
/// The `serverVersion` upstream reports.
pub const SERVER_VERSION: &str = "2.0.0";
/// The seed's client types.
pub const DEFAULT_CLIENT_TYPES: [&str; 3] = ["microcontroller", "application", "service"];

/// One kind: its name (schema stem, fixture folder) and the `type` it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireKind {
    pub kind: &'static str,
    pub wire_type: &'static str,
}

/// The kind among `kinds` that carries `wire_type`.
fn kind_of(kinds: &'static [WireKind], wire_type: &str) -> Option<&'static WireKind> {
    kinds.iter().find(|k| k.wire_type == wire_type)
}

/// The kind of a message travelling in `direction`, from its `type`.
pub fn classify(direction: Direction, message: &Value) -> Result<&'static str, Unclassified> {
    let Some(name) = message.get("type").and_then(Value::as_str) else {
        return Err(Unclassified("a message has no string `type`".into()));
    };
    let kinds = match direction {
        Direction::ClientToServer => CLIENT_KINDS,
        Direction::ServerToClient => SERVER_KINDS,
    };
    kind_of(kinds, name).map(|k| k.kind).ok_or_else(|| {
        Unclassified(format!(
            "no {direction:?} message has type {:?}",
            name.chars().take(64).collect::<String>()
        ))
    })
}

/// Checks that `value` is an object whose `type` is `info`'s, and returns it without `type`.
fn decode_kind(info: &WireKind, mut value: Value) -> Result<Value, ParseError> {
    let found = type_field(&value)?;
    if found != info.wire_type {
        return Err(ParseError::invalid(
            Path::root().key("type").rule(RuleKind::Enum),
            format!(
                "{} has type {:?}, found {:?}",
                info.kind,
                info.wire_type,
                found.chars().take(64).collect::<String>()
            ),
        ));
    }
    if let Some(object) = value.as_object_mut() {
        object.remove("type");
    }
    Ok(value)
}

/// A serialized message with its `type` member added.
fn with_type(value: Result<Value, serde_json::Error>, wire_type: &str) -> Value {
    let mut value = value.expect("handler messages serialize to JSON without fail");
    if let Some(object) = value.as_object_mut() {
        object.insert("type".into(), Value::from(wire_type));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::same_json;
    use std::path::PathBuf;

    /// The typed models lose nothing: every valid fixture decodes and re-encodes to itself.
    #[test]
    fn valid_fixtures_survive_decode_then_encode() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/handler/valid");
        let mut wrong = Vec::new();
        let mut seen = 0;
        for info in CLIENT_KINDS.iter().chain(SERVER_KINDS) {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(info.kind))
                .expect("a fixture folder per kind")
                .map(|e| e.expect("entry").path())
                .collect();
            paths.sort();
            for path in paths {
                seen += 1;
                let text = std::fs::read_to_string(&path).expect("readable");
                let message: Value = serde_json::from_str(&text).expect("JSON");
                let again = if CLIENT_KINDS.contains(info) {
                    decode_client(info.kind, message.clone()).map(|m| m.to_value())
                } else {
                    decode_server(info.kind, message.clone()).map(|m| m.to_value())
                };
                match again {
                    Ok(value) if same_json(&value, &message) => {}
                    Ok(value) => wrong.push(format!("{}: re-encodes as {value}", path.display())),
                    Err(e) => wrong.push(format!("{}: refused: {e}", path.display())),
                }
            }
        }
        assert!(seen >= 108, "only {seen} valid fixtures");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn shared_types_are_told_apart_by_direction() {
        let data = serde_json::json!({"type": "data", "data": {}});
        assert_eq!(classify(Direction::ClientToServer, &data), Ok("data_c2s"));
        assert_eq!(classify(Direction::ServerToClient, &data), Ok("data_s2c"));
        let shared: Vec<_> = CLIENT_KINDS
            .iter()
            .filter(|c| SERVER_KINDS.iter().any(|s| s.wire_type == c.wire_type))
            .map(|c| c.wire_type)
            .collect();
        // PROFILES.md §0 names seven; `ping`/`pong` and `heartbeat` are one-way.
        assert_eq!(
            shared,
            [
                "data",
                "request",
                "response",
                "publish",
                "stream_start",
                "stream_data",
                "stream_end"
            ]
        );
        for kinds in [CLIENT_KINDS, SERVER_KINDS] {
            for k in kinds {
                let suffixed = k.kind.ends_with("_c2s") || k.kind.ends_with("_s2c");
                assert_eq!(suffixed, shared.contains(&k.wire_type), "{}", k.kind);
            }
        }
    }

    #[test]
    fn a_client_message_is_parsed_or_refused_with_its_reason() {
        let ok = parse_client_message(
            br#"{"type":"rpc_call","requestId":"r1","method":"echo"}"#,
            1024,
        );
        assert!(matches!(ok, Ok(ClientMessage::RpcCall(_))), "{ok:?}");
        assert!(matches!(
            parse_client_message(b"{not json", 1024),
            Err(Refusal::InvalidJson(_))
        ));
        assert!(matches!(
            parse_client_message(b"[1]", 1024),
            Err(Refusal::InvalidJson(_))
        ));
        assert_eq!(
            parse_client_message(br#"{"type":"nope"}"#, 1024),
            Err(Refusal::UnknownType(Some("nope".into())))
        );
        assert_eq!(
            parse_client_message(br#"{"topic":"t"}"#, 1024),
            Err(Refusal::UnknownType(None))
        );
        match parse_client_message(br#"{"type":"subscribe","topic":5}"#, 1024) {
            Err(Refusal::Invalid { kind, error }) => {
                assert_eq!(kind, "subscribe");
                assert_eq!(
                    error.rule.map(|r| r.to_string()).as_deref(),
                    Some("type:topic")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
