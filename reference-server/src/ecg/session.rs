//! One ECG connection: route and check the token on the request head, upgrade, then hand the
//! writer a per-connection stream and read (and drop) whatever the client sends.

use super::{EcgFault, EcgServer};
use crate::core::upgrade::{self, Refusal, RequestHead};
use crate::core::{self, Connection, Feed, Limits, Out, PeriodicFeed, Ws};
use futures_util::{SinkExt, StreamExt};
use protocol::ecg::{STREAM_PATH, TOKEN_PARAM};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send its upgrade request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

fn token_matches(given: &str, expected: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

pub async fn run(
    server: Arc<EcgServer>,
    connection: Connection,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let Connection {
        stream,
        peer,
        id,
        over_capacity,
    } = connection;
    let route = |head: &RequestHead| {
        if head.path == STREAM_PATH {
            return Ok(());
        }
        let body = format!(
            "no such endpoint; the ECG stream is ws://HOST:PORT{STREAM_PATH}?token=TOKEN\n"
        );
        Err(Refusal::new(404, "Not Found", body))
    };
    let Some((stream, head)) = upgrade::accept_head(stream, HANDSHAKE_TIMEOUT, route).await else {
        return;
    };
    let token = head.query_param(TOKEN_PARAM).unwrap_or_default();
    let authorized = !token.is_empty()
        && (token_matches(&token, server.settings.token.expose())
            || server.settings.has_fault(EcgFault::AcceptWrongToken));
    let metrics = server.metrics.clone();
    let config = core::ws_config(server.settings.max_message_bytes);
    core::with_writer(
        stream,
        id,
        metrics,
        limits,
        |socket, out, link| async move {
            let handshake = tokio_tungstenite::accept_async_with_config(socket, Some(config));
            let mut ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(ws)) => ws,
                _ => return tracing::debug!(%peer, "WebSocket handshake failed"),
            };
            if over_capacity {
                return core::close(&mut ws, CloseCode::Again, "too many connections").await;
            }
            if !authorized {
                // flask-sock: `ws.close()` with simple-websocket's default 1000, nothing sent first.
                tracing::debug!(%peer, "ECG token refused");
                return core::close(&mut ws, CloseCode::Normal, "").await;
            }
            let _ = out.send(Out::Subscribe(Feed::Periodic(stream_feed(&server))));
            drop(out);
            read_loop(&mut ws, &server, &shutdown, &link).await;
        },
    )
    .await;
}

/// This connection's stream, from now.
fn stream_feed(server: &Arc<EcgServer>) -> PeriodicFeed {
    let period = server.settings.interval();
    let period_us = period.as_micros() as i64;
    let t0 = tokio::time::Instant::now();
    // The wall-clock time of t0, for the scheduled timestamps t0 + k · period.
    let t0_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let points = server.settings.points_per_frame();
    let server = server.clone();
    PeriodicFeed::new(t0, period, move |k| {
        let faults = &server.settings.faults;
        // The scheduled time of the frame's last sample; the repeat fault reuses the last one.
        let stamped_k = if faults.contains(&EcgFault::TimestampRepeats) && k % 5 == 0 {
            k - 1
        } else {
            k
        };
        let timestamp =
            protocol::timestamp::format_unix_micros(t0_us + stamped_k as i64 * period_us);
        let mut json = String::with_capacity(points * 8 + 64);
        json.push_str("{\"points\":");
        server
            .signal
            .write_points((k - 1) * points as u64, points, &mut json);
        json.push_str(",\"timestamp\":\"");
        json.push_str(timestamp.as_str());
        json.push('"');
        if faults.contains(&EcgFault::FrameExtraField) {
            json.push_str(&format!(",\"seq\":{k}"));
        }
        json.push('}');
        core::outgoing::text_frame(&json)
    })
}

/// Reads and drops client messages until the client leaves, the writer gives up, or the
/// server stops. An oversize message is closed with 1009.
async fn read_loop(
    ws: &mut Ws,
    server: &EcgServer,
    shutdown: &CancellationToken,
    link: &core::Link,
) {
    use std::sync::atomic::Ordering::Relaxed;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                link.closing.store(true, Relaxed);
                return core::close(ws, CloseCode::Away, "server shutting down").await;
            }
            _ = link.writer_done.cancelled() => return,
            incoming = ws.next() => match incoming {
                None => return,
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    if server.settings.has_fault(EcgFault::ReplyToClient)
                        && ws.send(Message::Text("{\"ack\":true}".into())).await.is_err()
                    {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) => link.closing.store(true, Relaxed),
                Some(Ok(Message::Pong(_))) => link.pong_received(),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    link.closing.store(true, Relaxed);
                    return core::fail(ws, &e).await;
                }
            },
        }
    }
}
