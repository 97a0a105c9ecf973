//! `reference-server` binary: parses flags, starts one profile's server, stops on
//! SIGINT/SIGTERM. With no profile named it serves NHEM, so `reference-server --http-port …`
//! keeps working.

use clap::{Parser, Subcommand};
use reference_server::ecg::{self, EcgSettings};
use reference_server::handler::{self, HandlerSettings};
use reference_server::logging::LogFormat;
use reference_server::monitor::{self, MonitorSettings};
use reference_server::nhem::{self, Settings};
use reference_server::retroboard::{self, RetroBoardSettings};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Spec-exact reference servers for real-time WebSocket protocols. Without a profile it serves
/// NHEM (the flags below); `reference-server ecg --help` (or `monitor --help`, `handler --help`, `retroboard --help`) shows that profile's flags.
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
    /// Monitor: envelopes on /ws, /ws/performance, /ws/alerts, /ws/status; Bearer API key.
    Monitor(MonitorSettings),
    /// Handler: the WebSocketHandler protocol on ws://…:8080/ (requests, pub/sub, RPC, streams).
    Handler(HandlerSettings),
    /// RetroBoard: Socket.IO v5 (polling + WebSocket) at /socket.io/ and REST commands at /api/.
    Retroboard(RetroBoardSettings),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let stop = CancellationToken::new();
    match cli.profile {
        None => {
            let log = (cli.nhem.log.clone(), cli.nhem.log_format);
            launch(log, &stop, nhem::serve(cli.nhem, stop.clone())).await
        }
        Some(ProfileCommand::Nhem(s)) => {
            launch(
                (s.log.clone(), s.log_format),
                &stop,
                nhem::serve(s, stop.clone()),
            )
            .await
        }
        Some(ProfileCommand::Ecg(s)) => {
            launch(
                (s.log.clone(), s.log_format),
                &stop,
                ecg::serve(s, stop.clone()),
            )
            .await
        }
        Some(ProfileCommand::Monitor(s)) => {
            launch(
                (s.log.clone(), s.log_format),
                &stop,
                monitor::serve(s, stop.clone()),
            )
            .await
        }
        Some(ProfileCommand::Handler(s)) => {
            launch(
                (s.log.clone(), s.log_format),
                &stop,
                handler::serve(s, stop.clone()),
            )
            .await
        }
        Some(ProfileCommand::Retroboard(s)) => {
            launch(
                (s.log.clone(), s.log_format),
                &stop,
                retroboard::serve(s, stop.clone()),
            )
            .await
        }
    }
}

/// Starts logging and the signal handler, then runs one profile's server until it stops.
async fn launch<E: std::fmt::Display>(
    (log, format): (String, LogFormat),
    stop: &CancellationToken,
    server: impl std::future::Future<Output = Result<(), E>>,
) -> ExitCode {
    reference_server::logging::init(&log, format);
    tokio::spawn(stop_on_signal(stop.clone()));
    match server.await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
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
