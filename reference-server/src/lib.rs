//! `reference-server`: spec-exact peers for every profile, on one connection core.
//!
//! It knows sockets, not reports. `core` is what every profile's WebSocket side runs on
//! (accept loop and limits, request-head routing, the writer task with its slow-consumer policy,
//! frames framed once, metrics, designed shutdown); each profile is a module with its settings
//! and sessions: `nhem` (HTTP on hyper, a 60 FPS broadcast fed by the detection pipeline) and
//! `ecg` (a 160 ms stream per connection) and `monitor` (envelopes on four endpoints, filtered
//! fan-out, rate limits). `main.rs` only parses flags and picks the profile.

pub mod core;
pub mod defaults;
pub mod ecg;
pub mod handler;
pub mod logging;
pub mod monitor;
pub mod nhem;
pub mod retroboard;
