//! Errors the server answers with: a stable wire code, a human message, and the input at fault.

use protocol::nhem::ErrorMessage;
use protocol::{ErrorCode, ParseError};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// `(parameter, value, constraint)`, boxed to keep `Result<_, ApiError>` small.
    pub details: Option<Box<(String, Value, String)>>,
    pub retry_after_s: Option<f64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
            retry_after_s: None,
        }
    }

    pub fn invalid(
        parameter: &str,
        value: impl Into<Value>,
        constraint: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(ErrorCode::ValidationError, message).with_details(parameter, value, constraint)
    }

    pub fn with_details(
        mut self,
        parameter: &str,
        value: impl Into<Value>,
        constraint: impl Into<String>,
    ) -> Self {
        self.details = Some(Box::new((
            parameter.to_owned(),
            value.into(),
            constraint.into(),
        )));
        self
    }

    pub fn to_message(&self) -> ErrorMessage {
        let mut message = ErrorMessage::new(
            self.code,
            self.message.chars().take(1024).collect::<String>(),
        );
        if let Some(details) = &self.details {
            let (parameter, value, constraint) = details.as_ref();
            message = message.with_details(parameter.clone(), value.clone(), constraint.clone());
        }
        message.retry_after = self.retry_after_s;
        message
    }
}

impl From<&ParseError> for ApiError {
    fn from(err: &ParseError) -> Self {
        let message = ErrorMessage::from_parse_error(err);
        ApiError {
            code: err.code,
            message: message.error_message,
            details: message
                .details
                .map(|d| Box::new((d.parameter, d.value, d.constraint))),
            retry_after_s: None,
        }
    }
}
