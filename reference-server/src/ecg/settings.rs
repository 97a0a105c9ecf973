//! `reference-server ecg` flags and `ECG_*` environment variables (PROFILES.md §3).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Serve the ECG stream: ws://BIND:PORT/ws/ecg/stream?token=TOKEN, one 160 ms stream per
/// connection (token `ecg-demo-token` unless set).
#[derive(Debug, Clone, clap::Args)]
pub struct EcgSettings {
    /// Address to listen on.
    #[arg(long, env = "ECG_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// WebSocket port (0 picks a free one).
    #[arg(long, env = "ECG_PORT", default_value_t = 5000)]
    pub port: u16,

    /// The token clients send in the query (`?token=`); compared in constant time.
    #[arg(
        long,
        env = "ECG_TOKEN",
        default_value = "ecg-demo-token",
        hide_env_values = true
    )]
    pub token: protocol::Secret,

    /// Milliseconds between frames of a connection (the seed's `time.sleep(0.16)`).
    #[arg(long, env = "ECG_INTERVAL_MS", default_value_t = 160, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub interval_ms: u64,

    /// Samples per second; a frame holds sample_rate × interval samples (40 by default).
    #[arg(long, env = "ECG_SAMPLE_RATE", default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub sample_rate: u32,

    /// Replay a recording instead of the synthetic PQRST signal: a CSV of mV, one value per
    /// line at the sample rate, optional header `mv` (e.g. fixtures/signals/ecg-mitbih-208.csv).
    #[arg(long, env = "ECG_SOURCE")]
    pub source: Option<PathBuf>,

    /// Seed of the synthetic signal's noise.
    #[arg(long, env = "ECG_SEED", default_value_t = 72)]
    pub seed: u64,

    /// Connections beyond this are closed with 1013 right after the upgrade.
    #[arg(long, env = "ECG_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Largest client message; a larger one is closed with 1009.
    #[arg(long, env = "ECG_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// A client that stays behind (or blocks a write) this long is closed with 1008.
    #[arg(long, env = "ECG_SLOW_CLIENT_MS", default_value_t = 2000)]
    pub slow_client_ms: u64,

    /// SO_SNDBUF of each connection in bytes (0: the kernel's self-tuning one, in which a client
    /// that stops reading is lost for many seconds).
    #[arg(long, env = "ECG_SOCKET_SEND_BUFFER", default_value_t = crate::core::DEFAULT_SOCKET_SEND_BUFFER)]
    pub socket_send_buffer: usize,

    /// Milliseconds between RFC 6455 pings (0: none). A client that does not answer within the
    /// slow-client budget has stopped reading and is closed with 1008.
    #[arg(long, env = "ECG_PING_INTERVAL_MS", default_value_t = crate::core::DEFAULT_PING_INTERVAL.as_millis() as u64)]
    pub ping_interval_ms: u64,

    /// Deliberate violations for the conformance self-test (hidden).
    #[arg(long = "fault", value_enum, hide = true)]
    pub faults: Vec<EcgFault>,

    /// Log filter (tracing EnvFilter syntax, e.g. `info`, `debug`).
    #[arg(long, env = "ECG_LOG", default_value = "info")]
    pub log: String,

    /// Log lines as human text (colours only on a terminal) or one JSON object per line.
    #[arg(long, env = "ECG_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,

    #[command(flatten)]
    pub tls: crate::core::TlsArgs,
}

/// Deliberate protocol violations, one per conformance case, for the suite's self-test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum EcgFault {
    /// Frames carry a member the schema does not allow (`seq`).
    FrameExtraField,
    /// Every 5th frame repeats the previous timestamp.
    TimestampRepeats,
    /// Frames come every 1.5 intervals.
    SlowCadence,
    /// A wrong (non-empty) token is accepted.
    AcceptWrongToken,
    /// Every client message is answered with `{"ack":true}`.
    ReplyToClient,
}

impl EcgSettings {
    /// The settings `reference-server ecg` has with no flags (and no `ECG_*` variable), on a
    /// free port.
    pub fn for_tests() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: EcgSettings,
        }
        let command = <Wrapper as clap::CommandFactory>::command();
        let mut settings = crate::defaults::flagless::<Wrapper>(command, "ecg").settings;
        settings.port = 0;
        settings
    }

    pub fn interval(&self) -> Duration {
        let base = Duration::from_millis(self.interval_ms);
        if self.has_fault(EcgFault::SlowCadence) {
            base.mul_f64(1.5)
        } else {
            base
        }
    }

    /// Samples per frame (sample rate × nominal interval).
    pub fn points_per_frame(&self) -> usize {
        (u64::from(self.sample_rate) * self.interval_ms / 1000) as usize
    }

    pub fn has_fault(&self, fault: EcgFault) -> bool {
        self.faults.contains(&fault)
    }
}
