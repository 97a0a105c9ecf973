//! `reference-server` binary: parses flags, starts the server, stops on SIGINT/SIGTERM.

use clap::Parser;
use reference_server::{prepare, run, Listeners, Settings};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = Settings::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log).unwrap_or_else(|e| {
        eprintln!(
            "warning: invalid --log filter {:?} ({e}); using \"info\"",
            settings.log
        );
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();

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
