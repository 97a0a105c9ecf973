//! `reference-server handler` flags and `HANDLER_*` environment variables (PROFILES.md §1).

use clap::builder::TypedValueParser;
use protocol::handler;
use std::net::IpAddr;
use std::time::Duration;

/// Serve the WebSocketHandler protocol on ws://BIND:PORT/ (any path): requests, pub/sub, RPC
/// and streams over one socket; token auth when --auth-token is set.
#[derive(Debug, Clone, clap::Args)]
pub struct HandlerSettings {
    /// Address to listen on (the seed's `host` is 0.0.0.0; this defaults to loopback).
    #[arg(long, env = "HANDLER_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// WebSocket port (0 picks a free one).
    #[arg(long, env = "HANDLER_PORT", default_value_t = handler::DEFAULT_PORT)]
    pub port: u16,

    /// The token `auth` must carry. Unset: authentication is off (the seed's default); set:
    /// every message but handshake, auth, heartbeat and ping waits for a good `auth`.
    /// Compared in constant time and never logged.
    #[arg(long, env = "HANDLER_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<protocol::Secret>,

    /// Connections beyond this are upgraded, then closed with 1013 `Server overloaded` before
    /// any `welcome`.
    #[arg(long, env = "HANDLER_MAX_CONNECTIONS", default_value_t = handler::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Largest client message in bytes (the seed's 10 MB); a larger one is closed with 1009.
    #[arg(long, env = "HANDLER_MAX_PAYLOAD", default_value_t = handler::DEFAULT_MAX_PAYLOAD, value_parser = clap::value_parser!(u64).range(1024..=(1 << 30)).map(|v| v as usize))]
    pub max_payload: usize,

    /// The seed's `requestTimeout` in ms: how long a request the server sends may wait for its
    /// `response`. The reference server sends no requests of its own, so it is reported in
    /// `server.info` and bounds nothing else.
    #[arg(long, env = "HANDLER_REQUEST_TIMEOUT_MS", default_value_t = handler::DEFAULT_REQUEST_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub request_timeout_ms: u64,

    /// Milliseconds between RFC 6455 pings; a client that answers no ping and sends no
    /// `heartbeat` for 2 intervals is closed with 1000 `Heartbeat timeout`. 0 turns both off.
    #[arg(long, env = "HANDLER_HEARTBEAT_INTERVAL_MS", default_value_t = handler::DEFAULT_HEARTBEAT_INTERVAL_MS, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub heartbeat_interval_ms: u64,

    /// Members every `data` (its `data` object) and `sensor_data` must carry, non-null and
    /// non-blank (comma list; default none). A miss gets `data_response success:false`.
    #[arg(long, env = "HANDLER_REQUIRED_FIELDS", value_delimiter = ',')]
    pub required_fields: Vec<String>,

    /// Features to turn off (comma list of request-response, pubsub, rpc, streaming); their
    /// messages then get `error FEATURE_DISABLED`.
    #[arg(long, env = "HANDLER_DISABLE", value_delimiter = ',', value_enum)]
    pub disable: Vec<Feature>,

    /// Where `data` goes: `memory` numbers each message (`insertId`, strictly increasing over
    /// the process); `none` answers without an `insertId`.
    #[arg(long, env = "HANDLER_STORE", value_enum, default_value_t = Store::Memory)]
    pub store: Store,

    /// The `clientType`s a handshake may name (others are kept as `unknown`; the handshake
    /// still succeeds).
    #[arg(long, env = "HANDLER_CLIENT_TYPES", value_delimiter = ',', default_values_t = handler::DEFAULT_CLIENT_TYPES.map(String::from))]
    pub client_types: Vec<String>,

    /// A client whose unread messages pass 256 KiB, or that blocks a write this long, is
    /// closed (1008).
    #[arg(long, env = "HANDLER_SLOW_CLIENT_MS", default_value_t = 2000)]
    pub slow_client_ms: u64,

    /// SO_SNDBUF of each connection in bytes (0: the kernel's self-tuning one).
    #[arg(long, env = "HANDLER_SOCKET_SEND_BUFFER", default_value_t = crate::core::DEFAULT_SOCKET_SEND_BUFFER)]
    pub socket_send_buffer: usize,

    /// Log filter (tracing EnvFilter syntax, e.g. `info`, `debug`).
    #[arg(long, env = "HANDLER_LOG", default_value = "info")]
    pub log: String,

    /// Log lines as human text (colours only on a terminal) or one JSON object per line.
    #[arg(long, env = "HANDLER_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,

    #[command(flatten)]
    pub tls: crate::core::TlsArgs,
}

/// A feature `--disable` can turn off (the seed's `enable*` switches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Feature {
    /// `request` → `response`.
    RequestResponse,
    /// `subscribe` and `publish`.
    Pubsub,
    /// `rpc_call`.
    Rpc,
    /// `stream_start` and `streams.start`.
    Streaming,
}

impl Feature {
    pub const ALL: [Feature; 4] = [
        Feature::RequestResponse,
        Feature::Pubsub,
        Feature::Rpc,
        Feature::Streaming,
    ];

    /// The `error` message upstream sends when the feature is off.
    pub fn disabled_message(self) -> &'static str {
        match self {
            Feature::RequestResponse => "Request-response not enabled",
            Feature::Pubsub => "Pub-Sub not enabled",
            Feature::Rpc => "RPC not enabled",
            Feature::Streaming => "Streaming not enabled",
        }
    }
}

/// Where `data` messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    Memory,
    None,
}

impl HandlerSettings {
    /// The settings `reference-server handler` has with no flags (and no `HANDLER_*`
    /// variable), on a free port.
    pub fn for_tests() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: HandlerSettings,
        }
        let command = <Wrapper as clap::CommandFactory>::command();
        let mut settings = crate::defaults::flagless::<Wrapper>(command, "handler").settings;
        settings.port = 0;
        settings
    }

    pub fn enabled(&self, feature: Feature) -> bool {
        !self.disable.contains(&feature)
    }

    /// `None` when the heartbeat is off.
    pub fn heartbeat_interval(&self) -> Option<Duration> {
        (self.heartbeat_interval_ms > 0).then(|| Duration::from_millis(self.heartbeat_interval_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seeds() {
        let s = HandlerSettings::for_tests();
        assert!(s.auth_token.is_none());
        assert_eq!((s.max_connections, s.max_payload), (100, 10 * 1024 * 1024));
        assert_eq!(
            (s.request_timeout_ms, s.heartbeat_interval_ms),
            (10_000, 30_000)
        );
        assert!(s.required_fields.is_empty() && s.disable.is_empty());
        assert_eq!(s.store, Store::Memory);
        assert_eq!(
            s.client_types,
            ["microcontroller", "application", "service"]
        );
        assert!(Feature::ALL.iter().all(|f| s.enabled(*f)));
    }
}
