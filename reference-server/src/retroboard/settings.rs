//! `reference-server retroboard` flags and `RETROBOARD_*` environment variables (PROFILES.md §4).

use crate::monitor::settings::seconds;
use std::net::IpAddr;
use std::time::Duration;

/// Serve RetroBoard: Socket.IO v5 (Engine.IO v4, polling and WebSocket) at
/// http://BIND:PORT/socket.io/ and the REST commands under /api/.
#[derive(Debug, Clone, clap::Args)]
pub struct RetroBoardSettings {
    /// Address to listen on.
    #[arg(long, env = "RETROBOARD_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// HTTP port for Socket.IO and REST (0 picks a free one).
    #[arg(long, env = "RETROBOARD_PORT", default_value_t = 5000)]
    pub port: u16,

    /// Engine.IO pingInterval in seconds: the server pings each client this often.
    #[arg(long, env = "RETROBOARD_PING_INTERVAL_S", default_value_t = 25.0, value_parser = seconds)]
    pub ping_interval_s: f64,

    /// Engine.IO pingTimeout in seconds: a client that has not answered a ping by then is
    /// closed.
    #[arg(long, env = "RETROBOARD_PING_TIMEOUT_S", default_value_t = 60.0, value_parser = seconds)]
    pub ping_timeout_s: f64,

    /// Engine.IO maxPayload in bytes: the largest packet (or polling payload) a client may send.
    /// REST bodies have the same limit.
    #[arg(long, env = "RETROBOARD_MAX_PAYLOAD", default_value_t = protocol::retroboard::MAX_PAYLOAD, value_parser = clap::value_parser!(u64).range(64..=100_000_000))]
    pub max_payload: u64,

    /// Origins allowed by CORS: `*` or a comma-separated list (`http://localhost:3000,…`).
    #[arg(long, env = "RETROBOARD_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,

    /// The app set (fixed for the server's life); the first is current at start.
    #[arg(long, env = "RETROBOARD_APPS", default_value = "clock,scroll_text,stars", value_delimiter = ',', num_args = 1..)]
    pub apps: Vec<String>,

    /// Start with the carousel rotating (the decision is off, so that a suite runs quietly).
    #[arg(long, env = "RETROBOARD_CAROUSEL_ENABLED")]
    pub carousel_enabled: bool,

    /// Log filter (tracing EnvFilter syntax, e.g. `info`, `debug`).
    #[arg(long, env = "RETROBOARD_LOG", default_value = "info")]
    pub log: String,

    /// Log lines as human text (colours only on a terminal) or one JSON object per line.
    #[arg(long, env = "RETROBOARD_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,

    #[command(flatten)]
    pub tls: crate::core::TlsArgs,
}

impl RetroBoardSettings {
    /// The settings `reference-server retroboard` has with no flags (and no `RETROBOARD_*`
    /// variable), on a free port.
    pub fn for_tests() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: RetroBoardSettings,
        }
        let command = <Wrapper as clap::CommandFactory>::command();
        let mut settings = crate::defaults::flagless::<Wrapper>(command, "retroboard").settings;
        settings.port = 0;
        settings
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs_f64(self.ping_interval_s)
    }

    pub fn ping_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.ping_timeout_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_decided_ones() {
        let s = RetroBoardSettings::for_tests();
        assert_eq!((s.ping_interval_s, s.ping_timeout_s), (25.0, 60.0));
        assert_eq!(s.max_payload, 1_000_000);
        assert_eq!(s.apps, ["clock", "scroll_text", "stars"]);
        assert_eq!(s.cors_origins, "*");
        assert!(!s.carousel_enabled);
    }
}
