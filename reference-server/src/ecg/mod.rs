//! The ECG profile's server (PROFILES.md §3): `ws://host:5000/ws/ecg/stream?token=…`.
//!
//! Each connection gets its own stream: frame k (from 1) is due at t0 + k·interval after the
//! upgrade, on absolute deadlines, and carries that *scheduled* time as its `timestamp` and
//! samples (k−1)·n … k·n−1 of the signal. A bad or missing token gets the upgrade and then a
//! bare close with 1000. Client messages are read and dropped. It runs on the shared
//! connection core, which owns the stream writer and its slow-consumer policy.

mod session;
pub mod settings;
pub mod signal;

pub use settings::{EcgFault, EcgSettings};
pub use signal::{Signal, SignalError};

use crate::core::{self, Limits, StreamMetrics};
use crate::core::{Listener, TlsSetupError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the ECG server could not start; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum EcgStartError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("cannot listen on {addr}: {source} (choose another port with --port / ECG_PORT)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error("the token must be 1 to 256 characters (set it with --token or ECG_TOKEN)")]
    Token,
    #[error("a frame would hold {0} samples; sample rate × interval must give 1 to 10000 (change --sample-rate or --interval-ms)")]
    PointsPerFrame(usize),
}

/// Everything the connections share.
pub struct EcgServer {
    pub settings: EcgSettings,
    pub signal: Signal,
    pub metrics: Arc<StreamMetrics>,
}

impl EcgServer {
    pub fn prepare(settings: EcgSettings) -> Result<Arc<Self>, EcgStartError> {
        if settings.token.expose().is_empty() || settings.token.expose().chars().count() > 256 {
            return Err(EcgStartError::Token);
        }
        let points = settings.points_per_frame();
        if !(1..=protocol::ecg::MAX_POINTS).contains(&points) {
            return Err(EcgStartError::PointsPerFrame(points));
        }
        let signal = match &settings.source {
            Some(path) => Signal::load(path)?,
            None => Signal::synthetic(settings.seed, settings.sample_rate),
        };
        Ok(Arc::new(EcgServer {
            settings,
            signal,
            metrics: Arc::default(),
        }))
    }

    pub async fn bind(settings: &EcgSettings) -> Result<Listener, EcgStartError> {
        let tls = settings.tls.acceptor()?;
        let addr = SocketAddr::new(settings.bind, settings.port);
        let tcp = crate::core::listen(addr)
            .await
            .map_err(|source| EcgStartError::Bind { addr, source })?;
        Ok(Listener::new(tcp, tls))
    }

    fn limits(&self) -> Limits {
        Limits {
            max_connections: self.settings.max_connections,
            socket_send_buffer: self.settings.socket_send_buffer,
            slow_client_budget: Duration::from_millis(self.settings.slow_client_ms),
            ping_interval: Duration::from_millis(self.settings.ping_interval_ms),
        }
    }
}

/// Binds, prepares and runs the ECG server until `shutdown` (the binary's entry point).
pub async fn serve(
    settings: EcgSettings,
    shutdown: CancellationToken,
) -> Result<(), EcgStartError> {
    let listener = EcgServer::bind(&settings).await?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let scheme = listener.tls.ws_scheme();
    let source = settings.source.as_ref().map_or_else(
        || format!("synthetic PQRST (seed {})", settings.seed),
        |p| p.display().to_string(),
    );
    let (interval_ms, sample_rate) = (settings.interval_ms, settings.sample_rate);
    let server = EcgServer::prepare(settings)?;
    // The token is deliberately not logged.
    tracing::info!(%addr, interval_ms, sample_rate, %source, "ECG reference server listening: {scheme}://{addr}{}?token=…", protocol::ecg::STREAM_PATH);
    run(server, listener, shutdown).await;
    Ok(())
}

/// Serves `listener` until `shutdown`, then closes every stream with 1001.
pub async fn run(server: Arc<EcgServer>, listener: Listener, shutdown: CancellationToken) {
    let limits = server.limits();
    let metrics = server.metrics.clone();
    let session = move |connection, context: core::SessionContext| {
        session::run(server.clone(), connection, limits, context.shutdown)
    };
    core::run_sessions(
        listener,
        limits,
        metrics,
        shutdown,
        TaskTracker::new(),
        session,
    )
    .await;
}

/// An ECG server running in the background, for tests and embedding.
pub type RunningEcgServer = core::Running<EcgServer>;

impl core::Running<EcgServer> {
    pub async fn start(settings: EcgSettings) -> Result<Self, EcgStartError> {
        let listener = EcgServer::bind(&settings).await?;
        let server = EcgServer::prepare(settings)?;
        Ok(Self::spawn(listener, server, run))
    }
}
