//! The connection core every profile's WebSocket side runs on.
//!
//! It knows sockets, not messages: the accept loop with its connection limit and connection
//! ids ([`serve`]), the request head read before the upgrade so wrong paths get an HTTP answer
//! (`upgrade`), one WebSocket configuration with small buffers ([`ws_config`]), the two tasks of
//! a connection (the profile's reader session and the shared [`writer`] with its slow-consumer
//! policy), frames serialized and framed once (`outgoing`), stream metrics, and a designed
//! shutdown (every connection runs on one `TaskTracker` and watches one cancellation token).
//! A profile supplies only the session: what to do with an upgraded connection.

pub mod fanout;
pub mod outgoing;
pub mod transport;
pub mod upgrade;
pub mod writer;

pub use transport::{Listener, ServerStream, ServerTls, TlsArgs, TlsSetupError};

/// Listens on `addr` with `SO_REUSEADDR`, so a server that crashed can listen on its port again
/// at once, while its old connections linger in TIME_WAIT (as Node and Python's HTTP servers
/// do). It does not let two live servers share a port: that needs `SO_REUSEPORT`.
pub async fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}
pub use fanout::FanOut;
pub use writer::{
    Admit, Duplex, Feed, FilteredFeed, Link, Mailbox, Out, PeriodicFeed, Published,
    MAX_QUEUED_REPLY_BYTES,
};

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A WebSocket whose writes go to the connection's writer task.
pub type Ws = WebSocketStream<Duplex>;

/// The WebSocket settings of every connection a reference server accepts.
pub fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    // Frames are small: a 4 KiB read buffer instead of tungstenite's 128 KiB keeps thousands of
    // connections cheap, and a zero write buffer writes each frame out at once.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size((1 << 20).max(max_message_bytes.saturating_add(64)))
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// Sends a close frame and waits (at most a second) for it to go out.
pub async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    // A client that does not read may never take the close frame; do not wait for it forever.
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
}

/// The close code RFC 6455 §7.4.1 names for a read error, with a reason for the client;
/// `None` for errors that are not the client's message (the connection is already gone).
pub fn close_code_for(error: &WsError) -> Option<(CloseCode, String)> {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match error {
        WsError::Capacity(_) => Some((CloseCode::Size, "message too large".into())),
        WsError::Utf8(_) => Some((
            CloseCode::Invalid,
            "a text message is not valid UTF-8".into(),
        )),
        WsError::Protocol(
            ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::SendAfterClosing
            | ProtocolError::ReceivedAfterClosing,
        ) => None,
        WsError::Protocol(violation) => Some((CloseCode::Protocol, violation.to_string())),
        _ => None,
    }
}

/// Ends a connection whose read failed: with the close frame the error calls for, if any
/// (1009 too large, 1007 invalid UTF-8, 1002 any other protocol violation).
pub async fn fail(ws: &mut Ws, error: &WsError) {
    if let Some((code, reason)) = close_code_for(error) {
        // A close reason is at most 123 bytes; tungstenite's messages are ASCII.
        let reason: String = reason.chars().take(120).collect();
        close(ws, code, &reason).await;
    }
}

/// Counters of the stream side, shared by every connection of a server.
#[derive(Debug, Default)]
pub struct StreamMetrics {
    pub frames_sent_total: AtomicU64,
    pub frames_skipped_total: AtomicU64,
    pub slow_client_disconnects_total: AtomicU64,
    /// RFC 6455 pings sent to streaming clients (see `Limits::ping_interval`).
    pub pings_sent_total: AtomicU64,
    /// Connections closed for leaving more than `MAX_QUEUED_REPLY_BYTES` of replies unread.
    pub reply_overflows_total: AtomicU64,
    /// The most reply bytes any connection has had waiting for its writer.
    pub reply_queue_high_water_bytes: AtomicU64,
    /// Frames skipped by each connected client that has skipped any (by connection id).
    skipped_by_client: Mutex<BTreeMap<u64, u64>>,
}

impl StreamMetrics {
    pub fn record_skipped(&self, client: u64, frames: u64) {
        self.frames_skipped_total.fetch_add(frames, Relaxed);
        let mut by_client = self
            .skipped_by_client
            .lock()
            .expect("metrics lock is never poisoned");
        *by_client.entry(client).or_default() += frames;
    }

    pub fn client_gone(&self, client: u64) {
        self.skipped_by_client
            .lock()
            .expect("metrics lock is never poisoned")
            .remove(&client);
    }

    /// `(connection id, frames skipped)` of every connected client that skipped any.
    pub fn skipped_by_client(&self) -> Vec<(u64, u64)> {
        self.skipped_by_client
            .lock()
            .expect("metrics lock is never poisoned")
            .iter()
            .map(|(id, n)| (*id, *n))
            .collect()
    }
}

/// `SO_SNDBUF` of every WebSocket connection unless set otherwise: 16 KiB (32 KiB once Linux
/// doubles it) instead of the kernel's self-tuning buffer, which grows to megabytes per
/// connection. It bounds what a stalled client holds on the server's side; the client's own
/// receive buffer can still grow, which is why a stalled client is found by [`Limits::ping_interval`].
pub const DEFAULT_SOCKET_SEND_BUFFER: usize = 16 * 1024;

/// How often a streaming client is sent an RFC 6455 ping unless set otherwise.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(5);

/// The limits the accept loop and the writer apply.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// `SO_SNDBUF` for each accepted socket; 0 keeps the kernel's default.
    pub socket_send_buffer: usize,
    /// How long a client may stay behind its stream, block a write, or take to answer a ping.
    pub slow_client_budget: Duration,
    /// A streaming client is pinged this often (at most once per budget) and must answer
    /// within the slow-client budget.
    /// Its kernel can accept frames for minutes after it stopped reading (a receive buffer
    /// that grew to 400 KB was seen on loopback), so only the missing pong tells. Zero: never.
    pub ping_interval: Duration,
}

/// One accepted connection (its TLS handshake done, if the server serves TLS), not yet
/// upgraded.
pub struct Connection {
    pub stream: ServerStream,
    pub peer: SocketAddr,
    /// Unique per server process, from 1.
    pub id: u64,
    /// More connections are open than [`Limits::max_connections`]: the session should refuse
    /// this one in its protocol's words.
    pub over_capacity: bool,
}

/// Accepts connections until `shutdown`; each runs `session` on `tracker`. The open count
/// and the per-client metrics are kept here, so no profile can forget them.
pub async fn serve<F, Fut>(
    listener: Listener,
    limits: Limits,
    metrics: Arc<StreamMetrics>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    session: F,
) where
    F: Fn(Connection) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let next_id = AtomicU64::new(1);
    let open = Arc::new(AtomicU64::new(0));
    let session = Arc::new(session);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.tcp.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed on the WebSocket port");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        if limits.socket_send_buffer > 0 {
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(limits.socket_send_buffer);
        }
        let id = next_id.fetch_add(1, Relaxed);
        let over_capacity = open.fetch_add(1, Relaxed) >= limits.max_connections as u64;
        let (open, metrics) = (open.clone(), metrics.clone());
        let (session, tls) = (session.clone(), listener.tls.clone());
        tracker.spawn(async move {
            // The TLS handshake runs here, not in the accept loop: a slow client delays only
            // itself.
            if let Some(stream) = tls.secure(stream).await {
                let connection = Connection {
                    stream,
                    peer,
                    id,
                    over_capacity,
                };
                session(connection).await;
            }
            open.fetch_sub(1, Relaxed);
            metrics.client_gone(id);
        });
    }
}

/// What a session gets besides its connection: the server's shutdown, and the tracker that
/// tasks it spawns (a server stream) must run on so that shutdown waits for them.
#[derive(Clone)]
pub struct SessionContext {
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
}

/// A profile server's life: accepts on `listener` until `shutdown`, each connection running
/// `session` on `tracker` (where a profile's producers may already run), then waits up to
/// 5 s for every task to end.
pub async fn run_sessions<F, Fut>(
    listener: Listener,
    limits: Limits,
    metrics: Arc<StreamMetrics>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    session: F,
) where
    F: Fn(Connection, SessionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let context = SessionContext {
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
    };
    tracker.spawn(serve(
        listener,
        limits,
        metrics,
        shutdown.clone(),
        tracker.clone(),
        move |connection| session(connection, context.clone()),
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

/// A server running in the background (tests and embedding): one cancellation token for its
/// designed shutdown, one task to wait for.
pub struct Background {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Spawns `run(shutdown)`.
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(shutdown.clone()));
        Background { shutdown, task }
    }

    /// Shuts down gracefully and waits until every task has ended.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// A profile server running in the background, for tests and embedding: where it listens,
/// its shared state, and its designed shutdown. Each profile adds its own `start(settings)`.
pub struct Running<S> {
    pub addr: SocketAddr,
    pub server: Arc<S>,
    /// `ws` or `wss`.
    scheme: &'static str,
    background: Background,
}

impl<S: Send + Sync + 'static> Running<S> {
    /// Runs `run(server, listener, shutdown)` in the background.
    pub fn spawn<F, Fut>(listener: Listener, server: Arc<S>, run: F) -> Self
    where
        F: FnOnce(Arc<S>, Listener, CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let scheme = listener.tls.ws_scheme();
        let shared = server.clone();
        let background = Background::spawn(|shutdown| run(shared, listener, shutdown));
        Running {
            addr,
            server,
            scheme,
            background,
        }
    }

    /// `ws://addr` or `wss://addr` (the profile appends its path and query).
    pub fn ws_base(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Shuts down gracefully and waits until every task has ended.
    pub async fn stop(self) {
        self.background.stop().await;
    }
}

/// Splits `stream` into the reader side handed to `session` (a [`Duplex`] for tungstenite and
/// the channel to the writer) and a writer task, runs the session, then lets the writer drain.
pub async fn with_writer<S, Fut>(
    stream: ServerStream,
    id: u64,
    metrics: Arc<StreamMetrics>,
    limits: Limits,
    session: S,
) where
    S: FnOnce(Duplex, mpsc::UnboundedSender<Out>, Link) -> Fut,
    Fut: Future<Output = ()>,
{
    let (read, write) = transport::split(stream);
    let (out, out_rx) = mpsc::unbounded_channel();
    let link = Link::default();
    let duplex = Duplex::new(read, out.clone(), link.clone(), metrics.clone());
    let writer = tokio::spawn(writer::run(
        write,
        out_rx,
        id,
        metrics,
        writer::Policy {
            budget: limits.slow_client_budget,
            ping_interval: limits.ping_interval,
        },
        link.clone(),
    ));
    session(duplex, out, link).await;
    // The session has dropped its ends of the channel: the writer drains what is left and ends.
    let _ = tokio::time::timeout(Duration::from_secs(3), writer).await;
}
