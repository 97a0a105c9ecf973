//! `record` mode: capture a session as a JSONL transcript that stays the same from run to run.
//!
//! Each profile scripts its own session (`nhem::record`, `ecg::record`); this module holds what
//! they share. Every line is `{"direction": "c2s" | "s2c", "message": …}`, and every volatile
//! value the profile names (`Profile::volatile_fields`) is replaced by a fixed, schema-valid
//! placeholder — timestamps by [`REDACTED_TIMESTAMP`], counters and measurements by 0 — so a
//! transcript can be committed, diffed against later runs, and still checked with
//! `conformance validate`.

use protocol::{Direction, Profile};
use serde_json::{json, Value};

pub use protocol::profile::REDACTED_TIMESTAMP;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Wire(#[from] crate::wire::WireError),
    #[error("the server did not {0} within 5 s")]
    NoAnswer(&'static str),
    /// The profile has no scripted session yet.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// A transcript being written: messages as sent, server messages redacted.
pub struct Transcript {
    profile: &'static dyn Profile,
    pub lines: Vec<Value>,
}

impl Transcript {
    pub fn new(profile: &'static dyn Profile) -> Self {
        Transcript {
            profile,
            lines: Vec::new(),
        }
    }

    /// A message the recorder sent (secrets already replaced by the caller).
    pub fn sent(&mut self, message: Value) {
        self.lines
            .push(json!({"direction": "c2s", "message": message}));
    }

    /// A message the server sent, with its volatile values replaced.
    pub fn got(&mut self, mut message: Value) {
        if let Ok(kind) = self.profile.classify(Direction::ServerToClient, &message) {
            protocol::profile::redact(self.profile, kind, &mut message);
        }
        self.lines
            .push(json!({"direction": "s2c", "message": message}));
    }
}

/// The transcript as JSONL text.
pub fn to_jsonl(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}
