//! Client → server messages of the monitor profile: `subscribe`, `unsubscribe`,
//! `request_data` and `ping`, in the envelope `{type, id?, timestamp?, data, meta?}`.
//!
//! Each decoder names the rule a bad message breaks, with the same names as the schemas
//! (`schemas/monitor/<kind>.json`) and the invalid fixtures (`fixtures/monitor/invalid/`).

use super::subscriptions::{EventName, Filters};
use crate::codec::{
    check_items, check_len, check_timestamp, decode_struct, parse_json, present, type_field,
    Validate,
};
use crate::error::{ErrorCode, ParseError};
use crate::rule::{Path, RuleKind};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The client message kinds, as their `type`.
pub const CLIENT_KINDS: [&str; 4] = ["subscribe", "unsubscribe", "request_data", "ping"];

/// Events per subscribe or unsubscribe message.
pub const MAX_EVENTS: usize = 64;
/// Allowed values per filter member.
pub const MAX_FILTER_VALUES: usize = 64;
/// Longest minutes of history `request_data` may ask for.
pub const MAX_HISTORY_MINUTES: u32 = 60;

/// Checks the envelope members every client message may carry besides `type` and `data`:
/// `id` (1–64 characters, echoed as `meta.request_id` in an answer), `timestamp`, `meta`.
fn check_envelope(
    id: &Option<String>,
    timestamp: &Option<Timestamp>,
    meta: &Option<Map<String, Value>>,
    at: &Path,
) -> Result<(), ParseError> {
    if let Some(id) = id {
        check_len(id, 1, 64, &at.key("id"))?;
    }
    if let Some(ts) = timestamp {
        check_timestamp(ts, &at.key("timestamp"))?;
    }
    match meta {
        Some(meta) => check_meta(meta, &at.key("meta")),
        None => Ok(()),
    }
}

/// The `meta` members the profile names (`reply_to`, `request_id`): strings of 1–64
/// characters when present; any other member is free.
pub(crate) fn check_meta(meta: &Map<String, Value>, at: &Path) -> Result<(), ParseError> {
    for name in ["reply_to", "request_id"] {
        match meta.get(name) {
            None => {}
            Some(Value::String(s)) => check_len(s, 1, 64, &at.key(name))?,
            Some(_) => {
                return Err(ParseError::invalid(
                    at.key(name).rule(RuleKind::Type),
                    format!("meta.{name} must be a string"),
                ))
            }
        }
    }
    Ok(())
}

/// Declares a client message struct: the envelope members, then `data`.
macro_rules! client_message {
    ($(#[$doc:meta])* $name:ident, $data:ty, $($data_attr:tt)*) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
            pub timestamp: Option<Timestamp>,
            $($data_attr)*
            pub data: $data,
            #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
            pub meta: Option<Map<String, Value>>,
        }
    };
}

/// Checks a list of event names: 1–64 of them, each `family` or `family.sub` in lower case.
fn check_events(events: &[String], at: &Path) -> Result<(), ParseError> {
    check_items(events.len(), 1, MAX_EVENTS, at)?;
    for (i, event) in events.iter().enumerate() {
        check_len(event, 1, 128, &at.index(i))?;
        if !is_event_name(event) {
            return Err(ParseError::invalid(
                at.index(i).rule(RuleKind::Format),
                format!("event {event:?} is not `family` or `family.sub` (lower case, digits, _)"),
            ));
        }
    }
    Ok(())
}

/// `^[a-z]+(\.[a-z0-9_]+)?$`
fn is_event_name(name: &str) -> bool {
    let (family, sub) = match name.split_once('.') {
        Some((family, sub)) => (family, Some(sub)),
        None => (name, None),
    };
    !family.is_empty()
        && family.bytes().all(|b| b.is_ascii_lowercase())
        && sub.is_none_or(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// `subscribe`'s data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeData {
    pub events: Vec<String>,
    /// Member of `data` → allowed values (a scalar or a list of scalars); `{}` filters nothing.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub filters: Option<Map<String, Value>>,
}

impl Validate for SubscribeData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_events(&self.events, &at.key("events"))?;
        let Some(filters) = &self.filters else {
            return Ok(());
        };
        let at = at.key("filters");
        let scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
        for (member, allowed) in filters {
            match allowed {
                Value::Array(values) => {
                    check_items(values.len(), 0, MAX_FILTER_VALUES, &at.key(member))?;
                    if let Some(i) = values.iter().position(|v| !scalar(v)) {
                        return Err(ParseError::invalid(
                            at.key(member).index(i).rule(RuleKind::Type),
                            "a filter value must be a string, number, boolean or null",
                        ));
                    }
                }
                Value::Object(_) => {
                    return Err(ParseError::invalid(
                        at.key(member).rule(RuleKind::Type),
                        "a filter is a value or a list of values",
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

client_message!(
    /// `subscribe` (C→S). No acknowledgement: a `ping` after it is the barrier.
    Subscribe, SubscribeData,
);

/// `unsubscribe`'s data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeData {
    pub events: Vec<String>,
}

client_message!(
    /// `unsubscribe` (C→S).
    Unsubscribe, UnsubscribeData,
);

/// The five system metrics, the only names `request_data` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    CpuPercent,
    MemoryPercent,
    DiskUsagePercent,
    NetworkIo,
    ProcessCount,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::CpuPercent,
        Metric::MemoryPercent,
        Metric::DiskUsagePercent,
        Metric::NetworkIo,
        Metric::ProcessCount,
    ];
}

/// `request_data`'s data: which metrics (absent: all five) and minutes of history (absent: 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDataData {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub metrics: Option<Vec<Metric>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub history_minutes: Option<u32>,
}

client_message!(
    /// `request_data` (C→S), answered with one `performance` message.
    RequestData, RequestDataData,
);

client_message!(
    /// `ping` (C→S): answered by a `pong`; `data`, if any, is ignored.
    Ping, Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
);

impl Validate for Subscribe {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_envelope(&self.id, &self.timestamp, &self.meta, at)?;
        self.data.validate(&at.key("data"))
    }
}

impl Validate for Unsubscribe {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_envelope(&self.id, &self.timestamp, &self.meta, at)?;
        check_events(&self.data.events, &at.key("data").key("events"))
    }
}

impl Validate for RequestData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_envelope(&self.id, &self.timestamp, &self.meta, at)?;
        let data = at.key("data");
        if let Some(metrics) = &self.data.metrics {
            check_items(metrics.len(), 1, Metric::ALL.len(), &data.key("metrics"))?;
        }
        if let Some(minutes) = self.data.history_minutes {
            crate::codec::check_range_u64(
                minutes.into(),
                0,
                MAX_HISTORY_MINUTES.into(),
                &data.key("history_minutes"),
            )?;
        }
        Ok(())
    }
}

impl Validate for Ping {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_envelope(&self.id, &self.timestamp, &self.meta, at)
    }
}

/// Any client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Subscribe(Subscribe),
    Unsubscribe(Unsubscribe),
    RequestData(RequestData),
    Ping(Ping),
}

impl ClientMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Subscribe(_) => "subscribe",
            ClientMessage::Unsubscribe(_) => "unsubscribe",
            ClientMessage::RequestData(_) => "request_data",
            ClientMessage::Ping(_) => "ping",
        }
    }

    /// The client's `id`, which an answer echoes as `meta.request_id`.
    pub fn id(&self) -> Option<&str> {
        match self {
            ClientMessage::Subscribe(m) => m.id.as_deref(),
            ClientMessage::Unsubscribe(m) => m.id.as_deref(),
            ClientMessage::RequestData(m) => m.id.as_deref(),
            ClientMessage::Ping(m) => m.id.as_deref(),
        }
    }

    /// The message as it goes on the wire.
    pub fn to_value(&self) -> Value {
        let mut value = match self {
            ClientMessage::Subscribe(m) => serde_json::to_value(m),
            ClientMessage::Unsubscribe(m) => serde_json::to_value(m),
            ClientMessage::RequestData(m) => serde_json::to_value(m),
            ClientMessage::Ping(m) => serde_json::to_value(m),
        }
        .expect("client messages serialize to JSON without fail");
        if let Some(object) = value.as_object_mut() {
            object.insert("type".into(), Value::from(self.kind()));
        }
        value
    }
}

impl Subscribe {
    /// The events as names with a known family; `Err` names the first whose family is unknown.
    pub fn event_names(&self) -> Result<Vec<EventName>, String> {
        event_names(&self.data.events)
    }

    pub fn filters(&self) -> Filters {
        self.data
            .filters
            .as_ref()
            .map(Filters::from_object)
            .unwrap_or_default()
    }
}

impl Unsubscribe {
    pub fn event_names(&self) -> Result<Vec<EventName>, String> {
        event_names(&self.data.events)
    }
}

fn event_names(events: &[String]) -> Result<Vec<EventName>, String> {
    events
        .iter()
        .map(|e| EventName::parse(e).ok_or_else(|| e.clone()))
        .collect()
}

/// Decodes `value` as the client message `kind` (one of [`CLIENT_KINDS`]).
pub fn decode_client(kind: &str, mut value: Value) -> Result<ClientMessage, ParseError> {
    let found = type_field(&value)?;
    if found != kind {
        return Err(ParseError::invalid(
            Path::root().key("type").rule(RuleKind::Enum),
            format!(
                "expected type {kind:?}, found {:?}",
                found.chars().take(64).collect::<String>()
            ),
        ));
    }
    if let Some(object) = value.as_object_mut() {
        object.remove("type");
    }
    Ok(match kind {
        "subscribe" => ClientMessage::Subscribe(decode_struct(value)?),
        "unsubscribe" => ClientMessage::Unsubscribe(decode_struct(value)?),
        "request_data" => ClientMessage::RequestData(decode_struct(value)?),
        "ping" => ClientMessage::Ping(decode_struct(value)?),
        other => {
            return Err(ParseError::new(
                ErrorCode::UnknownMessageType,
                format!("the monitor profile has no client message {other:?}"),
            ))
        }
    })
}

/// Parses one WebSocket message from a client: JSON (duplicate members refused), a known
/// client `type` (else `UNKNOWN_MESSAGE_TYPE`), then its members.
pub fn parse_client_message(bytes: &[u8], max_bytes: usize) -> Result<ClientMessage, ParseError> {
    let value = parse_json(bytes, max_bytes)?;
    let name = type_field(&value)?;
    let Some(kind) = CLIENT_KINDS.into_iter().find(|k| *k == name) else {
        return Err(ParseError::with_rule(
            ErrorCode::UnknownMessageType,
            Path::root().key("type").rule(RuleKind::Enum),
            format!(
                "unknown message type {:?}",
                name.chars().take(64).collect::<String>()
            ),
        ));
    };
    decode_client(kind, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_and_bad_json_get_their_codes() {
        let unknown = parse_client_message(br#"{"type":"performance"}"#, 1024).expect_err("S->C");
        assert_eq!(unknown.code, ErrorCode::UnknownMessageType);
        let bad = parse_client_message(b"{", 1024).expect_err("JSON");
        assert_eq!(bad.code, ErrorCode::InvalidJson);
        let ping = parse_client_message(br#"{"type":"ping","id":"p1"}"#, 1024).expect("ping");
        assert_eq!(ping.id(), Some("p1"));
    }

    #[test]
    fn event_names_are_checked_for_form_then_family() {
        let message = parse_client_message(
            br#"{"type":"subscribe","data":{"events":["alert.cpu","metrics.x"]}}"#,
            1024,
        )
        .expect("well-formed");
        let ClientMessage::Subscribe(subscribe) = message else {
            panic!("a subscribe")
        };
        assert_eq!(subscribe.event_names(), Err("metrics.x".to_owned()));
        assert!(is_event_name("alert") && is_event_name("performance.api_response_time"));
        assert!(!is_event_name("Alert") && !is_event_name("alert.") && !is_event_name("a.b.c"));
    }
}
