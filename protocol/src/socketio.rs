//! Engine.IO v4 and Socket.IO v5 packets (the `retroboard` profile's wire, `PROFILES.md` §4):
//! a pure codec, no I/O. Decoding never panics, whatever the input; encoding a decoded packet
//! gives back the same packet (property-tested in `tests/it/socketio.rs`, fuzzed by
//! `fuzz/fuzz_targets/socketio_codec.rs`).
//!
//! - An Engine.IO packet is a type digit and its data: `0{…}` open, `1` close, `2`/`3` ping and
//!   pong (optionally `probe`), `4…` message, `5` upgrade, `6` noop. Over WebSocket a binary
//!   frame is a binary message; over HTTP long-polling it is `b<base64>`, and the packets of a
//!   payload are separated by `\x1e`.
//! - A Socket.IO packet travels in an Engine.IO message:
//!   `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, the namespace left out when it
//!   is `/`. Types: 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT,
//!   6 BINARY_ACK.

use base64::Engine as _;
use serde_json::Value;

/// Why bytes are not a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("an empty packet")]
    Empty,
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    #[error("{0}")]
    Malformed(String),
}

fn malformed(message: impl Into<String>) -> CodecError {
    CodecError::Malformed(message.into())
}

/// The data of an Engine.IO message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioData {
    Text(String),
    Binary(Vec<u8>),
}

/// One Engine.IO v4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioPacket {
    /// The handshake object (`sid`, `upgrades`, `pingInterval`, `pingTimeout`, `maxPayload`),
    /// kept as its JSON text.
    Open(String),
    Close,
    /// `probe` during an upgrade; otherwise no data.
    Ping(Option<String>),
    Pong(Option<String>),
    Message(EioData),
    Upgrade,
    Noop,
}

impl EioPacket {
    /// The packet as a WebSocket text frame (`None` for a binary message, which is a binary
    /// frame of [`EioData::Binary`]'s bytes).
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            EioPacket::Open(json) => format!("0{json}"),
            EioPacket::Close => "1".into(),
            EioPacket::Ping(data) => format!("2{}", data.as_deref().unwrap_or_default()),
            EioPacket::Pong(data) => format!("3{}", data.as_deref().unwrap_or_default()),
            EioPacket::Message(EioData::Text(text)) => format!("4{text}"),
            EioPacket::Message(EioData::Binary(_)) => return None,
            EioPacket::Upgrade => "5".into(),
            EioPacket::Noop => "6".into(),
        })
    }

    /// The packet as it goes in a long-polling payload (binary as `b<base64>`).
    pub fn to_polling(&self) -> String {
        match self {
            EioPacket::Message(EioData::Binary(bytes)) => {
                format!(
                    "b{}",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                )
            }
            other => other.to_text().expect("every other packet is text"),
        }
    }

    /// Decodes one packet from a WebSocket text frame.
    pub fn from_text(text: &str) -> Result<EioPacket, CodecError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(CodecError::Empty)?;
        let data = chars.as_str();
        let optional = |data: &str| (!data.is_empty()).then(|| data.to_owned());
        let no_data = |packet: EioPacket| {
            if data.is_empty() {
                Ok(packet)
            } else {
                Err(malformed(format!("packet {kind} carries no data")))
            }
        };
        match kind {
            '0' => Ok(EioPacket::Open(data.to_owned())),
            '1' => no_data(EioPacket::Close),
            '2' => Ok(EioPacket::Ping(optional(data))),
            '3' => Ok(EioPacket::Pong(optional(data))),
            '4' => Ok(EioPacket::Message(EioData::Text(data.to_owned()))),
            '5' => no_data(EioPacket::Upgrade),
            '6' => no_data(EioPacket::Noop),
            other => Err(CodecError::UnknownType(other)),
        }
    }

    /// Decodes one packet of a long-polling payload (`b<base64>` is a binary message).
    pub fn from_polling(text: &str) -> Result<EioPacket, CodecError> {
        match text.strip_prefix('b') {
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map(|bytes| EioPacket::Message(EioData::Binary(bytes)))
                .map_err(|e| malformed(format!("binary packet: {e}"))),
            None => EioPacket::from_text(text),
        }
    }
}

/// The record separator between the packets of a long-polling payload.
pub const SEPARATOR: char = '\u{1e}';

/// Encodes packets as one long-polling payload.
pub fn encode_payload(packets: &[EioPacket]) -> String {
    packets
        .iter()
        .map(EioPacket::to_polling)
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string())
}

/// Decodes a long-polling payload.
pub fn decode_payload(payload: &str) -> Result<Vec<EioPacket>, CodecError> {
    payload
        .split(SEPARATOR)
        .map(EioPacket::from_polling)
        .collect()
}

/// Socket.IO v5 packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SioKind {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

impl SioKind {
    pub const ALL: [SioKind; 7] = [
        SioKind::Connect,
        SioKind::Disconnect,
        SioKind::Event,
        SioKind::Ack,
        SioKind::ConnectError,
        SioKind::BinaryEvent,
        SioKind::BinaryAck,
    ];

    fn digit(self) -> char {
        char::from(
            b'0' + SioKind::ALL
                .iter()
                .position(|k| *k == self)
                .expect("listed") as u8,
        )
    }

    fn is_binary(self) -> bool {
        matches!(self, SioKind::BinaryEvent | SioKind::BinaryAck)
    }
}

/// One Socket.IO v5 packet.
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    pub kind: SioKind,
    /// `/` unless the packet names another namespace.
    pub namespace: String,
    /// Binary attachments that follow (binary kinds only).
    pub attachments: u32,
    pub ack_id: Option<u64>,
    pub data: Option<Value>,
}

impl SioPacket {
    /// An EVENT `["<name>", args…]` on `/`.
    pub fn event(name: &str, args: impl IntoIterator<Item = Value>) -> SioPacket {
        let mut data = vec![Value::from(name)];
        data.extend(args);
        SioPacket {
            kind: SioKind::Event,
            namespace: "/".into(),
            attachments: 0,
            ack_id: None,
            data: Some(Value::Array(data)),
        }
    }

    /// The event name and arguments of an EVENT or BINARY_EVENT.
    pub fn event_parts(&self) -> Option<(&str, &[Value])> {
        match (&self.kind, &self.data) {
            (SioKind::Event | SioKind::BinaryEvent, Some(Value::Array(items))) => {
                let (name, args) = items.split_first()?;
                Some((name.as_str()?, args))
            }
            _ => None,
        }
    }

    /// The packet as the text of an Engine.IO message.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        out.push(self.kind.digit());
        if self.kind.is_binary() {
            out.push_str(&format!("{}-", self.attachments));
        }
        if self.namespace != "/" {
            out.push_str(&self.namespace);
            out.push(',');
        }
        if let Some(id) = self.ack_id {
            out.push_str(&id.to_string());
        }
        if let Some(data) = &self.data {
            out.push_str(&data.to_string());
        }
        out
    }

    /// Decodes the text of an Engine.IO message, and checks the data each type carries.
    pub fn decode(text: &str) -> Result<SioPacket, CodecError> {
        let mut rest = text;
        let digit = rest.chars().next().ok_or(CodecError::Empty)?;
        let kind = digit
            .to_digit(10)
            .and_then(|d| SioKind::ALL.get(d as usize).copied())
            .ok_or(CodecError::UnknownType(digit))?;
        rest = &rest[digit.len_utf8()..];
        let mut attachments = 0;
        if kind.is_binary() {
            let (count, after) = rest
                .split_once('-')
                .ok_or_else(|| malformed("a binary packet starts with <attachments>-"))?;
            attachments = digits(count)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| malformed("attachments must be a number"))?;
            rest = after;
        }
        let mut namespace = "/".to_owned();
        if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            namespace = rest[..end].to_owned();
            rest = rest.get(end + 1..).unwrap_or_default();
        }
        let id_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack_id = match id_len {
            0 => None,
            _ => Some(digits(&rest[..id_len]).ok_or_else(|| malformed("ack id out of range"))?),
        };
        rest = &rest[id_len..];
        let data = match rest {
            "" => None,
            json => Some(
                serde_json::from_str::<Value>(json)
                    .map_err(|e| malformed(format!("packet data is not JSON: {e}")))?,
            ),
        };
        let packet = SioPacket {
            kind,
            namespace,
            attachments,
            ack_id,
            data,
        };
        packet.check()?;
        Ok(packet)
    }

    /// What each type may carry (the Socket.IO v5 specification).
    fn check(&self) -> Result<(), CodecError> {
        let data = self.data.as_ref();
        let ok = match self.kind {
            SioKind::Connect => data.is_none_or(Value::is_object),
            SioKind::Disconnect => data.is_none(),
            SioKind::Event | SioKind::BinaryEvent => self.event_parts().is_some(),
            SioKind::Ack | SioKind::BinaryAck => data.is_some_and(Value::is_array),
            SioKind::ConnectError => data.is_some_and(|d| d.is_object() || d.is_string()),
        };
        let id_ok = self.ack_id.is_none()
            || matches!(
                self.kind,
                SioKind::Event | SioKind::BinaryEvent | SioKind::Ack | SioKind::BinaryAck
            );
        let acked =
            !matches!(self.kind, SioKind::Ack | SioKind::BinaryAck) || self.ack_id.is_some();
        if !ok {
            return Err(malformed(format!("{:?} cannot carry {data:?}", self.kind)));
        }
        if !id_ok || !acked {
            return Err(malformed(format!(
                "{:?} with ack id {:?}",
                self.kind, self.ack_id
            )));
        }
        Ok(())
    }
}

/// A run of ASCII digits as a number (`None` if empty, not digits, or over `u64`).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seeds_wire_sequence_decodes() {
        let open = r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":60000,"maxPayload":1000000}"#;
        assert!(matches!(EioPacket::from_text(open), Ok(EioPacket::Open(_))));
        assert_eq!(
            EioPacket::from_text("2probe"),
            Ok(EioPacket::Ping(Some("probe".into())))
        );
        assert_eq!(EioPacket::from_text("3"), Ok(EioPacket::Pong(None)));
        let Ok(EioPacket::Message(EioData::Text(text))) =
            EioPacket::from_text(r#"42["settings",{"brightness":75}]"#)
        else {
            panic!("a message")
        };
        let event = SioPacket::decode(&text).expect("an event");
        assert_eq!(
            event.event_parts(),
            Some(("settings", &[json!({"brightness": 75})][..]))
        );
        let connect = SioPacket::decode(r#"0{"sid":"s1"}"#).expect("connect ack");
        assert_eq!(
            (connect.kind, connect.data),
            (SioKind::Connect, Some(json!({"sid": "s1"})))
        );
        let refused = SioPacket::decode(r#"4/nope,"Unable to connect""#).expect("connect error");
        assert_eq!(refused.namespace, "/nope");
        let payload = decode_payload("2\u{1e}4hello\u{1e}bAQI=").expect("payload");
        assert_eq!(payload[2], EioPacket::Message(EioData::Binary(vec![1, 2])));
        assert_eq!(encode_payload(&payload), "2\u{1e}4hello\u{1e}bAQI=");
    }

    #[test]
    fn malformed_packets_are_refused_with_a_reason() {
        for bad in ["", "7", "x", "1data", "5x"] {
            assert!(EioPacket::from_text(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "9",
            "2",
            "2[]",
            "2[1]",
            "2{",
            "1[]",
            "3[]",
            "5[\"a\"]",
            "5x-[\"a\"]",
            "0[]",
            "/,2",
            "399999999999999999999[]",
        ] {
            assert!(SioPacket::decode(bad).is_err(), "{bad:?}");
        }
        assert!(EioPacket::from_polling("b!!!").is_err());
    }

    #[test]
    fn namespaces_ack_ids_and_attachments_round_trip() {
        let packet = SioPacket {
            kind: SioKind::BinaryAck,
            namespace: "/admin".into(),
            attachments: 2,
            ack_id: Some(17),
            data: Some(json!([{"_placeholder": true, "num": 0}])),
        };
        let text = packet.encode();
        assert_eq!(text, r#"62-/admin,17[{"_placeholder":true,"num":0}]"#);
        assert_eq!(SioPacket::decode(&text), Ok(packet));
    }
}
