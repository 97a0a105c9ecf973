//! The NHEM WebSocket session: authentication first, then the broadcast, pings and status
//! requests. It runs on the connection core (`core`): the core accepts, counts and limits
//! connections and owns the writer task, which writes the shared broadcast frames and applies
//! the slow-consumer policy; this module only reads the client and answers it.

use crate::core::{self, close, upgrade, Connection, Duplex, Feed, Limits, Link, Out, Ws};
use crate::nhem::auth::password_matches;
use crate::nhem::faults::Fault;
use crate::nhem::state::AppState;
use futures_util::{SinkExt, StreamExt};
use protocol::nhem::{
    parse_client_message, AuthResponse, ClientMessage, ErrorMessage, Pong, ServerMessage,
    StatusReason,
};
use protocol::{ErrorCode, Timestamp};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Accepts WebSocket clients until `shutdown`; each connection runs on `tracker`.
pub async fn serve(
    listener: core::Listener,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let limits = Limits {
        max_connections: state.settings.max_connections,
        socket_send_buffer: state.settings.socket_send_buffer,
        slow_client_budget: state.settings.slow_client_budget(),
        ping_interval: std::time::Duration::from_millis(state.settings.ws_ping_interval_ms),
    };
    let metrics = state.metrics.stream.clone();
    core::serve(
        listener,
        limits,
        metrics,
        shutdown.clone(),
        tracker,
        move |connection| connection_task(connection, limits, state.clone(), shutdown.clone()),
    )
    .await;
}

fn text(message: &ServerMessage) -> Message {
    Message::Text(Utf8Bytes::from(message.to_json()))
}

fn error_frame(error: ErrorMessage) -> Message {
    text(&ServerMessage::Error(error))
}

async fn connection_task(
    connection: Connection,
    limits: Limits,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) {
    let Connection {
        stream,
        peer,
        id,
        over_capacity,
    } = connection;
    // The request head first, so that what is not a proper upgrade gets an HTTP answer
    // (RFC 6455 §4.2.1: 400, or 426 with the version) instead of a dropped connection. NHEM
    // serves every path.
    let Some((stream, _)) =
        upgrade::accept_head(stream, state.settings.auth_timeout(), |_| Ok(())).await
    else {
        return;
    };
    let metrics = state.metrics.stream.clone();
    core::with_writer(
        stream,
        id,
        metrics,
        limits,
        |socket, out, link| async move {
            session(
                socket,
                out,
                peer,
                id,
                over_capacity,
                &state,
                &shutdown,
                &link,
            )
            .await;
        },
    )
    .await;
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
        Some(core::ws_config(state.settings.max_message_bytes)),
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
    let _ = out.send(Out::Subscribe(Feed::Shared(state.fanout.clone())));
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
        let parsed = parse_client_message(bytes.as_bytes(), state.settings.max_message_bytes);
        if let (Ok(ClientMessage::Auth(_)), Err(retry_after)) =
            (&parsed, state.auth_failures.peek(peer.ip()))
        {
            // Not checked at all: a guesser learns nothing, however fast it reconnects.
            state.metrics.auth_failures_total.fetch_add(1, Relaxed);
            let mut error = ErrorMessage::new(
                ErrorCode::RateLimited,
                format!(
                    "too many failed authentications from this address; at most {}/s",
                    state.settings.ws_auth_failures_per_s
                ),
            );
            error.retry_after = Some(retry_after);
            let _ = ws.send(error_frame(error)).await;
            close(ws, CloseCode::Policy, "too many failed authentications").await;
            return false;
        }
        match parsed {
            Ok(ClientMessage::Auth(auth))
                if password_matches(&auth.password, state.settings.password.expose())
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
                let _ = state.auth_failures.check(peer.ip());
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

/// A read error: too large a message gets PAYLOAD_TOO_LARGE first; then the close the error
/// calls for (1009, 1007, 1002), or none if the connection is gone.
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
    }
    core::fail(ws, &error).await;
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
                let mut error = ErrorMessage::from_parse_error(&e);
                if state.settings.has_fault(Fault::OwnErrorCodes) {
                    error.error_code = protocol::WireErrorCode::Other("MALFORMED_INPUT".into());
                }
                ServerMessage::Error(error)
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
                // The client is closing: no broadcast frame after our answering close; keep
                // polling so tungstenite answers the close and ends the stream.
                Some(Ok(Message::Close(_))) => link.closing.store(true, Relaxed),
                Some(Ok(Message::Pong(_))) => link.pong_received(),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    link.closing.store(true, Relaxed);
                    return read_failed(ws, e, state).await;
                }
            },
        }
    }
}
