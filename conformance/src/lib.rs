//! `conformance`: proves that an NHEM server or client speaks the protocol — ours or anyone's.
//!
//! It reaches its subject only over the wire (`wire`). Modes: offline `validate` of files and
//! transcripts, the live `server` suite (`suite`), the client `probe`, the validating `proxy`,
//! and `record` for redacted transcripts. Every mode produces a [`outcome::Report`] written as
//! JSON, Markdown and JUnit XML (`report`).

pub mod outcome;
pub mod probe;
pub mod proxy;
pub mod record;
pub mod report;
pub mod suite;
pub mod validate;
pub mod wire;

/// The current time as an RFC 3339 UTC string (report headers).
pub fn now_rfc3339() -> String {
    protocol::Timestamp::now().to_string()
}
