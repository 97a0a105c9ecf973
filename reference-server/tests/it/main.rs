//! Integration tests of the reference server over real sockets (127.0.0.1, port 0).
//! Every message the server emits is validated against its JSON Schema by the helpers.

mod broadcast;
mod detection;
mod frames;
mod handler;
mod http;
mod http_limits;
mod logs;
mod monitor;
mod persistence;
mod secrets;
mod support;
mod upgrade;
mod ws;
