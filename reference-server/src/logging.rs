//! Logging for the binary: human text (colours only on a terminal) or one JSON object per
//! line for log shippers, at the level `--log` asks for.

use std::io::IsTerminal;

/// How log lines are written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colours only when standard output is a terminal.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields.message`, …).
    Json,
}

/// Installs the global subscriber. The WebSocket library never logs below INFO: at DEBUG and
/// TRACE it prints whole frames (`Received message {"type":"auth","password":…}`) and hex
/// dumps, and no log level may print a password or token.
pub fn init(log: &str, format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_new(log).unwrap_or_else(|e| {
        eprintln!("warning: invalid --log filter {log:?} ({e}); using \"info\"");
        tracing_subscriber::EnvFilter::new("info")
    });
    let no_frames = tracing_subscriber::filter::filter_fn(|meta| {
        let frames = meta.target().starts_with("tungstenite")
            || meta.target().starts_with("tokio_tungstenite");
        !frames || *meta.level() <= tracing::Level::INFO
    });
    let layer = tracing_subscriber::fmt::layer().with_target(false);
    let layer = match format {
        LogFormat::Text => layer
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(filter)
            .with_filter(no_frames)
            .boxed(),
        LogFormat::Json => layer
            .json()
            .with_filter(filter)
            .with_filter(no_frames)
            .boxed(),
    };
    tracing_subscriber::registry().with(layer).init();
}
