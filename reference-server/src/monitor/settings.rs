//! `reference-server monitor` flags and `MONITOR_*` environment variables (PROFILES.md §2).

use std::net::IpAddr;
use std::time::Duration;

/// Serve the monitoring API: ws://BIND:PORT/ws, /ws/performance, /ws/alerts and /ws/status,
/// with `Authorization: Bearer <key>` on the upgrade (key `your-api-key` unless set).
#[derive(Debug, Clone, clap::Args)]
pub struct MonitorSettings {
    /// Address to listen on.
    #[arg(long, env = "MONITOR_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// WebSocket port (0 picks a free one).
    #[arg(long, env = "MONITOR_PORT", default_value_t = protocol::monitor::DEFAULT_PORT)]
    pub port: u16,

    /// API keys accepted in `Authorization: Bearer <key>` (comma list; default: the seed's
    /// example key `your-api-key`); compared in constant time and never logged.
    #[arg(
        long = "api-keys",
        env = "MONITOR_API_KEYS",
        value_delimiter = ',',
        default_value = protocol::monitor::DEFAULT_API_KEY,
        hide_env_values = true,
        hide_default_value = true
    )]
    pub api_keys: Vec<protocol::Secret>,

    /// Serve clients that send no Authorization header (the seed's browser clients cannot set
    /// one); a wrong key is still refused.
    #[arg(long, env = "MONITOR_ALLOW_ANONYMOUS", num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_anonymous: bool,

    /// Milliseconds between system `performance` messages.
    #[arg(long, env = "MONITOR_PERFORMANCE_INTERVAL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub performance_interval_ms: u64,

    /// Seconds of the synthetic load cycle: CPU and memory rise past their alert thresholds
    /// and fall back once per cycle; one `config` and one `system` event per cycle.
    #[arg(long, env = "MONITOR_CYCLE_S", default_value_t = 60.0, value_parser = seconds)]
    pub cycle_s: f64,

    /// Seconds between the two `status` messages (clipboard_monitor, qbittorrent_client).
    #[arg(long, env = "MONITOR_STATUS_INTERVAL_S", default_value_t = 10.0, value_parser = seconds)]
    pub status_interval_s: f64,

    /// Seconds between custom `performance` metrics (`api_response_time`).
    #[arg(long, env = "MONITOR_CUSTOM_INTERVAL_S", default_value_t = 5.0, value_parser = seconds)]
    pub custom_interval_s: f64,

    /// Client messages per connection per window before `RATE_LIMIT_EXCEEDED`.
    #[arg(long, env = "MONITOR_RATE_LIMIT", default_value_t = protocol::monitor::RATE_LIMIT_MESSAGES, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,

    /// Seconds of the rate limit's fixed window, aligned to the connection's open.
    #[arg(long, env = "MONITOR_RATE_WINDOW_S", default_value_t = protocol::monitor::RATE_LIMIT_WINDOW_S as f64, value_parser = seconds)]
    pub rate_window_s: f64,

    /// Connections beyond this get `error CONNECTION_FAILED` (retry_after 5000) and 1013.
    #[arg(long, env = "MONITOR_MAX_CONNECTIONS", default_value_t = 1000)]
    pub max_connections: usize,

    /// Largest client message; a larger one is closed with 1009.
    #[arg(long, env = "MONITOR_MAX_MESSAGE_BYTES", default_value_t = protocol::monitor::MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,

    /// Seconds without any frame from a client (message, ping or pong) before the server
    /// closes with 1000 `heartbeat timeout` (3 × the seed clients' 30 s ping).
    #[arg(long, env = "MONITOR_IDLE_TIMEOUT_S", default_value_t = 90.0, value_parser = seconds)]
    pub idle_timeout_s: f64,

    /// A client that stays behind (or blocks a write) this long is closed with 1008.
    #[arg(long, env = "MONITOR_SLOW_CLIENT_MS", default_value_t = 2000)]
    pub slow_client_ms: u64,

    /// SO_SNDBUF of each connection in bytes (0: the kernel's self-tuning one).
    #[arg(long, env = "MONITOR_SOCKET_SEND_BUFFER", default_value_t = crate::core::DEFAULT_SOCKET_SEND_BUFFER)]
    pub socket_send_buffer: usize,

    /// Milliseconds between RFC 6455 pings to find clients that stopped reading (0: none, the
    /// default: the profile decides that the server sends no pings of its own, and a pong
    /// would keep an otherwise idle client from its idle timeout).
    #[arg(long, env = "MONITOR_PING_INTERVAL_MS", default_value_t = 0)]
    pub ping_interval_ms: u64,

    /// Deliberate violations for the conformance self-test (hidden).
    #[arg(long = "fault", value_enum, hide = true)]
    pub faults: Vec<MonitorFault>,

    /// Log filter (tracing EnvFilter syntax, e.g. `info`, `debug`).
    #[arg(long, env = "MONITOR_LOG", default_value = "info")]
    pub log: String,

    /// Log lines as human text (colours only on a terminal) or one JSON object per line.
    #[arg(long, env = "MONITOR_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,

    #[command(flatten)]
    pub tls: crate::core::TlsArgs,
}

/// A positive number of seconds, at most a day.
pub(crate) fn seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(value)
    } else {
        Err(format!(
            "{text} s is out of range (more than 0, at most 86400)"
        ))
    }
}

/// Deliberate protocol violations, one per conformance case, for the suite's self-test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum MonitorFault {
    /// A wrong API key is accepted.
    AcceptWrongKey,
    /// `client_id` ignores `X-Client-ID`.
    IgnoreClientId,
    /// Every `pong` has the same id.
    RepeatPongId,
    /// `status` messages carry a member the schema does not allow.
    StatusExtraField,
    /// `ping` gets no `pong`.
    NoPong,
    /// `/ws/performance` also carries alerts.
    LeakAlerts,
    /// Subscribe filters are ignored (the events still count).
    IgnoreFilters,
    /// An escalated alert keeps its `alert_id`: it is raised twice while active.
    ReraiseAlert,
    /// No rate limit.
    NoRateLimit,
    /// Invalid client messages close the connection (1008) instead of getting an `error`.
    CloseOnBadInput,
}

impl MonitorSettings {
    /// The settings `reference-server monitor` has with no flags (and no `MONITOR_*`
    /// variable), on a free port.
    pub fn for_tests() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: MonitorSettings,
        }
        let command = <Wrapper as clap::CommandFactory>::command();
        let mut settings = crate::defaults::flagless::<Wrapper>(command, "monitor").settings;
        settings.port = 0;
        settings
    }

    pub fn performance_interval(&self) -> Duration {
        Duration::from_millis(self.performance_interval_ms)
    }

    pub fn cycle(&self) -> Duration {
        Duration::from_secs_f64(self.cycle_s)
    }

    pub fn status_interval(&self) -> Duration {
        Duration::from_secs_f64(self.status_interval_s)
    }

    pub fn custom_interval(&self) -> Duration {
        Duration::from_secs_f64(self.custom_interval_s)
    }

    pub fn rate_window(&self) -> Duration {
        Duration::from_secs_f64(self.rate_window_s)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.idle_timeout_s)
    }

    pub fn has_fault(&self, fault: MonitorFault) -> bool {
        self.faults.contains(&fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_positive_and_bounded() {
        assert_eq!(seconds("0.5"), Ok(0.5));
        assert!(seconds("0").is_err() && seconds("-1").is_err() && seconds("NaN").is_err());
        assert!(seconds("86401").is_err() && seconds("x").is_err());
    }

    #[test]
    fn defaults_are_the_decided_ones() {
        let s = MonitorSettings::for_tests();
        assert_eq!(s.api_keys, vec![protocol::Secret::new("your-api-key")]);
        assert!(!s.allow_anonymous);
        assert_eq!(
            (s.performance_interval_ms, s.cycle_s, s.rate_limit),
            (1000, 60.0, 120)
        );
        assert_eq!((s.max_connections, s.idle_timeout_s), (1000, 90.0));
    }
}
