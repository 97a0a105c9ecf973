//! The NHEM profile's server (DESIGN.md): HTTP on hyper (`http`), the WebSocket session on
//! the connection core (`ws`), one frame producer on absolute deadlines (`producer`) fed by the
//! detection pipeline (`pipeline`), and the shared state both protocols change (`state`,
//! persisted by `store`). [`run`] is the whole server as a library function.

pub mod api_error;
pub mod auth;
pub mod faults;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod producer;
pub mod ratelimit;
pub mod settings;
pub mod state;
pub mod store;
pub mod ws;

use crate::core::{self, Listener, TlsSetupError};
pub use settings::Settings;

use pipeline::{FrameSource, Pipeline, SignalFile, SyntheticCamera};
use state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the server could not start; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("cannot listen on {addr} for {what}: {source} (choose another port with {flag})")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        flag: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(#[from] pipeline::SignalFileError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("the password must be 1 to 256 characters (set it with --password or NHEM_PASSWORD)")]
    Password,
}

/// Both listening sockets; with `--tls-cert/--tls-key` both serve TLS (https, wss).
pub struct Listeners {
    pub http: Listener,
    pub ws: Listener,
}

impl Listeners {
    pub async fn bind(settings: &Settings) -> Result<Self, StartError> {
        let tls = settings.tls.acceptor()?;
        let bind = |port: u16, what, flag| async move {
            let addr = SocketAddr::new(settings.bind, port);
            crate::core::listen(addr)
                .await
                .map_err(|source| StartError::Bind {
                    what,
                    addr,
                    flag,
                    source,
                })
        };
        let http = bind(settings.http_port, "HTTP", "--http-port / NHEM_HTTP_PORT").await?;
        let ws = bind(
            settings.socket_port,
            "WebSocket",
            "--socket-port / NHEM_SOCKET_PORT",
        )
        .await?;
        Ok(Listeners {
            http: Listener::new(http, tls.clone()),
            ws: Listener::new(ws, tls),
        })
    }
}

/// Builds the shared state and the pipeline from the settings.
pub fn prepare(settings: Settings) -> Result<(Arc<AppState>, Pipeline), StartError> {
    if settings.password.expose().is_empty() || settings.password.expose().chars().count() > 256 {
        return Err(StartError::Password);
    }
    let source: Box<dyn FrameSource> = match &settings.source {
        Some(path) => Box::new(SignalFile::load(
            path,
            settings.frame_width,
            settings.frame_height,
        )?),
        None => Box::new(SyntheticCamera::new(
            settings.seed,
            settings.fps,
            settings.frame_width,
            settings.frame_height,
        )),
    };
    let frame_size = source.frame_size();
    let fps = settings.fps;
    let state = Arc::new(AppState::new(settings, frame_size)?);
    let (_, params, _, _, _) = state.tick_inputs();
    Ok((state, Pipeline::new(source, params, fps)))
}

/// Runs the server on `listeners` until `shutdown` is cancelled, then closes every WebSocket
/// client with 1001 and lets in-flight HTTP requests finish.
pub async fn run(
    state: Arc<AppState>,
    pipeline: Pipeline,
    listeners: Listeners,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    tracker.spawn(producer::run(state.clone(), pipeline, shutdown.clone()));
    let ws_port = listeners.ws.local_addr().map_or(0, |a| a.port());
    tracker.spawn(http::serve(
        listeners.http,
        ws_port,
        state.clone(),
        shutdown.clone(),
        tracker.clone(),
    ));
    tracker.spawn(ws::serve(
        listeners.ws,
        state.clone(),
        shutdown.clone(),
        tracker.clone(),
    ));
    shutdown.cancelled().await;
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within 5 s; exiting anyway");
    }
}

/// Binds, prepares and runs the NHEM server until `shutdown` (the binary's entry point).
pub async fn serve(settings: Settings, shutdown: CancellationToken) -> Result<(), StartError> {
    let listeners = Listeners::bind(&settings).await?;
    let address = |l: &Listener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (http, ws) = (address(&listeners.http), address(&listeners.ws));
    let (http_scheme, ws_scheme) = (
        listeners.http.tls.http_scheme(),
        listeners.ws.tls.ws_scheme(),
    );
    // Not the seed: its default equals the default password.
    let source = settings.source.as_ref().map_or_else(
        || "synthetic camera".to_owned(),
        |p| p.display().to_string(),
    );
    let (fps, data_dir) = (settings.fps, settings.data_dir.display().to_string());
    let (state, pipeline) = prepare(settings)?;
    // The password is deliberately not logged.
    tracing::info!(%http, %ws, fps, %source, %data_dir, "NHEM reference server listening: {http_scheme}://{http}  {ws_scheme}://{ws}/");
    run(state, pipeline, listeners, shutdown).await;
    Ok(())
}

/// A server running in the background, for tests and embedding.
pub struct RunningServer {
    pub http_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    pub state: Arc<AppState>,
    background: core::Background,
}

impl RunningServer {
    pub async fn start(settings: Settings) -> Result<Self, StartError> {
        let listeners = Listeners::bind(&settings).await?;
        let http_addr = listeners
            .http
            .local_addr()
            .expect("a bound listener has an address");
        let ws_addr = listeners
            .ws
            .local_addr()
            .expect("a bound listener has an address");
        let (state, pipeline) = prepare(settings)?;
        let shared = state.clone();
        let background =
            core::Background::spawn(|shutdown| run(shared, pipeline, listeners, shutdown));
        Ok(RunningServer {
            http_addr,
            ws_addr,
            state,
            background,
        })
    }

    /// Shuts down gracefully and waits until every task has ended.
    pub async fn stop(self) {
        self.background.stop().await;
    }
}
