//! WebSocket messages (`ws://host:30415/`): client → server and server → client.

use super::common::{present, DetectionStatus, ErrorDetails, PeakSignal, Rect};
use crate::codec::{
    check_frame_count, check_gray, check_len, check_min_f64, check_range_u64, check_timestamp,
    Validate,
};
use crate::error::{ErrorCode, ParseError, WireErrorCode};
use crate::rule::{Path, RuleKind};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// Passwords are 1 to 256 characters.
pub(crate) fn check_password(password: &str, at: &Path) -> Result<(), ParseError> {
    check_len(password, 1, 256, at)
}

/// `auth` (C→S): must be the first message of a connection.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub password: String,
}

// The password never appears in debug output, so it can never reach a log line.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Validate for Auth {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_password(&self.password, &at.key("password"))
    }
}

/// `ping` (C→S): application heartbeat; `id` is echoed in the `pong`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
}

fn check_ping_id(id: Option<&String>, at: &Path) -> Result<(), ParseError> {
    id.map_or(Ok(()), |id| check_len(id, 1, 64, &at.key("id")))
}

impl Validate for Ping {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_ping_id(self.id.as_ref(), at)
    }
}

/// `get_status` (C→S): asks for a `status` message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetStatus {}

impl Validate for GetStatus {
    fn validate(&self, _: &Path) -> Result<(), ParseError> {
        Ok(())
    }
}

/// `auth_response` (S→C). On failure the server then closes with code 1008.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthResponse {
    pub success: bool,
    pub message: String,
}

impl Validate for AuthResponse {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_len(&self.message, 1, 256, &at.key("message"))
    }
}

/// `data` (S→C): one broadcast frame, 60 per second while detection runs. `timestamp` is the
/// frame's *scheduled* time, so a late tick shows up as latency at every receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastFrame {
    pub timestamp: Timestamp,
    pub frame_count: u64,
    pub current_value: f64,
    #[serde(deserialize_with = "Option::deserialize")]
    pub peak_signal: Option<PeakSignal>,
    pub baseline: f64,
    pub status: DetectionStatus,
}

impl Validate for BroadcastFrame {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_timestamp(&self.timestamp, &at.key("timestamp"))?;
        check_frame_count(self.frame_count, &at.key("frame_count"))?;
        check_gray(self.current_value, &at.key("current_value"))?;
        check_gray(self.baseline, &at.key("baseline"))
    }
}

/// Why a `status` message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusReason {
    /// Right after a successful `auth`.
    Initial,
    /// In answer to `get_status`.
    Request,
    /// A control command changed the detection state.
    Control,
    /// A configuration value changed.
    Config,
    /// The region of interest changed.
    Roi,
}

/// Frame rates a server may be configured for.
pub const MAX_TARGET_FPS: u64 = 240;

/// `status` (S→C): detection state, on every change and on request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMessage {
    pub timestamp: Timestamp,
    pub status: DetectionStatus,
    pub reason: StatusReason,
    pub frame_count: u64,
    /// Measured frames per second over the last second.
    pub fps: f64,
    pub target_fps: u32,
    pub connected_clients: u64,
    pub roi: Rect,
}

impl Validate for StatusMessage {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_timestamp(&self.timestamp, &at.key("timestamp"))?;
        check_frame_count(self.frame_count, &at.key("frame_count"))?;
        check_min_f64(self.fps, 0.0, &at.key("fps"))?;
        check_range_u64(
            u64::from(self.target_fps),
            1,
            MAX_TARGET_FPS,
            &at.key("target_fps"),
        )?;
        self.roi.validate(&at.key("roi"))
    }
}

/// `pong` (S→C): answer to `ping`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pong {
    pub timestamp: Timestamp,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
}

impl Validate for Pong {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_timestamp(&self.timestamp, &at.key("timestamp"))?;
        check_ping_id(self.id.as_ref(), at)
    }
}

/// `error` (S→C, and the HTTP error envelope): a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorMessage {
    pub timestamp: Timestamp,
    pub error_code: WireErrorCode,
    pub error_message: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub details: Option<ErrorDetails>,
    /// Seconds to wait before retrying (with `RATE_LIMITED`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<f64>,
}

impl ErrorMessage {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorMessage {
            timestamp: Timestamp::now(),
            error_code: code.into(),
            error_message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn with_details(
        mut self,
        parameter: impl Into<String>,
        value: serde_json::Value,
        constraint: impl Into<String>,
    ) -> Self {
        self.details = Some(ErrorDetails {
            parameter: parameter.into(),
            value,
            constraint: constraint.into(),
        });
        self
    }

    /// The reply to a message that could not be parsed: its code, message and the rule
    /// (as `details.constraint`) at the JSON path (as `details.parameter`).
    pub fn from_parse_error(err: &ParseError) -> Self {
        let mut message = ErrorMessage::new(err.code, truncate_chars(&err.message, 1024));
        if let Some(rule) = &err.rule {
            message = message.with_details(
                truncate_chars(&rule.pointer(), 256),
                serde_json::Value::Null,
                truncate_chars(&rule.to_string(), 256),
            );
        }
        message
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl Validate for ErrorMessage {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_timestamp(&self.timestamp, &at.key("timestamp"))?;
        let code = self.error_code.as_str();
        check_len(code, 1, WireErrorCode::MAX_LEN, &at.key("error_code"))?;
        if !WireErrorCode::is_well_formed(code) {
            return Err(ParseError::invalid(
                at.key("error_code").rule(RuleKind::Format),
                format!("error_code {code:?} is not UPPER_SNAKE_CASE"),
            ));
        }
        check_len(&self.error_message, 1, 1024, &at.key("error_message"))?;
        if let Some(details) = &self.details {
            details.validate(&at.key("details"))?;
        }
        if let Some(seconds) = self.retry_after {
            check_min_f64(seconds, 0.0, &at.key("retry_after"))?;
        }
        Ok(())
    }
}
