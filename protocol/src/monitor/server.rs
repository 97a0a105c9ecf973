//! Server → client messages of the monitor profile, in the envelope
//! `{type, id, timestamp, data, meta?}`: `connection`, `performance`, `alert`, `status`,
//! `config`, `system`, `pong` and `error`.
//!
//! Three kinds have two or three shapes, chosen as the schemas choose them: `connection` by
//! `data.status == "error"`, `alert` by `data.status == "resolved"`, `performance` by
//! `data.metric_name` (a custom metric), else `meta.reply_to == "request_data"` (a reply),
//! else the five system metrics. Decoding first reads the envelope, then `data` in its shape,
//! so every error names the rule and path the schema would.

use crate::codec::{
    check_items, check_len, check_range_f64, check_range_u64, check_timestamp, decode_struct,
    decode_struct_at, present, type_field, Validate,
};
use crate::error::{ErrorCode, ParseError, WireErrorCode};
use crate::rule::{Path, RuleKind};
use crate::timestamp::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The server message kinds, as their `type`.
pub const SERVER_KINDS: [&str; 8] = [
    "connection",
    "performance",
    "alert",
    "status",
    "config",
    "system",
    "pong",
    "error",
];

/// Most points per metric in a `request_data` reply's history.
pub const MAX_HISTORY_POINTS: usize = 600;

/// The envelope of a server message, with `data` of type `D`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<D> {
    /// 1–128 characters, unique per connection.
    pub id: String,
    pub timestamp: Timestamp,
    pub data: D,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub meta: Option<Map<String, Value>>,
}

/// `pong` has no required `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PongEnvelope {
    pub id: String,
    pub timestamp: Timestamp,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub meta: Option<Map<String, Value>>,
}

fn check_envelope(
    id: &str,
    timestamp: &Timestamp,
    meta: &Option<Map<String, Value>>,
    at: &Path,
) -> Result<(), ParseError> {
    check_len(id, 1, 128, &at.key("id"))?;
    check_timestamp(timestamp, &at.key("timestamp"))?;
    match meta {
        Some(meta) => super::client::check_meta(meta, &at.key("meta")),
        None => Ok(()),
    }
}

impl Validate for Envelope<Value> {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_envelope(&self.id, &self.timestamp, &self.meta, at)
    }
}

impl Validate for PongEnvelope {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_envelope(&self.id, &self.timestamp, &self.meta, at)
    }
}

// ---- shared checks -------------------------------------------------------------------------

fn pattern_error(at: &Path, what: &str, value: &str) -> ParseError {
    ParseError::invalid(
        at.rule(RuleKind::Format),
        format!("{value:?} is not {what}"),
    )
}

/// `^[a-z][a-z0-9_]*$`, 1–64 characters: names events can address (alert types, components…).
fn check_subkey(s: &str, at: &Path) -> Result<(), ParseError> {
    check_len(s, 1, 64, at)?;
    let ok = s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(pattern_error(at, "lower_snake_case", s))
    }
}

fn check_label(s: &str, at: &Path) -> Result<(), ParseError> {
    check_len(s, 1, 128, at)
}

fn check_text(s: &str, at: &Path) -> Result<(), ParseError> {
    check_len(s, 1, 1024, at)
}

fn check_percent(v: f64, at: &Path) -> Result<(), ParseError> {
    check_range_f64(v, 0.0, 100.0, at)
}

/// Integers up to 2^53 − 1 (exact in every JSON implementation).
const MAX_COUNT: u64 = (1 << 53) - 1;

fn check_count(v: u64, at: &Path) -> Result<(), ParseError> {
    check_range_u64(v, 0, MAX_COUNT, at)
}

fn check_error_code(code: &str, at: &Path) -> Result<(), ParseError> {
    check_len(code, 1, WireErrorCode::MAX_LEN, at)?;
    if WireErrorCode::is_well_formed(code) {
        Ok(())
    } else {
        Err(pattern_error(at, "UPPER_SNAKE_CASE", code))
    }
}

/// A one-value enum, for the `status` members that fix a shape.
macro_rules! constant {
    ($name:ident, $value:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            #[serde(rename = $value)]
            Value,
        }
    };
}

constant!(Connected, "connected");
constant!(ErrorStatus, "error");
constant!(Active, "active");
constant!(Resolved, "resolved");

// ---- connection ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectedData {
    pub status: Connected,
    /// `X-Client-ID` when the client sent a valid one, else `client_<n>`.
    pub client_id: String,
    pub server_time: Timestamp,
}

impl Validate for ConnectedData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        let id = &self.client_id;
        check_len(id, 1, 64, &at.key("client_id"))?;
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(pattern_error(&at.key("client_id"), "[A-Za-z0-9._-]+", id));
        }
        check_timestamp(&self.server_time, &at.key("server_time"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionErrorData {
    pub status: ErrorStatus,
    pub error_code: String,
    pub message: String,
}

impl Validate for ConnectionErrorData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_error_code(&self.error_code, &at.key("error_code"))?;
        check_text(&self.message, &at.key("message"))
    }
}

/// `connection`: the first message on every endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConnectionData {
    Connected(ConnectedData),
    Error(ConnectionErrorData),
}

// ---- performance ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkIo {
    pub bytes_sent: u64,
    pub bytes_recv: u64,
}

impl Validate for NetworkIo {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_count(self.bytes_sent, &at.key("bytes_sent"))?;
        check_count(self.bytes_recv, &at.key("bytes_recv"))
    }
}

/// The five system metrics, every `performance` interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemMetrics {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub disk_usage_percent: f64,
    pub network_io: NetworkIo,
    pub process_count: u64,
}

impl Validate for SystemMetrics {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_percent(self.cpu_percent, &at.key("cpu_percent"))?;
        check_percent(self.memory_percent, &at.key("memory_percent"))?;
        check_percent(self.disk_usage_percent, &at.key("disk_usage_percent"))?;
        self.network_io.validate(&at.key("network_io"))?;
        check_count(self.process_count, &at.key("process_count"))
    }
}

/// A custom metric (the reference server's is `api_response_time`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMetric {
    pub metric_name: String,
    pub value: f64,
    pub unit: String,
    pub category: String,
    pub tags: Map<String, Value>,
}

impl Validate for CustomMetric {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_subkey(&self.metric_name, &at.key("metric_name"))?;
        check_len(&self.unit, 0, 32, &at.key("unit"))?;
        check_label(&self.category, &at.key("category"))?;
        for (name, value) in &self.tags {
            if !value.is_string() {
                return Err(ParseError::invalid(
                    at.key("tags").key(name).rule(RuleKind::Type),
                    "tag values are strings",
                ));
            }
        }
        Ok(())
    }
}

/// One point of a metric's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point<T> {
    pub timestamp: Timestamp,
    pub value: T,
}

/// History per metric in a `request_data` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_percent: Option<Vec<Point<f64>>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_percent: Option<Vec<Point<f64>>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_usage_percent: Option<Vec<Point<f64>>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub network_io: Option<Vec<Point<NetworkIo>>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub process_count: Option<Vec<Point<u64>>>,
}

fn check_points<T>(
    points: &Option<Vec<Point<T>>>,
    at: &Path,
    check: impl Fn(&T, &Path) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let Some(points) = points else { return Ok(()) };
    check_items(points.len(), 0, MAX_HISTORY_POINTS, at)?;
    for (i, point) in points.iter().enumerate() {
        check_timestamp(&point.timestamp, &at.index(i).key("timestamp"))?;
        check(&point.value, &at.index(i).key("value"))?;
    }
    Ok(())
}

impl Validate for History {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        let percent = |v: &f64, at: &Path| check_percent(*v, at);
        check_points(&self.cpu_percent, &at.key("cpu_percent"), percent)?;
        check_points(&self.memory_percent, &at.key("memory_percent"), percent)?;
        check_points(
            &self.disk_usage_percent,
            &at.key("disk_usage_percent"),
            percent,
        )?;
        check_points(&self.network_io, &at.key("network_io"), |v, at| {
            v.validate(at)
        })?;
        check_points(&self.process_count, &at.key("process_count"), |v, at| {
            check_count(*v, at)
        })
    }
}

/// A `request_data` reply: the requested metrics' current values, and their history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsReply {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu_percent: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_percent: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_usage_percent: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub network_io: Option<NetworkIo>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub process_count: Option<u64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub history: Option<History>,
}

impl Validate for MetricsReply {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        for (value, name) in [
            (self.cpu_percent, "cpu_percent"),
            (self.memory_percent, "memory_percent"),
            (self.disk_usage_percent, "disk_usage_percent"),
        ] {
            if let Some(v) = value {
                check_percent(v, &at.key(name))?;
            }
        }
        if let Some(io) = &self.network_io {
            io.validate(&at.key("network_io"))?;
        }
        if let Some(count) = self.process_count {
            check_count(count, &at.key("process_count"))?;
        }
        match &self.history {
            Some(history) => history.validate(&at.key("history")),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerformanceData {
    Custom(CustomMetric),
    Reply(MetricsReply),
    System(SystemMetrics),
}

// ---- alert ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveAlert {
    pub alert_id: String,
    #[serde(rename = "type")]
    pub alert_type: String,
    pub level: AlertLevel,
    pub title: String,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
    pub status: Active,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Map<String, Value>>,
}

impl Validate for ActiveAlert {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_label(&self.alert_id, &at.key("alert_id"))?;
        check_subkey(&self.alert_type, &at.key("type"))?;
        check_text(&self.title, &at.key("title"))?;
        check_text(&self.message, &at.key("message"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedAlert {
    pub alert_id: String,
    #[serde(rename = "type")]
    pub alert_type: String,
    pub level: AlertLevel,
    pub status: Resolved,
    pub resolved_at: Timestamp,
    pub resolution: String,
    pub resolved_by: String,
}

impl Validate for ResolvedAlert {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_label(&self.alert_id, &at.key("alert_id"))?;
        check_subkey(&self.alert_type, &at.key("type"))?;
        check_timestamp(&self.resolved_at, &at.key("resolved_at"))?;
        check_text(&self.resolution, &at.key("resolution"))?;
        check_label(&self.resolved_by, &at.key("resolved_by"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AlertData {
    Active(ActiveAlert),
    Resolved(ResolvedAlert),
}

// ---- status, config, system ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInfo {
    pub host: String,
    pub port: u16,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusData {
    pub component: String,
    pub status: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_check: Option<Timestamp>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_activity: Option<Timestamp>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub details: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_info: Option<ConnectionInfo>,
}

impl Validate for StatusData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_subkey(&self.component, &at.key("component"))?;
        check_len(&self.status, 1, 64, &at.key("status"))?;
        for (ts, name) in [
            (&self.last_check, "last_check"),
            (&self.last_activity, "last_activity"),
        ] {
            if let Some(ts) = ts {
                check_timestamp(ts, &at.key(name))?;
            }
        }
        if let Some(info) = &self.connection_info {
            let at = at.key("connection_info");
            check_len(&info.host, 1, 255, &at.key("host"))?;
            check_range_u64(info.port.into(), 1, 65_535, &at.key("port"))?;
            check_len(&info.version, 1, 64, &at.key("version"))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigData {
    pub action: String,
    pub fields: Vec<String>,
    pub old_values: Map<String, Value>,
    pub new_values: Map<String, Value>,
    pub updated_by: String,
}

impl Validate for ConfigData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_subkey(&self.action, &at.key("action"))?;
        check_items(self.fields.len(), 0, 256, &at.key("fields"))?;
        for (i, field) in self.fields.iter().enumerate() {
            check_label(field, &at.key("fields").index(i))?;
        }
        check_label(&self.updated_by, &at.key("updated_by"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemEvent {
    pub event: String,
    pub service: String,
    pub reason: String,
    /// Seconds.
    pub previous_uptime: f64,
    pub new_pid: u64,
}

impl Validate for SystemEvent {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_subkey(&self.event, &at.key("event"))?;
        check_label(&self.service, &at.key("service"))?;
        check_text(&self.reason, &at.key("reason"))?;
        crate::codec::check_min_f64(self.previous_uptime, 0.0, &at.key("previous_uptime"))?;
        check_range_u64(self.new_pid, 1, u64::from(u32::MAX), &at.key("new_pid"))
    }
}

// ---- error ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorData {
    pub code: String,
    pub message: String,
    /// Milliseconds; required with `RATE_LIMIT_EXCEEDED` and `CONNECTION_FAILED`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<u64>,
}

impl Validate for ErrorData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_error_code(&self.code, &at.key("code"))?;
        check_text(&self.message, &at.key("message"))?;
        let needs_retry = matches!(
            self.code.as_str(),
            "RATE_LIMIT_EXCEEDED" | "CONNECTION_FAILED"
        );
        if needs_retry && self.retry_after.is_none() {
            return Err(ParseError::invalid(
                at.key("retry_after").rule(RuleKind::Required),
                format!("{} carries retry_after (ms)", self.code),
            ));
        }
        Ok(())
    }
}

// ---- messages ------------------------------------------------------------------------------

/// Any server message.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    Connection(Envelope<ConnectionData>),
    Performance(Envelope<PerformanceData>),
    Alert(Envelope<AlertData>),
    Status(Envelope<StatusData>),
    Config(Envelope<ConfigData>),
    System(Envelope<SystemEvent>),
    Pong(PongEnvelope),
    Error(Envelope<ErrorData>),
}

impl ServerMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Connection(_) => "connection",
            ServerMessage::Performance(_) => "performance",
            ServerMessage::Alert(_) => "alert",
            ServerMessage::Status(_) => "status",
            ServerMessage::Config(_) => "config",
            ServerMessage::System(_) => "system",
            ServerMessage::Pong(_) => "pong",
            ServerMessage::Error(_) => "error",
        }
    }

    /// The message as it goes on the wire.
    pub fn to_value(&self) -> Value {
        let mut value = match self {
            ServerMessage::Connection(m) => serde_json::to_value(m),
            ServerMessage::Performance(m) => serde_json::to_value(m),
            ServerMessage::Alert(m) => serde_json::to_value(m),
            ServerMessage::Status(m) => serde_json::to_value(m),
            ServerMessage::Config(m) => serde_json::to_value(m),
            ServerMessage::System(m) => serde_json::to_value(m),
            ServerMessage::Pong(m) => serde_json::to_value(m),
            ServerMessage::Error(m) => serde_json::to_value(m),
        }
        .expect("server messages serialize to JSON without fail");
        if let Some(object) = value.as_object_mut() {
            object.insert("type".into(), Value::from(self.kind()));
        }
        value
    }
}

/// Reads the envelope, then `data` as `D` at the path `data`.
fn enveloped<D: DeserializeOwned + Validate>(
    value: Value,
    data_of: impl FnOnce(&Envelope<Value>) -> Result<D, ParseError>,
) -> Result<Envelope<D>, ParseError> {
    let envelope: Envelope<Value> = decode_struct(value)?;
    let data = data_of(&envelope)?;
    Ok(Envelope {
        id: envelope.id,
        timestamp: envelope.timestamp,
        data,
        meta: envelope.meta,
    })
}

fn data_as<D: DeserializeOwned + Validate>(data: &Value) -> Result<D, ParseError> {
    let at = Path::root().key("data");
    if !data.is_object() {
        // serde would read an array as a tuple of members and call it a length error.
        return Err(ParseError::invalid(
            at.rule(RuleKind::Type),
            "data must be an object",
        ));
    }
    decode_struct_at(data.clone(), &at)
}

impl Validate for ConnectionData {
    fn validate(&self, _: &Path) -> Result<(), ParseError> {
        Ok(())
    }
}
impl Validate for PerformanceData {
    fn validate(&self, _: &Path) -> Result<(), ParseError> {
        Ok(())
    }
}
impl Validate for AlertData {
    fn validate(&self, _: &Path) -> Result<(), ParseError> {
        Ok(())
    }
}

fn status_is(data: &Value, status: &str) -> bool {
    data.get("status").and_then(Value::as_str) == Some(status)
}

/// Decodes `value` as the server message `kind` (one of [`SERVER_KINDS`]).
pub fn decode_server(kind: &str, mut value: Value) -> Result<ServerMessage, ParseError> {
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
        "connection" => ServerMessage::Connection(enveloped(value, |e| {
            Ok(if status_is(&e.data, "error") {
                ConnectionData::Error(data_as(&e.data)?)
            } else {
                ConnectionData::Connected(data_as(&e.data)?)
            })
        })?),
        "performance" => ServerMessage::Performance(enveloped(value, |e| {
            let is_reply = e
                .meta
                .as_ref()
                .and_then(|m| m.get("reply_to"))
                .and_then(Value::as_str)
                == Some("request_data");
            Ok(if e.data.get("metric_name").is_some() {
                PerformanceData::Custom(data_as(&e.data)?)
            } else if is_reply {
                PerformanceData::Reply(data_as(&e.data)?)
            } else {
                PerformanceData::System(data_as(&e.data)?)
            })
        })?),
        "alert" => ServerMessage::Alert(enveloped(value, |e| {
            Ok(if status_is(&e.data, "resolved") {
                AlertData::Resolved(data_as(&e.data)?)
            } else {
                AlertData::Active(data_as(&e.data)?)
            })
        })?),
        "status" => ServerMessage::Status(enveloped(value, |e| data_as(&e.data))?),
        "config" => ServerMessage::Config(enveloped(value, |e| data_as(&e.data))?),
        "system" => ServerMessage::System(enveloped(value, |e| data_as(&e.data))?),
        "pong" => ServerMessage::Pong(decode_struct(value)?),
        "error" => ServerMessage::Error(enveloped(value, |e| data_as(&e.data))?),
        other => {
            return Err(ParseError::new(
                ErrorCode::UnknownMessageType,
                format!("the monitor profile has no server message {other:?}"),
            ))
        }
    })
}
