//! `reference-server`: the spec-exact NHEM peer (HTTP + WebSocket + detection pipeline).
//!
//! Not built yet: this crate is reserved by the workspace layout and is filled in by issue 3.
//! It holds no code, so nothing here claims to work.
