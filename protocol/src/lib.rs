//! `protocol`: the messages of real-time WebSocket protocols, with no I/O.
//!
//! It knows messages, not sockets: types for every message of every profile (NHEM first),
//! a decoder from bytes that never panics and names the rule at fault, the JSON Schemas of
//! `schemas/` compiled for validation, and the validators and sanitizers of the seed.
//! It has no tokio dependency; servers, the conformance suite and the load generator build on it.

pub mod codec;
pub mod ecg;
pub mod error;
pub mod handler;
pub mod monitor;
pub mod nhem;
pub mod profile;
pub mod retroboard;
pub mod rule;
pub mod schema;
pub mod secret;
pub mod socketio;
pub mod timestamp;

pub use error::{ErrorCode, ParseError, WireErrorCode};
pub use profile::{Direction, Profile};
pub use rule::{Rule, RuleKind};
pub use secret::Secret;
pub use timestamp::Timestamp;
