//! `loadgen`: many-client load against 60 FPS broadcast servers, with latency reports.
//!
//! Not built yet: this crate is reserved by the workspace layout and is filled in by issue 5.
//! It holds no code, so nothing here claims to work.
