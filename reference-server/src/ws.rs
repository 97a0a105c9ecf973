//! The WebSocket side: authentication first, then the broadcast, pings and status requests.
//!
//! Each connection is one task. It reads the client and the shared broadcast in one loop; a
//! client that cannot keep up skips stale frames (the broadcast queue is bounded) and is closed
//! when it stays behind, so it never delays anyone else.

use crate::auth::password_matches;
use crate::faults::Fault;
use crate::socket_writer::{self, Duplex, Link, Out};
use crate::state::AppState;
use futures_util::{SinkExt, StreamExt};
use protocol::nhem::{
    parse_client_message, AuthResponse, ClientMessage, ErrorMessage, Pong, ServerMessage,
    StatusReason,
};
use protocol::{ErrorCode, Timestamp};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

type Ws = WebSocketStream<Duplex>;

/// Accepts WebSocket clients until `shutdown`; each connection runs on `tracker`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let next_id = AtomicU64::new(1);
    let open = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed on the WebSocket port");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let id = next_id.fetch_add(1, Relaxed);
        let (state, shutdown, open) = (state.clone(), shutdown.clone(), open.clone());
        tracker.spawn(async move {
            let over_capacity = open.fetch_add(1, Relaxed) >= state.settings.max_connections as u64;
            connection(stream, peer, id, over_capacity, state.clone(), &shutdown).await;
            open.fetch_sub(1, Relaxed);
            state.metrics.client_gone(id);
        });
    }
}

fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    // Frames are small: a 4 KiB read buffer instead of tungstenite's 128 KiB keeps thousands of
    // connections cheap, and a zero write buffer writes each frame out at once.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

fn text(message: &ServerMessage) -> Message {
    Message::Text(Utf8Bytes::from(message.to_json()))
}

fn error_frame(error: ErrorMessage) -> Message {
    text(&ServerMessage::Error(error))
}

async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    // A client that does not read may never take the close frame; do not wait for it forever.
    let _ = timeout(std::time::Duration::from_secs(1), ws.close(Some(frame))).await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    over_capacity: bool,
    state: Arc<AppState>,
    shutdown: &CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    if state.settings.socket_send_buffer > 0 {
        let _ =
            socket2::SockRef::from(&stream).set_send_buffer_size(state.settings.socket_send_buffer);
    }
    let (read, write) = stream.into_split();
    let (out, out_rx) = mpsc::unbounded_channel();
    let link = Link::default();
    let writer = tokio::spawn(socket_writer::run(
        write,
        out_rx,
        id,
        state.clone(),
        link.clone(),
    ));
    session(
        Duplex::new(read, out.clone()),
        out,
        peer,
        id,
        over_capacity,
        &state,
        shutdown,
        &link,
    )
    .await;
    // The session has dropped its ends of the channel: the writer drains what is left and ends.
    let _ = timeout(std::time::Duration::from_secs(3), writer).await;
}

#[allow(clippy::too_many_arguments)]
async fn session(
    socket: Duplex,
    out: mpsc::UnboundedSender<Out>,
    peer: SocketAddr,
    id: u64,
    over_capacity: bool,
    state: &AppState,
    shutdown: &CancellationToken,
    link: &Link,
) {
    let handshake = tokio_tungstenite::accept_async_with_config(
        socket,
        Some(ws_config(state.settings.max_message_bytes)),
    );
    let mut ws = match timeout(state.settings.auth_timeout(), handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "WebSocket handshake failed"),
        Err(_) => return tracing::debug!(%peer, "WebSocket handshake timed out"),
    };
    state.metrics.ws_connections_total.fetch_add(1, Relaxed);
    if over_capacity {
        state.metrics.ws_refused_total.fetch_add(1, Relaxed);
        let refusal = ErrorMessage::new(
            ErrorCode::TooManyConnections,
            format!(
                "the server accepts at most {} connections; try again later",
                state.settings.max_connections
            ),
        );
        let _ = ws.send(error_frame(refusal)).await;
        return close(&mut ws, CloseCode::Again, "too many connections").await;
    }
    if !authenticate(&mut ws, peer, state).await {
        return;
    }
    tracing::debug!(%peer, id, "client authenticated");
    // Sent after auth_response and the initial status, through the same channel, so the
    // writer starts the broadcast only once those are written.
    let _ = out.send(Out::Subscribe(state.fanout.subscribe()));
    drop(out);
    read_loop(&mut ws, state, shutdown, link).await;
    state.metrics.ws_clients.fetch_sub(1, Relaxed);
    tracing::debug!(%peer, id, "client disconnected");
}

/// Waits for `auth` within the timeout. Other messages get an error and the wait goes on;
/// a wrong password gets `auth_response` with `success: false` and a 1008 close. On success
/// the client is counted in `ws_clients`; the caller uncounts it when it leaves.
async fn authenticate(ws: &mut Ws, peer: SocketAddr, state: &AppState) -> bool {
    let deadline = Instant::now() + state.settings.auth_timeout();
    loop {
        let incoming = match timeout_at(deadline.into(), ws.next()).await {
            Err(_) => {
                state.metrics.auth_failures_total.fetch_add(1, Relaxed);
                let error = ErrorMessage::new(
                    ErrorCode::AuthTimeout,
                    format!(
                        "no auth message within {} ms",
                        state.settings.auth_timeout_ms
                    ),
                );
                let _ = ws.send(error_frame(error)).await;
                close(ws, CloseCode::Policy, "authentication timeout").await;
                return false;
            }
            Ok(None) => return false,
            Ok(Some(incoming)) => incoming,
        };
        let bytes = match incoming {
            Ok(Message::Text(t)) => t,
            Ok(Message::Binary(_)) => {
                let _ = ws.send(error_frame(binary_refused())).await;
                continue;
            }
            Ok(Message::Close(_)) => {
                // tungstenite has queued the close reply; polling on sends it and ends cleanly.
                let _ = timeout(std::time::Duration::from_secs(1), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                return false;
            }
            Ok(_) => continue,
            Err(e) => {
                read_failed(ws, e, state).await;
                return false;
            }
        };
        match parse_client_message(bytes.as_bytes(), state.settings.max_message_bytes) {
            Ok(ClientMessage::Auth(auth))
                if password_matches(&auth.password, &state.settings.password)
                    || state.settings.has_fault(Fault::AcceptWrongPassword) =>
            {
                // Counted before the initial status, so that status includes this client.
                state.metrics.ws_clients.fetch_add(1, Relaxed);
                let ok = AuthResponse {
                    success: true,
                    message: "Authentication successful".into(),
                };
                let initial = ServerMessage::Status(state.status_message(StatusReason::Initial));
                // A failed send here ends the broadcast loop at its first read.
                let _ = ws.send(text(&ServerMessage::AuthResponse(ok))).await;
                let _ = ws.send(text(&initial)).await;
                return true;
            }
            Ok(ClientMessage::Auth(_)) => {
                state.metrics.auth_failures_total.fetch_add(1, Relaxed);
                tracing::info!(%peer, "WebSocket authentication failed");
                let refused = AuthResponse {
                    success: false,
                    message: "Authentication failed: wrong password".into(),
                };
                let _ = ws.send(text(&ServerMessage::AuthResponse(refused))).await;
                if state.settings.has_fault(Fault::NoCloseAfterFailedAuth) {
                    continue;
                }
                close(ws, CloseCode::Policy, "authentication failed").await;
                return false;
            }
            Ok(_) => {
                let error = ErrorMessage::new(
                    ErrorCode::AuthRequired,
                    "send {\"type\":\"auth\",\"password\":...} first",
                );
                let _ = ws.send(error_frame(error)).await;
            }
            Err(e) if silenced(&e, state) => {}
            Err(e) => {
                state
                    .metrics
                    .ws_messages_rejected_total
                    .fetch_add(1, Relaxed);
                let _ = ws
                    .send(error_frame(ErrorMessage::from_parse_error(&e)))
                    .await;
            }
        }
    }
}

/// Whether the no-error-on-bad-JSON fault swallows this error.
fn silenced(error: &protocol::ParseError, state: &AppState) -> bool {
    error.code == ErrorCode::InvalidJson && state.settings.has_fault(Fault::NoErrorOnBadJson)
}

fn binary_refused() -> ErrorMessage {
    ErrorMessage::new(
        ErrorCode::InvalidJson,
        "binary frames are not accepted; send JSON as text frames",
    )
}

/// A read error: too large a message gets PAYLOAD_TOO_LARGE and close 1009; others just end.
async fn read_failed(ws: &mut Ws, error: WsError, state: &AppState) {
    if let WsError::Capacity(e) = &error {
        let error = ErrorMessage::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "{e}; the limit is {} bytes",
                state.settings.max_message_bytes
            ),
        );
        let _ = ws.send(error_frame(error)).await;
        close(ws, CloseCode::Size, "message too large").await;
    }
}

/// The reply to one message from an authenticated client (`None`: no reply).
fn reply(bytes: &[u8], state: &AppState) -> Option<ServerMessage> {
    Some(
        match parse_client_message(bytes, state.settings.max_message_bytes) {
            Ok(ClientMessage::Ping(ping)) => ServerMessage::Pong(Pong {
                timestamp: Timestamp::now(),
                id: ping.id,
            }),
            Ok(ClientMessage::GetStatus(_)) => {
                ServerMessage::Status(state.status_message(StatusReason::Request))
            }
            Ok(ClientMessage::Auth(_)) => ServerMessage::Error(ErrorMessage::new(
                ErrorCode::InvalidState,
                "already authenticated",
            )),
            Err(e) if silenced(&e, state) => return None,
            Err(e) => {
                state
                    .metrics
                    .ws_messages_rejected_total
                    .fetch_add(1, Relaxed);
                ServerMessage::Error(ErrorMessage::from_parse_error(&e))
            }
        },
    )
}

/// Reads an authenticated client until it leaves, the writer gives up, or the server stops.
/// Broadcast frames never pass through here: the writer task sends them (`socket_writer`).
async fn read_loop(ws: &mut Ws, state: &AppState, shutdown: &CancellationToken, link: &Link) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                link.closing.store(true, Relaxed);
                return close(ws, CloseCode::Away, "server shutting down").await;
            }
            _ = link.writer_done.cancelled() => return,
            incoming = ws.next() => match incoming {
                None => return,
                Some(Ok(Message::Text(t))) => {
                    if let Some(answer) = reply(t.as_bytes(), state) {
                        if ws.send(text(&answer)).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    if ws.send(error_frame(binary_refused())).await.is_err() {
                        return;
                    }
                }
                // The client is closing: no more broadcast frames; keep polling so tungstenite
                // answers the close and ends the stream.
                Some(Ok(Message::Close(_))) => link.closing.store(true, Relaxed),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    link.closing.store(true, Relaxed);
                    return read_failed(ws, e, state).await;
                }
            },
        }
    }
}
