//! `reference-server` binary: parses flags, starts one profile's server, stops on
//! SIGINT/SIGTERM. With no profile named it serves NHEM, so `reference-server --http-port …`
//! keeps working.

use clap::{Parser, Subcommand};
use reference_server::ecg::{self, EcgSettings};
use reference_server::nhem::{self, Settings};
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

/// Logging at the level `--log` asks for, except that the WebSocket library never logs below
/// INFO: at DEBUG and TRACE it prints whole frames (`Received message {"type":"auth",
/// "password":…}`) and hex dumps, and no log level may print a password or token.
fn init_logging(log: &str) {
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
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_filter(filter)
                .with_filter(no_frames),
        )
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let stop = CancellationToken::new();
    match cli.profile {
        None => {
            launch(
                &cli.nhem.log.clone(),
                &stop,
                nhem::serve(cli.nhem, stop.clone()),
            )
            .await
        }
        Some(ProfileCommand::Nhem(s)) => {
            launch(&s.log.clone(), &stop, nhem::serve(s, stop.clone())).await
        }
        Some(ProfileCommand::Ecg(s)) => {
            launch(&s.log.clone(), &stop, ecg::serve(s, stop.clone())).await
        }
    }
}

/// Starts logging and the signal handler, then runs one profile's server until it stops.
async fn launch<E: std::fmt::Display>(
    log: &str,
    stop: &CancellationToken,
    server: impl std::future::Future<Output = Result<(), E>>,
) -> ExitCode {
    init_logging(log);
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
