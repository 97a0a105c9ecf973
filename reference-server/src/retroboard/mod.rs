//! The RetroBoard profile's server (PROFILES.md §4): Socket.IO v5 over Engine.IO v4 on
//! socketioxide (both transports, at `/socket.io/`), the REST commands beside it on the same
//! port, state resync on every connect and `request_state`.
//!
//! socketioxide owns Engine.IO and Socket.IO (handshake, upgrade, pings, `maxPayload`, bad
//! namespaces); this module owns the board. Every change is made and broadcast under one lock,
//! so all clients see changes in the order they were made, and a REST command answers only
//! after its events are queued to every client. The carousel rotates on its own task.

pub mod board;
mod rest;
pub mod settings;
mod tap;

pub use settings::RetroBoardSettings;
pub use tap::SessionTap;

use crate::core::{Listener, TlsSetupError};
use board::{Board, BoardError, Event};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use protocol::retroboard::{CarouselConfig, CarouselRequest, ConfigRequest, Configured, Settings};
use protocol::retroboard::{Switched, REQUEST_STATE};
use socketioxide::extract::SocketRef;
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// Why the RetroBoard server could not start; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum RetroBoardStartError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(
        "cannot listen on {addr}: {source} (choose another port with --port / RETROBOARD_PORT)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0} (set the apps with --apps or RETROBOARD_APPS, e.g. clock,scroll_text,stars)")]
    Apps(String),
    #[error("CORS origin {0:?} is not a valid origin (use * or a comma-separated list such as http://localhost:3000)")]
    Cors(String),
    #[error("pingTimeout ({timeout} s) must be longer than 0 and pingInterval ({interval} s) too")]
    Ping { interval: f64, timeout: f64 },
}

/// Everything the connections and the REST routes share.
pub struct RetroBoardServer {
    pub settings: RetroBoardSettings,
    board: Mutex<Board>,
    /// Set once, right after the Socket.IO service (which holds the REST routes) is built.
    io: OnceLock<SocketIo>,
    /// Wakes the carousel task when the carousel changes.
    carousel_changed: Notify,
    /// Told of every request and session (the conformance client probe); usually none.
    tap: Option<Arc<dyn SessionTap>>,
}

impl RetroBoardServer {
    pub fn prepare(settings: RetroBoardSettings) -> Result<Arc<Self>, RetroBoardStartError> {
        Self::prepare_with(settings, None)
    }

    /// A server that tells `tap` of every request and session.
    pub fn prepare_tapped(
        settings: RetroBoardSettings,
        tap: Arc<dyn SessionTap>,
    ) -> Result<Arc<Self>, RetroBoardStartError> {
        Self::prepare_with(settings, Some(tap))
    }

    fn prepare_with(
        settings: RetroBoardSettings,
        tap: Option<Arc<dyn SessionTap>>,
    ) -> Result<Arc<Self>, RetroBoardStartError> {
        let apps = &settings.apps;
        if apps.is_empty() {
            return Err(RetroBoardStartError::Apps("the app set is empty".into()));
        }
        for (i, app) in apps.iter().enumerate() {
            let chars = app.chars().count();
            if !(1..=protocol::retroboard::MAX_APP_CHARS).contains(&chars) {
                return Err(RetroBoardStartError::Apps(format!(
                    "app name {app:?} must be 1 to {} characters",
                    protocol::retroboard::MAX_APP_CHARS
                )));
            }
            if apps[..i].contains(app) {
                return Err(RetroBoardStartError::Apps(format!(
                    "app {app:?} is listed twice"
                )));
            }
        }
        let board = Board::new(apps.clone(), settings.carousel_enabled);
        Ok(Arc::new(RetroBoardServer {
            settings,
            board: Mutex::new(board),
            io: OnceLock::new(),
            carousel_changed: Notify::new(),
            tap,
        }))
    }

    pub async fn bind(settings: &RetroBoardSettings) -> Result<Listener, RetroBoardStartError> {
        let tls = settings.tls.acceptor()?;
        let addr = SocketAddr::new(settings.bind, settings.port);
        let tcp = crate::core::listen(addr)
            .await
            .map_err(|source| RetroBoardStartError::Bind { addr, source })?;
        Ok(Listener::new(tcp, tls))
    }

    /// The board, locked: hold it no longer than a change and its broadcast.
    pub async fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().await
    }

    /// Queues `events` to every connected client, in order (called with the board locked, so
    /// the order of changes is the order of events).
    async fn broadcast(&self, events: Vec<Event>) {
        let Some(io) = self.io.get() else { return };
        for event in events {
            if let Err(e) = io.emit(event.name, &event.payload).await {
                tracing::warn!(event = event.name, error = %e, "broadcast failed");
            }
        }
    }

    pub(crate) async fn switch(&self, app: &str) -> Result<Switched, BoardError> {
        let mut board = self.board().await;
        let events = board.switch(app)?;
        self.broadcast(events).await;
        Ok(Switched { app: app.into() })
    }

    pub(crate) async fn configure(&self, request: ConfigRequest) -> Result<Configured, BoardError> {
        let mut board = self.board().await;
        let (answer, events) = board.configure(request.app.as_deref(), request.config)?;
        self.broadcast(events).await;
        Ok(answer)
    }

    pub(crate) async fn set_carousel(
        &self,
        request: CarouselRequest,
    ) -> Result<CarouselConfig, BoardError> {
        let mut board = self.board().await;
        let events = board.set_carousel(request)?;
        self.broadcast(events).await;
        self.carousel_changed.notify_one();
        Ok(board.carousel().clone())
    }

    pub(crate) async fn set_brightness(&self, brightness: u64) -> Settings {
        let mut board = self.board().await;
        let events = board.set_brightness(brightness);
        self.broadcast(events).await;
        Settings { brightness }
    }

    /// Disconnects every client from `/` (each gets `41`, "io server disconnect").
    pub async fn disconnect_all(&self) {
        if let Some(io) = self.io.get() {
            if let Err(e) = io.disconnect().await {
                tracing::warn!(error = %e, "disconnecting every client failed");
            }
        }
    }

    /// Sends the four state events to `socket` only (on connect and on `request_state`).
    async fn send_state(&self, socket: &SocketRef) {
        let state = self.board().await.state();
        for event in state {
            if socket.emit(event.name, &event.payload).is_err() {
                return; // the client has gone; nothing to resync
            }
        }
    }

    /// Rotates the carousel while it is on, until `shutdown`.
    async fn run_carousel(&self, shutdown: CancellationToken) {
        loop {
            let dwell = self.board().await.dwell();
            let due = async {
                match dwell {
                    Some(dwell) => tokio::time::sleep(dwell).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = due => {
                    let mut board = self.board().await;
                    let events = board.rotate();
                    self.broadcast(events).await;
                }
                () = self.carousel_changed.notified() => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    fn cors(&self) -> Result<CorsLayer, RetroBoardStartError> {
        let origins = self.settings.cors_origins.trim();
        let layer = CorsLayer::new().allow_methods(Any).allow_headers(Any);
        if origins == "*" {
            return Ok(layer.allow_origin(Any));
        }
        let list = origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                hyper::header::HeaderValue::from_str(o)
                    .map_err(|_| RetroBoardStartError::Cors(o.into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(layer.allow_origin(AllowOrigin::list(list)))
    }
}

/// Binds, prepares and runs the RetroBoard server until `shutdown` (the binary's entry point).
pub async fn serve(
    settings: RetroBoardSettings,
    shutdown: CancellationToken,
) -> Result<(), RetroBoardStartError> {
    let listener = RetroBoardServer::bind(&settings).await?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let scheme = listener.tls.http_scheme();
    let server = RetroBoardServer::prepare(settings)?;
    let service = build(&server)?;
    let (interval, timeout) = (
        server.settings.ping_interval_s,
        server.settings.ping_timeout_s,
    );
    tracing::info!(%addr, ping_interval_s = interval, ping_timeout_s = timeout,
        "RetroBoard reference server listening: Socket.IO at {scheme}://{addr}/socket.io/, REST at {scheme}://{addr}/api/");
    run_with(server, service, listener, shutdown).await;
    Ok(())
}

/// The HTTP service of one server: CORS, then Socket.IO, then the REST routes.
type Service = hyper_util::service::TowerToHyperService<
    tap::Tapped<tower_http::cors::Cors<socketioxide::service::SocketIoService<rest::Rest>>>,
>;

/// Builds the Socket.IO service around the REST routes and registers the `/` namespace.
fn build(server: &Arc<RetroBoardServer>) -> Result<Service, RetroBoardStartError> {
    let settings = &server.settings;
    if !(settings.ping_interval_s > 0.0 && settings.ping_timeout_s > 0.0) {
        return Err(RetroBoardStartError::Ping {
            interval: settings.ping_interval_s,
            timeout: settings.ping_timeout_s,
        });
    }
    let (svc, io) = SocketIo::builder()
        .ping_interval(settings.ping_interval())
        .ping_timeout(settings.ping_timeout())
        .max_payload(settings.max_payload)
        .build_with_inner_svc(rest::Rest(server.clone()));
    let on_connect = {
        let server = server.clone();
        move |socket: SocketRef| {
            let server = server.clone();
            async move {
                let on_request = {
                    let server = server.clone();
                    move |socket: SocketRef| {
                        let server = server.clone();
                        async move {
                            if let Some(tap) = &server.tap {
                                tap.request_state(socket.id.as_str());
                            }
                            server.send_state(&socket).await
                        }
                    }
                };
                socket.on(REQUEST_STATE, on_request);
                if let Some(tap) = server.tap.clone() {
                    tap.connected(socket.id.as_str());
                    socket.on_disconnect(move |socket: SocketRef, reason: DisconnectReason| {
                        let heartbeat = matches!(reason, DisconnectReason::HeartbeatTimeout);
                        tap.disconnected(socket.id.as_str(), &reason.to_string(), heartbeat);
                        std::future::ready(())
                    });
                }
                server.send_state(&socket).await;
            }
        }
    };
    io.ns(protocol::retroboard::NAMESPACE, on_connect);
    let _ = server.io.set(io);
    let cors = server.cors()?;
    Ok(hyper_util::service::TowerToHyperService::new(tap::Tapped {
        inner: tower_layer::Layer::layer(&cors, svc),
        tap: server.tap.clone(),
    }))
}

/// Serves `listener` until `shutdown`, then disconnects every client.
pub async fn run(server: Arc<RetroBoardServer>, listener: Listener, shutdown: CancellationToken) {
    match build(&server) {
        Ok(service) => run_with(server, service, listener, shutdown).await,
        Err(e) => tracing::error!(error = %e, "the RetroBoard server cannot start"),
    }
}

async fn run_with(
    server: Arc<RetroBoardServer>,
    service: Service,
    listener: Listener,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    {
        let (server, shutdown) = (server.clone(), shutdown.clone());
        tracker.spawn(async move { server.run_carousel(shutdown).await });
    }
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let (tls, service, stop) = (listener.tls.clone(), service.clone(), shutdown.clone());
        tracker.spawn(async move {
            // The TLS handshake (if any) runs here, so a slow client delays only itself.
            let Some(stream) = tls.secure(stream).await else {
                return;
            };
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_headers(crate::core::upgrade::MAX_HEADER_FIELDS)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            // hyper-util's GracefulShutdown cannot watch an upgradeable connection: on
            // shutdown, let the request in flight finish, then drop the connection.
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
    }
    // Socket.IO clients get `41` and their transport closed; HTTP requests in flight finish.
    if let Some(io) = server.io.get() {
        io.close().await;
    }
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
}

/// A RetroBoard server running in the background, for tests and embedding.
pub type RunningRetroBoardServer = crate::core::Running<RetroBoardServer>;

impl crate::core::Running<RetroBoardServer> {
    pub async fn start(settings: RetroBoardSettings) -> Result<Self, RetroBoardStartError> {
        let listener = RetroBoardServer::bind(&settings).await?;
        let server = RetroBoardServer::prepare(settings)?;
        let service = build(&server)?;
        Ok(Self::spawn(
            listener,
            server,
            move |server, listener, shutdown| run_with(server, service, listener, shutdown),
        ))
    }

    /// `http://addr` or `https://addr`.
    pub fn http_base(&self) -> String {
        self.ws_base().replacen("ws", "http", 1)
    }
}
