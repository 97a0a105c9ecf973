//! The handler profile's server (PROFILES.md §1): the WebSocketHandler protocol on
//! `ws://host:8080/` (any path), with requests, pub/sub, RPC and streams over one socket.
//!
//! Each connection's session (`session`) reads client messages in order and answers each on
//! the same socket, so `heartbeat_response` is a barrier for everything before it. What other
//! tasks send a connection goes straight to its writer through a [`Mailbox`]: a publish is
//! serialized and framed once and posted to every other subscriber of its topic (`topics`),
//! and each `streams.start` stream is a task of its own on absolute deadlines (`stream`), so
//! neither wakes the receiving connection's reader.

mod methods;
mod session;
pub mod settings;
mod stream;
mod topics;

pub use settings::{Feature, HandlerSettings, Store};

use crate::core::{self, Limits, Mailbox, StreamMetrics};
use crate::core::{Listener, TlsSetupError};
use protocol::handler::SERVER_VERSION;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use topics::Topics;

/// Why the handler server could not start; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum HandlerStartError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("cannot listen on {addr}: {source} (choose another port with --port / HANDLER_PORT)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the auth token must be 1 to 4096 characters (set it with --auth-token or HANDLER_AUTH_TOKEN, or leave it unset to turn authentication off)")]
    Token,
    #[error("a required field name is empty (check --required-fields / HANDLER_REQUIRED_FIELDS for a stray comma)")]
    RequiredField,
}

/// A client stream (`stream_start` from a client), as `streams.list` shows it.
struct ClientStream {
    owner: u64,
    client_id: String,
    stream_type: String,
    started_at: String,
}

/// Everything the connections share.
pub struct HandlerServer {
    pub settings: HandlerSettings,
    pub metrics: Arc<StreamMetrics>,
    topics: Topics,
    /// Client streams by id; the same id again replaces the stream (upstream).
    client_streams: Mutex<BTreeMap<String, ClientStream>>,
    /// The last `insertId` given (the in-memory store).
    last_insert_id: AtomicU64,
    /// Server streams started without a `streamId`.
    next_stream: AtomicU64,
    /// Connections that got a `welcome` and are still open.
    connections: AtomicUsize,
    started: Instant,
}

impl HandlerServer {
    pub fn prepare(settings: HandlerSettings) -> Result<Arc<Self>, HandlerStartError> {
        if let Some(token) = &settings.auth_token {
            if !(1..=4096).contains(&token.expose().chars().count()) {
                return Err(HandlerStartError::Token);
            }
        }
        if settings.required_fields.iter().any(|f| f.trim().is_empty()) {
            return Err(HandlerStartError::RequiredField);
        }
        Ok(Arc::new(HandlerServer {
            settings,
            metrics: Arc::default(),
            topics: Topics::default(),
            client_streams: Mutex::default(),
            last_insert_id: AtomicU64::new(0),
            next_stream: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            started: Instant::now(),
        }))
    }

    pub async fn bind(settings: &HandlerSettings) -> Result<Listener, HandlerStartError> {
        let tls = settings.tls.acceptor()?;
        let addr = SocketAddr::new(settings.bind, settings.port);
        let tcp = crate::core::listen(addr)
            .await
            .map_err(|source| HandlerStartError::Bind { addr, source })?;
        Ok(Listener::new(tcp, tls))
    }

    fn limits(&self) -> Limits {
        Limits {
            max_connections: self.settings.max_connections,
            socket_send_buffer: self.settings.socket_send_buffer,
            slow_client_budget: Duration::from_millis(self.settings.slow_client_ms),
            // The session sends the heartbeat's pings itself (it owns the timeout).
            ping_interval: Duration::ZERO,
        }
    }

    /// The next `insertId`: strictly increasing over the process.
    fn insert_id(&self) -> u64 {
        self.last_insert_id.fetch_add(1, Relaxed) + 1
    }

    fn features(&self) -> Value {
        let s = &self.settings;
        json!({
            "requestResponse": s.enabled(Feature::RequestResponse),
            "pubSub": s.enabled(Feature::Pubsub),
            "rpc": s.enabled(Feature::Rpc),
            "streaming": s.enabled(Feature::Streaming),
        })
    }

    fn view(&self) -> methods::ServerView {
        let streams = self
            .client_streams()
            .iter()
            .map(|(id, s)| {
                json!({"streamId": id, "clientId": s.client_id, "streamType": s.stream_type, "startedAt": s.started_at})
            })
            .collect();
        methods::ServerView {
            version: SERVER_VERSION,
            features: self.features(),
            uptime: self.started.elapsed(),
            connections: self.connections.load(Relaxed),
            topics: self.topics.names(),
            streams,
        }
    }

    fn client_streams(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ClientStream>> {
        self.client_streams
            .lock()
            .expect("the stream registry lock is never poisoned")
    }

    /// The client streams a closed connection leaves behind (its session unsubscribes its
    /// own topics, so no walk over every topic is needed).
    fn forget_streams(&self, connection: u64) {
        self.client_streams().retain(|_, s| s.owner != connection);
    }
}

/// Binds, prepares and runs the handler server until `shutdown` (the binary's entry point).
pub async fn serve(
    settings: HandlerSettings,
    shutdown: CancellationToken,
) -> Result<(), HandlerStartError> {
    let listener = HandlerServer::bind(&settings).await?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let scheme = listener.tls.ws_scheme();
    let auth = settings.auth_token.is_some();
    let server = HandlerServer::prepare(settings)?;
    // The token is deliberately not logged.
    tracing::info!(%addr, auth, "handler reference server listening: {scheme}://{addr}/");
    run(server, listener, shutdown).await;
    Ok(())
}

/// Serves `listener` until `shutdown`, then closes every connection with 1001.
pub async fn run(server: Arc<HandlerServer>, listener: Listener, shutdown: CancellationToken) {
    let limits = server.limits();
    let metrics = server.metrics.clone();
    let session =
        move |connection, context| session::run(server.clone(), connection, limits, context);
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

/// A handler server running in the background, for tests and embedding.
pub type RunningHandlerServer = core::Running<HandlerServer>;

impl core::Running<HandlerServer> {
    pub async fn start(settings: HandlerSettings) -> Result<Self, HandlerStartError> {
        let listener = HandlerServer::bind(&settings).await?;
        let server = HandlerServer::prepare(settings)?;
        Ok(Self::spawn(listener, server, run))
    }
}

/// A connection's way to be reached by other tasks.
#[derive(Clone)]
struct Peer {
    id: u64,
    mailbox: Mailbox,
}
