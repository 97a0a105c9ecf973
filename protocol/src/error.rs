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
