//! Error codes that appear on the wire, and the error the parser returns.

use crate::rule::Rule;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Every `error_code` NHEM servers send; stable, matchable, one-to-one with the wire string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidJson,
    UnknownMessageType,
    ValidationError,
    AuthRequired,
    AuthFailed,
    AuthTimeout,
    RateLimited,
    PayloadTooLarge,
    RequestTimeout,
    NotFound,
    MethodNotAllowed,
    InvalidCommand,
    InvalidState,
    TooManyConnections,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidJson,
        ErrorCode::UnknownMessageType,
        ErrorCode::ValidationError,
        ErrorCode::AuthRequired,
        ErrorCode::AuthFailed,
        ErrorCode::AuthTimeout,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::InvalidCommand,
        ErrorCode::InvalidState,
        ErrorCode::TooManyConnections,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
    ];

    /// The wire string, e.g. `INVALID_JSON`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "INVALID_JSON",
            ErrorCode::UnknownMessageType => "UNKNOWN_MESSAGE_TYPE",
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::AuthRequired => "AUTH_REQUIRED",
            ErrorCode::AuthFailed => "AUTH_FAILED",
            ErrorCode::AuthTimeout => "AUTH_TIMEOUT",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::InvalidCommand => "INVALID_COMMAND",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status that fits this code when it is returned over HTTP.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson
            | ErrorCode::UnknownMessageType
            | ErrorCode::ValidationError
            | ErrorCode::InvalidCommand
            | ErrorCode::InvalidState => 400,
            ErrorCode::AuthRequired | ErrorCode::AuthFailed | ErrorCode::AuthTimeout => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::InternalError => 500,
            ErrorCode::TooManyConnections | ErrorCode::ServiceUnavailable => 503,
        }
    }
}

/// An `error_code` as it travels: one of [`ErrorCode`], or a code another server defines (the
/// NHEM seed's own example sends `ERROR_CODE`). Any UPPER_SNAKE_CASE code of at most 64
/// characters is well-formed; whether it is one we know is a separate, softer question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WireErrorCode {
    Known(ErrorCode),
    Other(String),
}

impl WireErrorCode {
    pub const MAX_LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        match self {
            WireErrorCode::Known(code) => code.as_str(),
            WireErrorCode::Other(code) => code,
        }
    }

    /// Whether this is one of the codes the profile lists.
    pub fn is_known(&self) -> bool {
        matches!(self, WireErrorCode::Known(_))
    }

    /// UPPER_SNAKE_CASE: `A`–`Z` and digits in words joined by single underscores.
    pub fn is_well_formed(code: &str) -> bool {
        !code.is_empty()
            && code.starts_with(|c: char| c.is_ascii_uppercase())
            && code.split('_').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            })
    }
}

impl From<ErrorCode> for WireErrorCode {
    fn from(code: ErrorCode) -> Self {
        WireErrorCode::Known(code)
    }
}

impl From<String> for WireErrorCode {
    fn from(code: String) -> Self {
        match ErrorCode::ALL.iter().find(|known| known.as_str() == code) {
            Some(known) => WireErrorCode::Known(*known),
            None => WireErrorCode::Other(code),
        }
    }
}

impl Serialize for WireErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Any string: its form is checked by the message's validation, which names the rule.
impl<'de> Deserialize<'de> for WireErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(WireErrorCode::from)
    }
}

impl fmt::Display for WireErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message could not be accepted: a wire error code, the rule at fault (when one
/// can be named) and a human message. Returned by every parser in this crate; never a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ParseError {
    pub code: ErrorCode,
    pub rule: Option<Rule>,
    pub message: String,
}

impl ParseError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ParseError {
            code,
            rule: None,
            message: message.into(),
        }
    }

    pub fn with_rule(code: ErrorCode, rule: Rule, message: impl Into<String>) -> Self {
        ParseError {
            code,
            rule: Some(rule),
            message: message.into(),
        }
    }

    /// A `VALIDATION_ERROR` for a broken rule.
    pub fn invalid(rule: Rule, message: impl Into<String>) -> Self {
        Self::with_rule(ErrorCode::ValidationError, rule, message)
    }

    /// The JSON Pointer at fault (empty when the whole message is at fault).
    pub fn pointer(&self) -> String {
        self.rule.as_ref().map(Rule::pointer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("enum serializes");
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            let back: ErrorCode = serde_json::from_value(json).expect("round trip");
            assert_eq!(back, code);
        }
    }
}
