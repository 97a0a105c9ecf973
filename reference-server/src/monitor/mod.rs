//! The monitor profile's server (PROFILES.md §2): `ws://host:8080/ws`, `/ws/performance`,
//! `/ws/alerts` and `/ws/status`, with the API key as `Authorization: Bearer` on the upgrade.
//!
//! One producer (`producer`) ticks the synthetic system's streams on absolute deadlines and
//! publishes each event once: serialized and framed once, tagged with its family and `data`.
//! Each connection's writer takes from that one channel only what its endpoint carries and its
//! subscriptions admit (`core::FilteredFeed`), so filtering costs a check per client, never a
//! serialization. The session (`session`) authenticates, answers `ping`, `subscribe`,
//! `unsubscribe` and `request_data`, applies the rate limit and the idle timeout.

mod history;
mod producer;
mod ratelimit;
mod session;
pub mod settings;
pub mod synthetic;

pub use settings::{MonitorFault, MonitorSettings};

use crate::core::{self, Limits, Published, StreamMetrics};
use crate::core::{Listener, TlsSetupError};
use history::History;
use protocol::monitor::Family;
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the monitor server could not start; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum MonitorStartError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("cannot listen on {addr}: {source} (choose another port with --port / MONITOR_PORT)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("every API key must be 1 to 256 characters, and at least one is needed (set them with --api-keys or MONITOR_API_KEYS, comma-separated)")]
    ApiKeys,
}

/// Published messages a slow connection may fall behind by before it skips.
const HUB_CAPACITY: usize = 256;

/// What a connection's filter judges a published event by.
pub struct EventTag {
    pub family: Family,
    pub data: Value,
}

/// Everything the connections share.
pub struct MonitorServer {
    pub settings: MonitorSettings,
    pub metrics: Arc<StreamMetrics>,
    /// Every event, framed once.
    hub: broadcast::Sender<Arc<Published>>,
    /// The process-wide counter behind every message id (`perf_001`, `pong_002`, …).
    next_id: AtomicU64,
    history: Mutex<History>,
}

impl MonitorServer {
    pub fn prepare(settings: MonitorSettings) -> Result<Arc<Self>, MonitorStartError> {
        let key_ok = |k: &protocol::Secret| (1..=256).contains(&k.expose().chars().count());
        if settings.api_keys.is_empty() || !settings.api_keys.iter().all(key_ok) {
            return Err(MonitorStartError::ApiKeys);
        }
        let (hub, _) = broadcast::channel(HUB_CAPACITY);
        let history = History::default();
        Ok(Arc::new(MonitorServer {
            settings,
            metrics: Arc::default(),
            hub,
            next_id: AtomicU64::new(1),
            history: Mutex::new(history),
        }))
    }

    pub async fn bind(settings: &MonitorSettings) -> Result<Listener, MonitorStartError> {
        let tls = settings.tls.acceptor()?;
        let addr = SocketAddr::new(settings.bind, settings.port);
        let tcp = crate::core::listen(addr)
            .await
            .map_err(|source| MonitorStartError::Bind { addr, source })?;
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

    /// A fresh message id with `prefix`: `perf_001`, `alert_1234`.
    pub fn id(&self, prefix: &str) -> String {
        format!("{prefix}_{:03}", self.next_id.fetch_add(1, Relaxed))
    }

    /// Serializes a server message once: `{type, id, timestamp, data?, meta?}`, in that order
    /// (a `Map` would sort the envelope's members).
    pub fn envelope(
        &self,
        ty: &str,
        prefix: &str,
        timestamp: &str,
        data: Option<&Value>,
        meta: Option<Map<String, Value>>,
    ) -> String {
        let string = |s: &str| Value::from(s).to_string();
        let mut json = format!(
            "{{\"type\":{},\"id\":{},\"timestamp\":{}",
            string(ty),
            string(&self.id(prefix)),
            string(timestamp)
        );
        if let Some(data) = data {
            json.push_str(",\"data\":");
            json.push_str(&data.to_string());
        }
        if let Some(meta) = meta {
            json.push_str(",\"meta\":");
            json.push_str(&Value::Object(meta).to_string());
        }
        json.push('}');
        json
    }

    /// Publishes an event of `family` to every connection whose filter admits it.
    fn publish(&self, family: Family, prefix: &str, timestamp: &str, data: Value) {
        let json = self.envelope(family.name(), prefix, timestamp, Some(&data), None);
        let published = Published {
            frame: core::outgoing::text_frame(&json),
            tag: Box::new(EventTag { family, data }),
        };
        // No receiver (no client connected) is not an error.
        let _ = self.hub.send(Arc::new(published));
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().expect("history lock is never poisoned")
    }
}

/// Binds, prepares and runs the monitor server until `shutdown` (the binary's entry point).
pub async fn serve(
    settings: MonitorSettings,
    shutdown: CancellationToken,
) -> Result<(), MonitorStartError> {
    let listener = MonitorServer::bind(&settings).await?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let scheme = listener.tls.ws_scheme();
    let (interval_ms, anonymous) = (settings.performance_interval_ms, settings.allow_anonymous);
    let server = MonitorServer::prepare(settings)?;
    // The keys are deliberately not logged.
    tracing::info!(%addr, interval_ms, anonymous, "monitor reference server listening: {scheme}://{addr}/ws (also /ws/performance, /ws/alerts, /ws/status)");
    run(server, listener, shutdown).await;
    Ok(())
}

/// Serves `listener` until `shutdown`, then closes every connection with 1001.
pub async fn run(server: Arc<MonitorServer>, listener: Listener, shutdown: CancellationToken) {
    let tracker = TaskTracker::new();
    let limits = server.limits();
    tracker.spawn(producer::run(server.clone(), shutdown.clone()));
    let metrics = server.metrics.clone();
    let session = move |connection, context: core::SessionContext| {
        session::run(server.clone(), connection, limits, context.shutdown)
    };
    core::run_sessions(listener, limits, metrics, shutdown, tracker, session).await;
}

/// A monitor server running in the background, for tests and embedding.
pub type RunningMonitorServer = core::Running<MonitorServer>;

impl core::Running<MonitorServer> {
    pub async fn start(settings: MonitorSettings) -> Result<Self, MonitorStartError> {
        let listener = MonitorServer::bind(&settings).await?;
        let server = MonitorServer::prepare(settings)?;
        Ok(Self::spawn(listener, server, run))
    }
}
