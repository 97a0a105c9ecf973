//! Integration tests of the `protocol` crate: one test binary (see STYLE.md), one module per
//! concern.

mod ecg;
mod fixtures;
mod handler;
mod monitor;
mod profiles;
mod properties;
mod snapshots;
mod socketio;
mod support;
mod timestamps;
