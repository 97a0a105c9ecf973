//! The RetroBoard profile (`PROFILES.md` §4): Socket.IO v5 events over Engine.IO v4 for state,
//! REST for commands.
//!
//! A Socket.IO event's *payload* is its first argument (`null` when it has none); the schemas
//! and this module describe payloads, and [`crate::socketio`] unwraps the packets around them.
//! Four events carry state from the server (`apps_list`, `current_app`, `settings`,
//! `carousel_config`), one asks for it (`request_state`). The REST bodies are kinds without a
//! direction. Payload objects and success responses may carry members beyond the ones named
//! (another server may add some); request bodies may not, so a misspelt member is a 400, not a
//! silent no-op.

use crate::codec::{check_items, check_len, check_range_u64, decode_struct, Validate};
use crate::error::{ErrorCode, ParseError, WireErrorCode};
use crate::profile::{Direction, Documents, KindInfo, Profile, StreamSpec, Unclassified};
use crate::profile::{Transport, VolatileField};
use crate::rule::{Path, RuleKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// The Socket.IO path (`/socket.io/`) every client and server of the profile uses.
pub const SOCKET_IO_PATH: &str = "/socket.io/";
/// The only namespace.
pub const NAMESPACE: &str = "/";
/// Engine.IO `pingInterval` and `pingTimeout` (the seed's "Server Configuration").
pub const PING_INTERVAL: Duration = Duration::from_secs(25);
pub const PING_TIMEOUT: Duration = Duration::from_secs(60);
/// Engine.IO `maxPayload` (python-engineio's `max_http_buffer_size`).
pub const MAX_PAYLOAD: u64 = 1_000_000;
/// Brightness is a percentage (decision; the seed shows 75 and 100).
pub const MAX_BRIGHTNESS: u64 = 100;
/// App names are 1 to 64 characters.
pub const MAX_APP_CHARS: usize = 64;
/// The four state events, in the order a server sends them.
pub const STATE_EVENTS: [&str; 4] = ["apps_list", "current_app", "settings", "carousel_config"];
/// The event a client emits to get the state again (after every connect).
pub const REQUEST_STATE: &str = "request_state";

fn check_app(app: &str, at: &Path) -> Result<(), ParseError> {
    check_len(app, 1, MAX_APP_CHARS, at)
}

fn check_brightness(brightness: u64, at: &Path) -> Result<(), ParseError> {
    check_range_u64(brightness, 0, MAX_BRIGHTNESS, at)
}

/// `success` must be the constant the response kind carries.
fn check_success(success: bool, expected: bool, at: &Path) -> Result<(), ParseError> {
    if success == expected {
        return Ok(());
    }
    Err(ParseError::invalid(
        at.key("success").rule(RuleKind::Enum),
        format!("success must be {expected}"),
    ))
}

/// `apps_list` (S→C): the fixed app set and the current app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppsList {
    pub apps: Vec<String>,
    pub current: String,
}

impl Validate for AppsList {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        for (i, app) in self.apps.iter().enumerate() {
            check_app(app, &at.key("apps").index(i))?;
        }
        check_app(&self.current, &at.key("current"))
    }
}

/// `current_app` (S→C), also the body of `GET /api/current`: the app and its open config
/// (`null` allowed: the seed's client checks `if (data.config)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentApp {
    pub app: String,
    /// An object or `null`; required.
    pub config: Value,
}

fn check_object_or_null(value: &Value, at: &Path) -> Result<(), ParseError> {
    if value.is_object() || value.is_null() {
        return Ok(());
    }
    Err(ParseError::invalid(
        at.rule(RuleKind::Type),
        "expected an object or null",
    ))
}

impl Validate for CurrentApp {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_app(&self.app, &at.key("app"))?;
        check_object_or_null(&self.config, &at.key("config"))
    }
}

/// `settings` (S→C) and the body of `POST /api/settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub brightness: u64,
}

impl Validate for Settings {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_brightness(self.brightness, &at.key("brightness"))
    }
}

/// One app of the carousel and how long it shows, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarouselEntry {
    pub app: String,
    pub duration: u64,
}

impl Validate for CarouselEntry {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_app(&self.app, &at.key("app"))?;
        check_range_u64(self.duration, 1, u64::from(u32::MAX), &at.key("duration"))
    }
}

fn check_entries(entries: &[CarouselEntry], at: &Path) -> Result<(), ParseError> {
    entries
        .iter()
        .enumerate()
        .try_for_each(|(i, entry)| entry.validate(&at.index(i)))
}

/// `carousel_config` (S→C).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarouselConfig {
    pub enabled: bool,
    pub apps: Vec<CarouselEntry>,
    pub current_index: u64,
}

impl Validate for CarouselConfig {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_entries(&self.apps, &at.key("apps"))
    }
}

/// `POST /api/switch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    pub app: String,
}

impl Validate for SwitchRequest {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_app(&self.app, &at.key("app"))
    }
}

/// `POST /api/config`: a shallow merge into `app`'s config (the current app by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRequest {
    #[serde(
        default,
        deserialize_with = "crate::codec::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub app: Option<String>,
    pub config: Map<String, Value>,
}

impl Validate for ConfigRequest {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        match &self.app {
            Some(app) => check_app(app, &at.key("app")),
            None => Ok(()),
        }
    }
}

/// `POST /api/carousel`: at least one of the two members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarouselRequest {
    #[serde(
        default,
        deserialize_with = "crate::codec::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
    #[serde(
        default,
        deserialize_with = "crate::codec::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub apps: Option<Vec<CarouselEntry>>,
}

impl Validate for CarouselRequest {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        if self.enabled.is_none() && self.apps.is_none() {
            return Err(ParseError::invalid(
                at.rule(RuleKind::Length),
                "give `enabled`, `apps` or both",
            ));
        }
        match &self.apps {
            Some(apps) => {
                check_items(apps.len(), 1, usize::MAX, &at.key("apps"))?;
                check_entries(apps, &at.key("apps"))
            }
            None => Ok(()),
        }
    }
}

/// `POST /api/settings`: the same shape as the event, but nothing else allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    pub brightness: u64,
}

impl Validate for SettingsRequest {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_brightness(self.brightness, &at.key("brightness"))
    }
}

/// A success response: `{"success": true, …}` with the kind's members (serialized flat; it
/// is decoded by [`decode_success`], because serde's `flatten` loses the path of an error).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Success<T> {
    pub success: bool,
    #[serde(flatten)]
    pub body: T,
}

/// Decodes `{"success": true, …}`: `success` first, then the rest as `T`.
pub fn decode_success<T: DeserializeOwned + Validate>(
    value: Value,
) -> Result<Success<T>, ParseError> {
    let Value::Object(mut object) = value else {
        return Err(ParseError::invalid(
            Path::root().rule(RuleKind::Type),
            "expected an object",
        ));
    };
    let at = Path::root();
    let success = match object.remove("success") {
        None => {
            return Err(ParseError::invalid(
                at.key("success").rule(RuleKind::Required),
                "missing field `success`",
            ))
        }
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(ParseError::invalid(
                at.key("success").rule(RuleKind::Enum),
                "success must be true",
            ))
        }
    };
    check_success(success, true, &at)?;
    let body = decode_struct(Value::Object(object))?;
    Ok(Success { success, body })
}

impl<T> Success<T> {
    pub fn new(body: T) -> Self {
        Success {
            success: true,
            body,
        }
    }
}

/// The body of `/api/switch`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switched {
    pub app: String,
}

impl Validate for Switched {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_app(&self.app, &at.key("app"))
    }
}

/// The body of `/api/config`'s answer: the app and its whole config after the merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configured {
    pub app: String,
    pub config: Map<String, Value>,
}

impl Validate for Configured {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_app(&self.app, &at.key("app"))
    }
}

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

impl Validate for Health {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        if self.status == "ok" {
            return Ok(());
        }
        Err(ParseError::invalid(
            at.key("status").rule(RuleKind::Enum),
            "status must be \"ok\"",
        ))
    }
}

/// Every error answer: `{"success": false, "error": "<message>", "code": "<CODE>"}`. The
/// `code` is ours (one of [`ERROR_CODES`]); servers that follow the seed may leave it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub success: bool,
    pub error: String,
    #[serde(
        default,
        deserialize_with = "crate::codec::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
}

impl ErrorResponse {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorResponse {
            success: false,
            error: message.into(),
            code: Some(code.as_str().to_owned()),
        }
    }
}

impl Validate for ErrorResponse {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_success(self.success, false, at)?;
        check_len(&self.error, 1, usize::MAX, &at.key("error"))?;
        match &self.code {
            Some(code) if !WireErrorCode::is_well_formed(code) => Err(ParseError::invalid(
                at.key("code").rule(RuleKind::Format),
                "a code is UPPER_SNAKE_CASE",
            )),
            _ => Ok(()),
        }
    }
}

/// `request_state` has no payload: the schema says `null` (a server ignores whatever a
/// client adds, so a payload is a client's deviation, not a reason to refuse the event).
fn check_no_payload(value: &Value) -> Result<(), ParseError> {
    if value.is_null() {
        return Ok(());
    }
    Err(ParseError::invalid(
        Path::root().rule(RuleKind::Type),
        "request_state carries no payload",
    ))
}

/// The codes our server's errors carry.
pub const ERROR_CODES: [&str; 6] = [
    "INVALID_JSON",
    "REQUEST_TIMEOUT",
    "VALIDATION_ERROR",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "PAYLOAD_TOO_LARGE",
];

/// Decodes `value` as the payload or body of `kind`; `Ok` exactly when it is acceptable.
pub fn decode(kind: &str, value: Value) -> Result<(), ParseError> {
    match kind {
        "apps_list" => decode_struct::<AppsList>(value).map(drop),
        "current_app" | "current_response" => decode_struct::<CurrentApp>(value).map(drop),
        "settings" => decode_struct::<Settings>(value).map(drop),
        "carousel_config" => decode_struct::<CarouselConfig>(value).map(drop),
        "request_state" => check_no_payload(&value),
        "switch_request" => decode_struct::<SwitchRequest>(value).map(drop),
        "switch_response" => decode_success::<Switched>(value).map(drop),
        "config_request" => decode_struct::<ConfigRequest>(value).map(drop),
        "config_response" => decode_success::<Configured>(value).map(drop),
        "carousel_request" => decode_struct::<CarouselRequest>(value).map(drop),
        "carousel_response" => decode_success::<CarouselConfig>(value).map(drop),
        "settings_request" => decode_struct::<SettingsRequest>(value).map(drop),
        "settings_response" => decode_success::<Settings>(value).map(drop),
        "health" => decode_struct::<Health>(value).map(drop),
        "error" => decode_struct::<ErrorResponse>(value).map(drop),
        other => Err(ParseError::new(
            ErrorCode::UnknownMessageType,
            format!("RetroBoard has no message kind {other:?}"),
        )),
    }
}

#[derive(Debug)]
pub struct RetroBoard;

/// The RetroBoard profile.
pub static RETROBOARD: RetroBoard = RetroBoard;

static DOCUMENTS: Documents = Documents {
    name: "retroboard",
    schemas: crate::embedded_schemas!("retroboard":
        "common", "apps_list", "current_app", "settings", "carousel_config", "request_state",
        "switch_request", "switch_response", "config_request", "config_response",
        "carousel_request", "carousel_response", "settings_request", "settings_response",
        "current_response", "health", "error",
    ),
    openapi: Some(crate::embedded_document!("retroboard", "openapi.json")),
    asyncapi: Some(crate::embedded_document!("retroboard", "asyncapi.json")),
};

const fn event(name: &'static str, direction: Direction) -> KindInfo {
    KindInfo {
        name,
        direction: Some(direction),
    }
}

const fn body(name: &'static str) -> KindInfo {
    KindInfo {
        name,
        direction: None,
    }
}

static KINDS: [KindInfo; 16] = [
    event("apps_list", Direction::ServerToClient),
    event("current_app", Direction::ServerToClient),
    event("settings", Direction::ServerToClient),
    event("carousel_config", Direction::ServerToClient),
    event("request_state", Direction::ClientToServer),
    body("switch_request"),
    body("switch_response"),
    body("config_request"),
    body("config_response"),
    body("carousel_request"),
    body("carousel_response"),
    body("settings_request"),
    body("settings_response"),
    body("current_response"),
    body("health"),
    body("error"),
];

/// The kind of a Socket.IO event by its name (the event name *is* the kind).
pub fn event_kind(direction: Direction, name: &str) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|k| k.direction == Some(direction) && k.name == name)
        .map(|k| k.name)
}

impl Profile for RetroBoard {
    fn name(&self) -> &'static str {
        "retroboard"
    }

    fn title(&self) -> &'static str {
        "RetroBoard: Socket.IO v5 state events over Engine.IO v4, REST commands"
    }

    fn documents(&self) -> &'static Documents {
        &DOCUMENTS
    }

    fn kinds(&self) -> &'static [KindInfo] {
        &KINDS
    }

    /// On the wire the event name gives the kind ([`event_kind`]); a bare payload is told by
    /// the members that only its kind has. From the client, every payload is `request_state`'s.
    fn classify(
        &self,
        direction: Direction,
        message: &Value,
    ) -> Result<&'static str, Unclassified> {
        if direction == Direction::ClientToServer {
            return Ok(REQUEST_STATE);
        }
        let has = |member: &str| message.get(member).is_some();
        if !message.is_object() {
            Err(Unclassified("a state payload must be a JSON object".into()))
        } else if has("apps") && has("current") {
            Ok("apps_list")
        } else if has("current_index") || has("enabled") {
            Ok("carousel_config")
        } else if has("brightness") {
            Ok("settings")
        } else if has("app") {
            Ok("current_app")
        } else {
            Err(Unclassified(
                "no state event has this shape (apps_list, current_app, settings, carousel_config)"
                    .into(),
            ))
        }
    }

    fn decode(&self, kind: &str, message: Value) -> Result<(), ParseError> {
        decode(kind, message)
    }

    fn default_secret(&self) -> Option<&'static str> {
        None
    }

    fn error_codes(&self) -> &'static [&'static str] {
        &ERROR_CODES
    }

    fn volatile_fields(&self) -> &'static [VolatileField] {
        &[]
    }

    fn transport(&self) -> Transport {
        Transport::SocketIo
    }

    /// None: state changes on commands and on carousel rotation, not on a clock.
    fn streams(&self) -> &'static [StreamSpec] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(kind: &str, value: Value) -> String {
        decode(kind, value)
            .expect_err("invalid")
            .rule
            .map(|r| r.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn rules_are_named() {
        assert_eq!(
            rule("apps_list", json!({"current": "clock"})),
            "required:apps"
        );
        assert_eq!(
            rule("settings", json!({"brightness": "75"})),
            "type:brightness"
        );
        assert_eq!(
            rule("settings", json!({"brightness": 101})),
            "range:brightness"
        );
        assert_eq!(
            rule("settings", json!({"brightness": -1})),
            "range:brightness"
        );
        assert_eq!(
            rule(
                "carousel_config",
                json!({"enabled": true, "apps": [{"app": "clock", "duration": 1}, {"app": "stars"}], "current_index": 0})
            ),
            "required:apps/1/duration"
        );
        assert_eq!(
            rule("current_app", json!({"app": "clock", "config": 3})),
            "type:config"
        );
        assert_eq!(rule("carousel_request", json!({})), "length:");
        assert_eq!(
            rule("switch_request", json!({"app": "clock", "x": 1})),
            "additional:x"
        );
        assert_eq!(
            rule(
                "settings_response",
                json!({"success": false, "brightness": 1})
            ),
            "enum:success"
        );
    }

    #[test]
    fn state_payloads_are_classified_by_shape() {
        let s2c = Direction::ServerToClient;
        let classify = |v: Value| RETROBOARD.classify(s2c, &v);
        assert_eq!(
            classify(json!({"apps": [], "current": "a"})),
            Ok("apps_list")
        );
        assert_eq!(
            classify(json!({"app": "a", "config": {}})),
            Ok("current_app")
        );
        assert_eq!(classify(json!({"brightness": 1})), Ok("settings"));
        assert_eq!(
            classify(json!({"enabled": false, "apps": [], "current_index": 0})),
            Ok("carousel_config")
        );
        assert!(classify(json!([1])).is_err());
        assert!(classify(json!({"x": 1})).is_err());
        assert_eq!(event_kind(s2c, "settings"), Some("settings"));
        assert_eq!(event_kind(s2c, "request_state"), None);
        assert_eq!(
            event_kind(Direction::ClientToServer, "request_state"),
            Some("request_state")
        );
    }

    #[test]
    fn responses_serialize_flat() {
        let body = Success::new(Switched {
            app: "clock".into(),
        });
        assert_eq!(
            serde_json::to_value(&body).expect("serializes"),
            json!({"success": true, "app": "clock"})
        );
        let error = ErrorResponse::new(ErrorCode::NotFound, "no app \"x\"");
        assert_eq!(
            serde_json::to_value(&error).expect("serializes"),
            json!({"success": false, "error": "no app \"x\"", "code": "NOT_FOUND"})
        );
    }
}
