//! `conformance`: proves that a server or client speaks its protocol — ours or anyone's.
//!
//! It reaches its subject only over the wire (`wire`, the shared `client-io` crate). Each
//! profile registers its suite, client probe and recorded session in `profiles` (NHEM in
//! `nhem/`, ECG in `ecg/`, monitor in `monitor/`). The modes are offline `validate` of files and transcripts, the live
//! `server` suite, the client probe, the validating `proxy`, and `record` for redacted
//! transcripts; every mode produces an [`outcome::Report`] written as JSON, Markdown and JUnit
//! XML (`report`).

pub mod cases;
pub mod ecg;
pub mod handler;
pub mod monitor;
pub mod nhem;
pub mod outcome;
pub mod profiles;
pub mod proxy;
pub mod record;
pub mod report;
pub mod retroboard;
pub mod validate;

/// How the suite reaches its subject: the shared client I/O crate.
pub use client_io as wire;

/// The current time as an RFC 3339 UTC string (report headers).
pub fn now_rfc3339() -> String {
    protocol::Timestamp::now().to_string()
}
