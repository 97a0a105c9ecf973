//! One monitor connection: route by path, read the API key and client id from the upgrade's
//! headers, upgrade, refuse (connection limit, bad key) in the protocol's words, then greet
//! with `connection`, hand the writer the filtered event feed, and answer the client's
//! messages until it leaves, idles out or the server stops.

use super::ratelimit::{RateWindow, Verdict};
use super::{EventTag, MonitorFault, MonitorServer};
use crate::core::upgrade::{self, Refusal, RequestHead};
use crate::core::{self, Connection, Feed, FilteredFeed, Limits, Out, Published, Ws};
use futures_util::{SinkExt, StreamExt};
use protocol::monitor::{
    parse_client_message, ClientMessage, Endpoint, EventName, Family, Metric, Subscriptions,
};
use protocol::Timestamp;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send its upgrade request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// What `CONNECTION_FAILED` tells a refused client to wait.
const RETRY_AFTER_MS: u64 = 5000;

/// Who the client is, from the upgrade's headers.
enum Caller {
    /// A valid key, or no key where anonymous access is allowed.
    Known { client_id: String },
    /// A wrong key, or none where one is required.
    Refused,
}

/// `Authorization: Bearer <key>` (the scheme in any case) against the configured keys, each
/// compared in constant time.
fn authenticate(server: &MonitorServer, head: &RequestHead, id: u64) -> Caller {
    let client_id = match head.header("x-client-id") {
        Some(given)
            if valid_client_id(given)
                && !server.settings.has_fault(MonitorFault::IgnoreClientId) =>
        {
            given.to_owned()
        }
        _ => format!("client_{id}"),
    };
    let key = head.header("authorization").map(|value| {
        let (scheme, key) = value.split_once(' ').unwrap_or((value, ""));
        scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
    });
    let accepted = match key {
        None => server.settings.allow_anonymous,
        Some(None) => false,
        Some(Some(key)) => {
            server.settings.has_fault(MonitorFault::AcceptWrongKey)
                || server.settings.api_keys.iter().fold(false, |found, k| {
                    // No short-circuit: every key is compared, in constant time.
                    found | bool::from(key.as_bytes().ct_eq(k.expose().as_bytes()))
                })
        }
    };
    if accepted {
        Caller::Known { client_id }
    } else {
        Caller::Refused
    }
}

/// 1–64 characters of `[A-Za-z0-9._-]`; anything else is treated as absent.
fn valid_client_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn run(
    server: Arc<MonitorServer>,
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
        match Endpoint::from_path(&head.path) {
        Some(_) => Ok(()),
        None => Err(Refusal::new(
            404,
            "Not Found",
            "no such endpoint; the monitor API serves /ws, /ws/performance, /ws/alerts and /ws/status\n",
        )),
    }
    };
    let Some((stream, head)) = upgrade::accept_head(stream, HANDSHAKE_TIMEOUT, route).await else {
        return;
    };
    let endpoint = Endpoint::from_path(&head.path).expect("routed above");
    let caller = authenticate(&server, &head, id);
    let config = core::ws_config(server.settings.max_message_bytes);
    let metrics = server.metrics.clone();
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
            let session = Session {
                server: &server,
                endpoint,
                subscriptions: Arc::default(),
            };
            if over_capacity {
                let error = session.error(
                    "CONNECTION_FAILED",
                    "连接到服务器失败: too many connections",
                    Some(RETRY_AFTER_MS),
                );
                let _ = ws.send(Message::Text(error.into())).await;
                return core::close(&mut ws, CloseCode::Again, "too many connections").await;
            }
            let client_id = match caller {
                Caller::Known { client_id } => client_id,
                Caller::Refused => {
                    // The key is deliberately not logged.
                    tracing::debug!(%peer, "monitor API key refused");
                    return session.refuse_auth(&mut ws).await;
                }
            };
            let now = Timestamp::now();
            let connected =
                json!({"status": "connected", "client_id": client_id, "server_time": now.as_str()});
            let greeting =
                server.envelope("connection", "conn", now.as_str(), Some(&connected), None);
            if ws.send(Message::Text(greeting.into())).await.is_err() {
                return;
            }
            let _ = out.send(Out::Subscribe(Feed::Filtered(session.feed())));
            drop(out);
            session.read_loop(&mut ws, &shutdown, &link).await;
        },
    )
    .await;
}

struct Session<'a> {
    server: &'a MonitorServer,
    endpoint: Endpoint,
    /// Shared with this connection's writer, whose filter reads them per event.
    subscriptions: Arc<Mutex<Subscriptions>>,
}

/// What the session does after a message.
enum Next {
    Continue,
    /// The connection is gone.
    Gone,
    Close(CloseCode, &'static str),
}

impl Session<'_> {
    fn error(&self, code: &str, message: &str, retry_after: Option<u64>) -> String {
        let mut data = json!({"code": code, "message": message});
        if let Some(ms) = retry_after {
            data["retry_after"] = ms.into();
        }
        let now = Timestamp::now();
        self.server
            .envelope("error", "error", now.as_str(), Some(&data), None)
    }

    /// Both shapes the seed shows for a refused key, then 1008 `AUTH_FAILED`.
    async fn refuse_auth(&self, ws: &mut Ws) {
        let now = Timestamp::now();
        let data = json!({"status": "error", "error_code": "AUTH_FAILED", "message": "认证失败: the API key is missing or wrong"});
        let connection =
            self.server
                .envelope("connection", "conn_error", now.as_str(), Some(&data), None);
        let error = self.error(
            "AUTHENTICATION_FAILED",
            "API密钥无效: send Authorization: Bearer <api-key> on the upgrade",
            None,
        );
        for text in [connection, error] {
            if ws.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        core::close(ws, CloseCode::Policy, "AUTH_FAILED").await;
    }

    /// The events this connection's endpoint carries and its subscriptions admit.
    fn feed(&self) -> FilteredFeed {
        let subscriptions = self.subscriptions.clone();
        let endpoint = self.endpoint;
        let leak = self.server.settings.has_fault(MonitorFault::LeakAlerts)
            && endpoint == Endpoint::Performance;
        let admit = move |published: &Published| {
            let Some(tag) = published.tag.downcast_ref::<EventTag>() else {
                return false;
            };
            let carried = endpoint.carries(tag.family) || (leak && tag.family == Family::Alert);
            carried
                && subscriptions
                    .lock()
                    .expect("subscriptions lock is never poisoned")
                    .delivers(tag.family, &tag.data)
        };
        FilteredFeed::new(self.server.hub.subscribe(), Box::new(admit))
    }

    /// Reads client messages until the client leaves, idles out, the writer gives up or the
    /// server stops.
    async fn read_loop(&self, ws: &mut Ws, shutdown: &CancellationToken, link: &core::Link) {
        let settings = &self.server.settings;
        let mut rate = RateWindow::new(
            std::time::Instant::now(),
            settings.rate_window(),
            settings.rate_limit,
        );
        let idle = settings.idle_timeout();
        let mut last_heard = Instant::now();
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => {
                    link.closing.store(true, Relaxed);
                    let error = self.error("CONNECTION_FAILED", "连接到服务器失败: the server is shutting down", Some(RETRY_AFTER_MS));
                    let _ = ws.send(Message::Text(error.into())).await;
                    return core::close(ws, CloseCode::Away, "server shutting down").await;
                }
                _ = link.writer_done.cancelled() => return,
                () = tokio::time::sleep_until(last_heard + idle) => Next::Close(CloseCode::Normal, "heartbeat timeout"),
                incoming = ws.next() => {
                    last_heard = Instant::now();
                    match incoming {
                        None => return,
                        Some(Ok(Message::Text(text))) => self.on_message(text.as_bytes(), &mut rate),
                        Some(Ok(Message::Binary(bytes))) => self.on_message(&bytes, &mut rate),
                        Some(Ok(Message::Pong(_))) => {
                            link.pong_received();
                            Replies::none()
                        }
                        Some(Ok(Message::Close(_))) => {
                            link.closing.store(true, Relaxed);
                            Replies::none()
                        }
                        Some(Ok(_)) => Replies::none(),
                        Some(Err(e)) => {
                            link.closing.store(true, Relaxed);
                            return core::fail(ws, &e).await;
                        }
                    }
                    .send(ws)
                    .await
                }
            };
            match next {
                Next::Continue => {}
                Next::Gone => return,
                Next::Close(code, reason) => {
                    link.closing.store(true, Relaxed);
                    return core::close(ws, code, reason).await;
                }
            }
        }
    }

    /// One data frame: counted against the rate limit (whatever it holds), then answered.
    fn on_message(&self, bytes: &[u8], rate: &mut RateWindow) -> Replies {
        let settings = &self.server.settings;
        if !settings.has_fault(MonitorFault::NoRateLimit) {
            match rate.check(std::time::Instant::now()) {
                Verdict::Handle => {}
                Verdict::Drop => return Replies::none(),
                Verdict::Exceeded { retry_after_ms } => {
                    let message = format!(
                        "消息频率超限: more than {} messages in {} s; wait {retry_after_ms} ms",
                        settings.rate_limit, settings.rate_window_s
                    );
                    return Replies::one(self.error(
                        "RATE_LIMIT_EXCEEDED",
                        &message,
                        Some(retry_after_ms),
                    ));
                }
            }
        }
        let refused = |code: &str, message: String| {
            if settings.has_fault(MonitorFault::CloseOnBadInput) {
                return Replies::close(CloseCode::Policy, "bad input");
            }
            Replies::one(self.error(code, &message, None))
        };
        let message = match parse_client_message(bytes, settings.max_message_bytes) {
            Ok(message) => message,
            Err(e) => return refused(e.code.as_str(), e.to_string()),
        };
        match self.handle(message) {
            Ok(replies) => replies,
            Err(problem) => refused("VALIDATION_ERROR", problem),
        }
    }

    /// A well-formed message; `Err` is a `VALIDATION_ERROR` the decoder could not see.
    fn handle(&self, message: ClientMessage) -> Result<Replies, String> {
        match message {
            ClientMessage::Ping(ping) => {
                if self.server.settings.has_fault(MonitorFault::NoPong) {
                    return Ok(Replies::none());
                }
                let meta = ping.id.map(|id| {
                    let mut meta = Map::new();
                    meta.insert("request_id".into(), id.into());
                    meta
                });
                let now = Timestamp::now();
                let mut pong = self
                    .server
                    .envelope("pong", "pong", now.as_str(), None, meta);
                if self.server.settings.has_fault(MonitorFault::RepeatPongId) {
                    let mut value: Value = serde_json::from_str(&pong).expect("our own JSON");
                    value["id"] = "pong_001".into();
                    pong = value.to_string();
                }
                Ok(Replies::one(pong))
            }
            ClientMessage::Subscribe(subscribe) => {
                let events = self.carried(subscribe.event_names())?;
                let filters = if self.server.settings.has_fault(MonitorFault::IgnoreFilters) {
                    Default::default()
                } else {
                    subscribe.filters()
                };
                self.lock().subscribe(&events, &filters);
                Ok(Replies::none())
            }
            ClientMessage::Unsubscribe(unsubscribe) => {
                let events = self.carried(unsubscribe.event_names())?;
                self.lock().unsubscribe(&events);
                Ok(Replies::none())
            }
            ClientMessage::RequestData(request) => {
                if !self.endpoint.answers_request_data() {
                    return Err(format!(
                        "request_data is answered on /ws and /ws/performance, not on {}",
                        self.endpoint.path()
                    ));
                }
                let metrics = request
                    .data
                    .metrics
                    .clone()
                    .unwrap_or_else(|| Metric::ALL.to_vec());
                let minutes = request.data.history_minutes.unwrap_or(0);
                let now = Timestamp::now();
                let now_us = protocol::timestamp::unix_micros(now.as_str()).unwrap_or(0);
                let reply = self.server.history().reply(&metrics, minutes, now_us);
                let data = serde_json::to_value(reply).expect("a reply serializes");
                let mut meta = Map::new();
                meta.insert("reply_to".into(), "request_data".into());
                if let Some(id) = request.id {
                    meta.insert("request_id".into(), id.into());
                }
                let text = self.server.envelope(
                    "performance",
                    "perf",
                    now.as_str(),
                    Some(&data),
                    Some(meta),
                );
                Ok(Replies::one(text))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscriptions> {
        self.subscriptions
            .lock()
            .expect("subscriptions lock is never poisoned")
    }

    /// The events, if every one names a family this endpoint carries.
    fn carried(&self, names: Result<Vec<EventName>, String>) -> Result<Vec<EventName>, String> {
        let events = names.map_err(|name| {
            format!("{name:?} names no event family (performance, alert, status, config, system)")
        })?;
        match events.iter().find(|e| !self.endpoint.carries(e.family)) {
            Some(e) => Err(format!(
                "{} does not carry {} events",
                self.endpoint.path(),
                e.family
            )),
            None => Ok(events),
        }
    }
}

/// What one client message is answered with.
struct Replies {
    text: Option<String>,
    close: Option<(CloseCode, &'static str)>,
}

impl Replies {
    fn none() -> Self {
        Replies {
            text: None,
            close: None,
        }
    }

    fn one(text: String) -> Self {
        Replies {
            text: Some(text),
            close: None,
        }
    }

    fn close(code: CloseCode, reason: &'static str) -> Self {
        Replies {
            text: None,
            close: Some((code, reason)),
        }
    }

    async fn send(self, ws: &mut Ws) -> Next {
        if let Some(text) = self.text {
            if ws.send(Message::Text(text.into())).await.is_err() {
                return Next::Gone;
            }
        }
        match self.close {
            Some((code, reason)) => Next::Close(code, reason),
            None => Next::Continue,
        }
    }
}
