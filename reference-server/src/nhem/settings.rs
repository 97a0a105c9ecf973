//! Command-line flags and `NHEM_*` environment variables, with the defaults of DESIGN.md.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The NHEM reference server: REST API, WebSocket broadcast at 60 FPS, detection pipeline.
///
/// Every setting has a default, so `reference-server` alone starts a working server with a
/// synthetic camera and detection running. Each flag can also be set by the environment
/// variable shown beside it.
#[derive(Debug, Clone, Parser)]
#[command(name = "reference-server", version, about, long_about)]
pub struct Settings {
    /// Address to bind both listeners to.
    #[arg(long, env = "NHEM_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// HTTP (REST API) port; 0 picks a free port.
    #[arg(long, env = "NHEM_HTTP_PORT", default_value_t = 8421)]
    pub http_port: u16,

    /// WebSocket port; 0 picks a free port.
    #[arg(long, env = "NHEM_SOCKET_PORT", default_value_t = 30415)]
    pub socket_port: u16,

    /// Password for WebSocket `auth` and for control, config and ROI changes.
    #[arg(
        long,
        env = "NHEM_PASSWORD",
        default_value = "31415",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub password: protocol::Secret,

    /// Broadcast frame rate (frames per second, 1–240).
    #[arg(long, env = "NHEM_FPS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: u32,

    /// Directory for persisted configuration (created if missing).
    #[arg(long, env = "NHEM_DATA_DIR", default_value = "./nhem-data")]
    pub data_dir: PathBuf,

    /// Replay a recorded signal (CSV, one gray value per line at the frame rate) instead of
    /// the synthetic camera.
    #[arg(long, env = "NHEM_SOURCE")]
    pub source: Option<PathBuf>,

    /// Seed of the synthetic camera (same seed, same frames).
    #[arg(long, env = "NHEM_SEED", default_value_t = 31415)]
    pub seed: u64,

    /// Camera frame width in pixels (bounds the ROI).
    #[arg(long, env = "NHEM_FRAME_WIDTH", default_value_t = 640, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub frame_width: u32,

    /// Camera frame height in pixels (bounds the ROI).
    #[arg(long, env = "NHEM_FRAME_HEIGHT", default_value_t = 480, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub frame_height: u32,

    /// Start with detection stopped (a `start_detection` command starts it).
    #[arg(long, env = "NHEM_START_STOPPED")]
    pub start_stopped: bool,

    /// Most WebSocket connections at once; more are refused with TOO_MANY_CONNECTIONS.
    #[arg(long, env = "NHEM_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Largest WebSocket message or HTTP body accepted, in bytes.
    #[arg(long, env = "NHEM_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024)]
    pub max_message_bytes: usize,

    /// Milliseconds an HTTP client has to send a complete request head; also how long an idle
    /// keep-alive connection is kept waiting for its next request.
    #[arg(long, env = "NHEM_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout_ms: u64,

    /// Milliseconds an HTTP client has to send a request body (408 REQUEST_TIMEOUT after).
    #[arg(long, env = "NHEM_HTTP_BODY_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_body_timeout_ms: u64,

    /// Milliseconds a new WebSocket client has to send `auth`.
    #[arg(long, env = "NHEM_AUTH_TIMEOUT_MS", default_value_t = 5000)]
    pub auth_timeout_ms: u64,

    /// Frames a client may fall behind before it skips the stalest ones (its queue length).
    #[arg(long, env = "NHEM_CLIENT_QUEUE_FRAMES", default_value_t = 16)]
    pub client_queue_frames: usize,

    /// Milliseconds a client may stay behind (or block one send) before it is disconnected.
    #[arg(long, env = "NHEM_SLOW_CLIENT_MS", default_value_t = 2000)]
    pub slow_client_ms: u64,

    /// Kernel send buffer per WebSocket connection in bytes (0: the kernel's self-tuning one,
    /// which can absorb megabytes, so a client that stops reading is never found). Small
    /// buffers find such clients soon (the slow-client budget starts when a write blocks)
    /// and bound memory per client; Linux doubles the value for its bookkeeping.
    #[arg(long, env = "NHEM_SOCKET_SEND_BUFFER", default_value_t = crate::core::DEFAULT_SOCKET_SEND_BUFFER)]
    pub socket_send_buffer: usize,

    /// Milliseconds between RFC 6455 pings to an authenticated client (0: none). A client that
    /// does not answer within the slow-client budget has stopped reading and is closed.
    #[arg(long, env = "NHEM_WS_PING_INTERVAL_MS", default_value_t = crate::core::DEFAULT_PING_INTERVAL.as_millis() as u64)]
    pub ws_ping_interval_ms: u64,

    /// Failed WebSocket authentications allowed per second per client address (bursts of twice
    /// that). Over it, auth messages from that address are refused with RATE_LIMITED without
    /// being checked, so a password cannot be guessed faster; a connection gets one attempt.
    #[arg(long, env = "NHEM_WS_AUTH_FAILURES_PER_S", default_value_t = 5.0)]
    pub ws_auth_failures_per_s: f64,

    /// Control/config/ROI changes allowed per second per client address (burst: twice that).
    #[arg(long, env = "NHEM_CONTROL_RATE", default_value_t = 5.0)]
    pub control_rate_per_s: f64,

    /// Milliseconds every configuration save waits between writing its temporary file and
    /// renaming it, as a slow disk would (for tests: a crash can be aimed at that moment).
    #[arg(
        long,
        env = "NHEM_STORE_WRITE_DELAY_MS",
        default_value_t = 0,
        hide = true
    )]
    pub store_write_delay_ms: u64,

    /// Inject a protocol violation (for the conformance suite's self-test; repeatable).
    #[arg(long = "fault", value_enum, hide = true)]
    pub faults: Vec<crate::nhem::faults::Fault>,

    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `reference_server=debug`.
    #[arg(long, env = "NHEM_LOG", default_value = "info")]
    pub log: String,

    /// Log lines as human text (colours only on a terminal) or one JSON object per line.
    #[arg(long, env = "NHEM_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,

    #[command(flatten)]
    pub tls: crate::core::TlsArgs,
}

impl Settings {
    /// Defaults for tests: ephemeral ports on loopback, a private data directory, and no
    /// `NHEM_*` variable of the developer's shell.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        use clap::CommandFactory;
        let mut settings: Settings =
            crate::defaults::flagless(Settings::command(), "reference-server");
        settings.http_port = 0;
        settings.socket_port = 0;
        settings.data_dir = data_dir;
        settings
    }

    pub fn auth_timeout(&self) -> Duration {
        Duration::from_millis(self.auth_timeout_ms)
    }

    pub fn has_fault(&self, fault: crate::nhem::faults::Fault) -> bool {
        self.faults.contains(&fault)
    }

    pub fn slow_client_budget(&self) -> Duration {
        Duration::from_millis(self.slow_client_ms)
    }
}
