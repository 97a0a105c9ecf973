//! `reference-server` binary: parses flags, starts one profile's server, stops on
//! SIGINT/SIGTERM. With no profile named it serves NHEM, so `reference-server --http-port …`
//! keeps working.

use clap::{Parser, Subcommand};
use reference_server::ecg::{self, EcgServer, EcgSettings};
use reference_server::{prepare, run, Listeners, Settings};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Spec-exact reference servers for real-time WebSocket protocols. Without a profile it serves
/// NHEM (the flags below); `reference-server ecg --help` shows the ECG server's flags.
#[derive(Parser)]
#[command(
    name = "reference-server",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    profile: Option<ProfileCommand>,
    #[command(flatten)]
    nhem: Settings,
}

/// The profiles this binary serves: one variant each.
#[derive(Subcommand)]
enum ProfileCommand {
    /// NHEM: HTTP API + 60 FPS WebSocket broadcast (the default).
    Nhem(Settings),
    /// ECG: a 160 ms stream per connection at /ws/ecg/stream?token=….
    Ecg(EcgSettings),
}

fn init_logging(log: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(log).unwrap_or_else(|e| {
        eprintln!("warning: invalid --log filter {log:?} ({e}); using \"info\"");
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.profile {
        None => serve_nhem(cli.nhem).await,
        Some(ProfileCommand::Nhem(settings)) => serve_nhem(settings).await,
        Some(ProfileCommand::Ecg(settings)) => serve_ecg(settings).await,
    }
}

async fn serve_ecg(settings: EcgSettings) -> ExitCode {
    init_logging(&settings.log);
    let listener = match EcgServer::bind(&settings).await {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let source = settings.source.as_ref().map_or_else(
        || format!("synthetic PQRST (seed {})", settings.seed),
        |p| p.display().to_string(),
    );
    let (interval_ms, sample_rate) = (settings.interval_ms, settings.sample_rate);
    let server = match EcgServer::prepare(settings) {
        Ok(server) => server,
        Err(e) => return fail(&e),
    };
    // The token is deliberately not logged.
    tracing::info!(%addr, interval_ms, sample_rate, %source, "ECG reference server listening: ws://{addr}{}?token=…", protocol::ecg::STREAM_PATH);
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    ecg::run(server, listener, shutdown).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn serve_nhem(settings: Settings) -> ExitCode {
    init_logging(&settings.log);

    let listeners = match Listeners::bind(&settings).await {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let http = listeners
        .http
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let ws = listeners
        .ws
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let source = settings.source.as_ref().map_or_else(
        || format!("synthetic camera (seed {})", settings.seed),
        |p| p.display().to_string(),
    );
    let (fps, data_dir) = (settings.fps, settings.data_dir.display().to_string());
    let (state, pipeline) = match prepare(settings) {
        Ok(prepared) => prepared,
        Err(e) => return fail(&e),
    };
    // The password is deliberately not logged.
    tracing::info!(%http, %ws, fps, %source, %data_dir, "NHEM reference server listening: http://{http}  ws://{ws}/");

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    run(state, pipeline, listeners, shutdown).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(2)
}

async fn stop_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: closing clients with 1001");
    shutdown.cancel();
}
