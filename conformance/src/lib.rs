//! `conformance`: validates third-party NHEM servers and clients over the wire.
//!
//! Not built yet: this crate is reserved by the workspace layout and is filled in by issue 4.
//! It holds no code, so nothing here claims to work.
