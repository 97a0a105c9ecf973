//! `client-io`: how the conformance suite and the load generator reach a server, and nothing
//! else — a WebSocket client with small buffers that timestamps what arrives (`ws`), an HTTP
//! client on hyper-util's maintained pooled client (`http`), and one clock (`clock`).
//!
//! `socketio` is Socket.IO v5 / Engine.IO v4 as a transport (both of its own transports), on
//! `protocol`'s packet codec. It knows no protocol beyond that: no profile, no message kind. Both tools depend on it, neither on the
//! other, and `protocol` stays free of I/O.

pub mod clock;
pub mod http;
pub mod socketio;
pub mod tls;
pub mod ws;

pub use http::{HttpClient, HttpReply};
pub use ws::{small_frames, Event, WireError, WsConn};
