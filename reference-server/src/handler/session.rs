//! One handler connection: upgrade (any path), refuse over the connection limit with 1013 and
//! no `welcome`, greet, then read client messages in order and answer each, until the client
//! leaves, fails its auth, misses its heartbeat or the server stops.

use super::methods::{self, StreamRequest};
use super::{stream, ClientStream, Feature, HandlerServer, Peer, Store};
use crate::core::upgrade;
use crate::core::{self, outgoing::text_frame, Connection, Limits, Mailbox, SessionContext, Ws};
use futures_util::{SinkExt, StreamExt};
use protocol::handler::client::{DataC2s, RpcCall, SensorData};
use protocol::handler::server::{
    AuthResponse, DataResponse, Error, HandshakeResponse, HeartbeatResponse, Pong, PublishResponse,
    PublishS2c, ResponseS2c, RpcResponse, StreamEndResponse, StreamStartResponse,
    SubscribeResponse, UnsubscribeResponse, Welcome,
};
use protocol::handler::{
    parse_client_message, ClientMessage, CodeName, InsertId, Label, Name, Refusal,
    ServerCapabilities, ServerMessage, Text,
};
use protocol::Timestamp;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send its upgrade request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Upstream closes a connection this long after refusing its token.
const AUTH_FAILURE_CLOSE: Duration = Duration::from_millis(1000);
/// Per connection: topics subscribed, client streams open, server streams running. Upstream
/// has no bounds; these keep one client from growing the server without end.
const MAX_SUBSCRIPTIONS: usize = 1000;
const MAX_CLIENT_STREAMS: usize = 100;
const MAX_SERVER_STREAMS: usize = 16;

pub async fn run(
    server: Arc<HandlerServer>,
    connection: Connection,
    limits: Limits,
    context: SessionContext,
) {
    let Connection {
        stream,
        peer,
        id,
        over_capacity,
    } = connection;
    // Upstream's `ws` Server has no `path`: every path is the endpoint.
    let Some((stream, _head)) = upgrade::accept_head(stream, HANDSHAKE_TIMEOUT, |_| Ok(())).await
    else {
        return;
    };
    let config = core::ws_config(server.settings.max_payload);
    let metrics = server.metrics.clone();
    core::with_writer(
        stream,
        id,
        metrics.clone(),
        limits,
        |socket, out, link| async move {
            let handshake = tokio_tungstenite::accept_async_with_config(socket, Some(config));
            let mut ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(ws)) => ws,
                _ => return tracing::debug!(%peer, "WebSocket handshake failed"),
            };
            if over_capacity {
                link.closing.store(true, Relaxed);
                return core::close(&mut ws, CloseCode::Again, "Server overloaded").await;
            }
            let mailbox = Mailbox::new(out, link.clone(), metrics);
            let mut session = Session::new(&server, id, mailbox, context);
            server.connections.fetch_add(1, Relaxed);
            if session.send(&mut ws, session.welcome()).await {
                session.read_loop(&mut ws, &link).await;
            }
            server.connections.fetch_sub(1, Relaxed);
            session.end();
        },
    )
    .await;
}

/// `client_<ms>_<9 base-36 digits>`, upstream's shape; the digits are the connection id, so
/// ids are unique over the process.
fn client_id(connection: u64) -> String {
    let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let mut digits = [b'0'; 9];
    let mut n = connection;
    for d in digits.iter_mut().rev() {
        *d = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
        n /= 36;
    }
    format!("client_{ms}_{}", String::from_utf8_lossy(&digits))
}

struct Session<'a> {
    server: &'a HandlerServer,
    peer: Peer,
    client_id: String,
    authenticated: bool,
    /// Set when a token was refused: the connection closes then, and reads nothing before.
    closing_at: Option<Instant>,
    /// The last pong or `heartbeat`.
    last_heartbeat: Instant,
    /// This connection's server streams, by id (a finished one has cancelled its token).
    streams: BTreeMap<String, CancellationToken>,
    /// The topics this connection subscribed to, and the client streams it opened.
    topics: BTreeSet<String>,
    client_streams: BTreeSet<String>,
    /// Streams started by the message being answered: each starts once the replies are sent.
    after_replies: Vec<oneshot::Sender<()>>,
    /// Cancelled when the connection ends: stops its server streams.
    gone: CancellationToken,
    context: SessionContext,
}

/// What the session does after a message.
enum Next {
    Continue,
    Close(CloseCode, &'static str),
}

fn now() -> Timestamp {
    Timestamp::now_millis()
}

/// The kinds answered before authentication (PROFILES.md §1 "Before auth").
fn allowed_before_auth(message: &ClientMessage) -> bool {
    matches!(
        message,
        ClientMessage::Handshake(_)
            | ClientMessage::Auth(_)
            | ClientMessage::Heartbeat(_)
            | ClientMessage::Ping(_)
    )
}

/// Upstream's blank test: missing, `null`, or `String(value).trim() === ""`. JavaScript
/// writes a list as its items joined by commas (`null` as nothing), so `[]`, `[null]`, `[""]`
/// and `[" "]` are blank too; two or more items never are (a comma remains).
fn is_blank(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(items)) => items.len() <= 1 && items.iter().all(|i| is_blank(Some(i))),
        Some(_) => false,
    }
}

fn error(code: &str, message: impl Into<String>) -> ServerMessage {
    let message: String = message.into().chars().take(1024).collect();
    Error {
        message: Text(message),
        timestamp: Some(now()),
        code: Some(CodeName(code.to_owned())),
    }
    .into()
}

impl<'a> Session<'a> {
    fn new(server: &'a HandlerServer, id: u64, mailbox: Mailbox, context: SessionContext) -> Self {
        Session {
            server,
            peer: Peer { id, mailbox },
            client_id: client_id(id),
            authenticated: server.settings.auth_token.is_none(),
            closing_at: None,
            last_heartbeat: Instant::now(),
            streams: BTreeMap::new(),
            topics: BTreeSet::new(),
            client_streams: BTreeSet::new(),
            after_replies: Vec::new(),
            gone: CancellationToken::new(),
            context,
        }
    }

    fn welcome(&self) -> ServerMessage {
        let s = &self.server.settings;
        Welcome {
            client_id: Name(self.client_id.clone()),
            auth_required: s.auth_token.is_some(),
            server_capabilities: Some(ServerCapabilities {
                request_response: Some(s.enabled(Feature::RequestResponse)),
                pub_sub: Some(s.enabled(Feature::Pubsub)),
                rpc: Some(s.enabled(Feature::Rpc)),
                streaming: Some(s.enabled(Feature::Streaming)),
                binary_data: Some(true),
                // permessage-deflate is not negotiated (tungstenite has none).
                compression: Some(false),
            }),
            supported_client_types: Some(s.client_types.iter().map(|t| Label(t.clone())).collect()),
            timestamp: Some(now()),
        }
        .into()
    }

    /// `false` when the connection is gone.
    async fn send(&self, ws: &mut Ws, message: ServerMessage) -> bool {
        let text = message.to_value().to_string();
        ws.send(Message::Text(text.into())).await.is_ok()
    }

    async fn read_loop(&mut self, ws: &mut Ws, link: &core::Link) {
        let heartbeat = self.server.settings.heartbeat_interval();
        let mut ticks =
            heartbeat.map(|every| tokio::time::interval_at(Instant::now() + every, every));
        loop {
            let next = tokio::select! {
                _ = self.context.shutdown.cancelled() => Next::Close(CloseCode::Away, "server shutting down"),
                _ = link.writer_done.cancelled() => return,
                () = sleep_until(self.closing_at) => Next::Close(CloseCode::Policy, "Authentication failed"),
                _ = tick(&mut ticks) => {
                    let every = heartbeat.expect("ticks only with a heartbeat");
                    if self.last_heartbeat.elapsed() >= every * 2 {
                        Next::Close(CloseCode::Normal, "Heartbeat timeout")
                    } else if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                        return;
                    } else {
                        Next::Continue
                    }
                }
                incoming = ws.next() => match incoming {
                    None => return,
                    Some(Ok(Message::Text(text))) => {
                        if self.closing_at.is_some() {
                            Next::Continue
                        } else {
                            let (replies, next) = self.on_text(text.as_bytes());
                            for reply in replies {
                                if !self.send(ws, reply).await {
                                    return;
                                }
                            }
                            for go in self.after_replies.drain(..) {
                                let _ = go.send(());
                            }
                            next
                        }
                    }
                    Some(Ok(Message::Pong(_))) => {
                        self.last_heartbeat = Instant::now();
                        Next::Continue
                    }
                    Some(Ok(Message::Close(_))) => {
                        link.closing.store(true, Relaxed);
                        Next::Continue
                    }
                    // Binary frames are accepted silently; pings are answered by tungstenite.
                    Some(Ok(_)) => Next::Continue,
                    Some(Err(e)) => {
                        link.closing.store(true, Relaxed);
                        return core::fail(ws, &e).await;
                    }
                },
            };
            if let Next::Close(code, reason) = next {
                link.closing.store(true, Relaxed);
                return core::close(ws, code, reason).await;
            }
        }
    }

    /// The replies to one text message, in order, and what to do after sending them.
    fn on_text(&mut self, bytes: &[u8]) -> (Vec<ServerMessage>, Next) {
        let max = self.server.settings.max_payload;
        let message = match parse_client_message(bytes, max) {
            Ok(message) => message,
            Err(Refusal::InvalidJson(_)) => {
                return (
                    vec![error("INVALID_JSON", "Invalid message format")],
                    Next::Continue,
                )
            }
            // The decided gate: before auth, every type but the session's own gets this.
            Err(Refusal::UnknownType(_)) if !self.authenticated => {
                return (
                    vec![error("AUTH_REQUIRED", "Authentication required")],
                    Next::Continue,
                )
            }
            // An `auth` without a usable token is a failed auth: refused, then closed.
            Err(Refusal::Invalid { kind: "auth", .. }) => {
                return (vec![self.authenticate(None)], Next::Continue)
            }
            Err(Refusal::UnknownType(name)) => {
                let name: String = name
                    .as_deref()
                    .unwrap_or("undefined")
                    .chars()
                    .take(64)
                    .collect();
                let reply = error(
                    "UNKNOWN_MESSAGE_TYPE",
                    format!("Unknown message type: {name}"),
                );
                return (vec![reply], Next::Continue);
            }
            Err(Refusal::Invalid { kind, error: e }) => {
                let gated = !matches!(kind, "handshake" | "auth" | "heartbeat" | "ping");
                if gated && !self.authenticated {
                    return (
                        vec![error("AUTH_REQUIRED", "Authentication required")],
                        Next::Continue,
                    );
                }
                let reply = error("VALIDATION_ERROR", format!("Invalid message format: {e}"));
                return (vec![reply], Next::Continue);
            }
        };
        if !self.authenticated && !allowed_before_auth(&message) {
            return (
                vec![error("AUTH_REQUIRED", "Authentication required")],
                Next::Continue,
            );
        }
        (self.handle(message).into_iter().collect(), Next::Continue)
    }

    fn disabled(&self, feature: Feature) -> Option<ServerMessage> {
        (!self.server.settings.enabled(feature))
            .then(|| error("FEATURE_DISABLED", feature.disabled_message()))
    }

    /// The reply (if any) to an accepted message.
    fn handle(&mut self, message: ClientMessage) -> Option<ServerMessage> {
        Some(match message {
            ClientMessage::Handshake(_) => HandshakeResponse {
                success: true,
                client_id: Some(Name(self.client_id.clone())),
                server_version: Some(Label(protocol::handler::SERVER_VERSION.into())),
                timestamp: Some(now()),
            }
            .into(),
            ClientMessage::Auth(auth) => self.authenticate(Some(auth.token.0.as_bytes())),
            ClientMessage::Data(data) => self.store(&data),
            ClientMessage::SensorData(reading) => self.store_reading(&reading),
            ClientMessage::Request(request) => {
                if let Some(refused) = self.disabled(Feature::RequestResponse) {
                    return Some(refused);
                }
                let answer =
                    methods::answer_request(request.endpoint.as_str(), request.data.as_ref());
                let (data, error) = match answer {
                    Ok(data) => (data, None),
                    Err(e) => (Value::Null, Some(e)),
                };
                ResponseS2c {
                    request_id: request.request_id,
                    success: error.is_none(),
                    data: Some(data),
                    timestamp: Some(now()),
                    error: Some(error),
                }
                .into()
            }
            // No request of ours is pending: a reply to an unknown id is ignored.
            ClientMessage::Response(_) => return None,
            ClientMessage::Subscribe(subscribe) => {
                if let Some(refused) = self.disabled(Feature::Pubsub) {
                    return Some(refused);
                }
                let topic = subscribe.topic.as_str();
                if !self.topics.contains(topic) && self.topics.len() >= MAX_SUBSCRIPTIONS {
                    return Some(
                        SubscribeResponse {
                            success: false,
                            topic: subscribe.topic,
                            timestamp: Some(now()),
                        }
                        .into(),
                    );
                }
                self.topics.insert(topic.to_owned());
                self.server.topics.subscribe(topic, &self.peer);
                SubscribeResponse {
                    success: true,
                    topic: subscribe.topic,
                    timestamp: Some(now()),
                }
                .into()
            }
            ClientMessage::Unsubscribe(unsubscribe) => {
                self.topics.remove(unsubscribe.topic.as_str());
                self.server
                    .topics
                    .unsubscribe(unsubscribe.topic.as_str(), self.peer.id);
                UnsubscribeResponse {
                    success: true,
                    topic: unsubscribe.topic,
                    timestamp: Some(now()),
                }
                .into()
            }
            ClientMessage::Publish(publish) => {
                if let Some(refused) = self.disabled(Feature::Pubsub) {
                    return Some(refused);
                }
                let delivered = ServerMessage::from(PublishS2c {
                    topic: publish.topic.clone(),
                    data: publish.data,
                    timestamp: Some(now()),
                });
                let frame = text_frame(&delivered.to_value().to_string());
                self.server
                    .topics
                    .publish(publish.topic.as_str(), &frame, self.peer.id);
                PublishResponse {
                    success: true,
                    topic: publish.topic,
                    timestamp: Some(now()),
                }
                .into()
            }
            ClientMessage::RpcCall(call) => {
                if let Some(refused) = self.disabled(Feature::Rpc) {
                    return Some(refused);
                }
                self.call(call)
            }
            ClientMessage::StreamStart(start) => {
                if let Some(refused) = self.disabled(Feature::Streaming) {
                    return Some(refused);
                }
                let id = start.stream_id.as_str();
                if !self.client_streams.contains(id)
                    && self.client_streams.len() >= MAX_CLIENT_STREAMS
                {
                    return Some(
                        StreamStartResponse {
                            success: false,
                            stream_id: start.stream_id,
                            timestamp: Some(now()),
                        }
                        .into(),
                    );
                }
                self.client_streams.insert(id.to_owned());
                let registered = ClientStream {
                    owner: self.peer.id,
                    client_id: self.client_id.clone(),
                    stream_type: start.stream_type.0,
                    started_at: now().to_string(),
                };
                self.server
                    .client_streams()
                    .insert(start.stream_id.0.clone(), registered);
                StreamStartResponse {
                    success: true,
                    stream_id: start.stream_id,
                    timestamp: Some(now()),
                }
                .into()
            }
            ClientMessage::StreamData(data) => {
                if self
                    .server
                    .client_streams()
                    .contains_key(data.stream_id.as_str())
                {
                    return None;
                }
                error(
                    "UNKNOWN_STREAM",
                    format!("Unknown stream: {}", data.stream_id),
                )
            }
            ClientMessage::StreamEnd(end) => {
                self.client_streams.remove(end.stream_id.as_str());
                self.server.client_streams().remove(end.stream_id.as_str());
                if let Some(stop) = self.streams.remove(end.stream_id.as_str()) {
                    stop.cancel();
                }
                StreamEndResponse {
                    success: true,
                    stream_id: end.stream_id,
                    timestamp: Some(now()),
                }
                .into()
            }
            ClientMessage::Heartbeat(_) => {
                self.last_heartbeat = Instant::now();
                HeartbeatResponse { timestamp: now() }.into()
            }
            ClientMessage::Ping(_) => Pong { timestamp: now() }.into(),
        })
    }

    /// Every `auth` is checked, also after a good one; a refusal closes in a second.
    /// `None`: the `auth` had no string token (or one over 4,096 characters).
    fn authenticate(&mut self, token: Option<&[u8]>) -> ServerMessage {
        let Some(expected) = &self.server.settings.auth_token else {
            return AuthResponse {
                success: true,
                message: Some(Text("Authentication not required".into())),
                timestamp: Some(now()),
            }
            .into();
        };
        let good = token.is_some_and(|t| bool::from(t.ct_eq(expected.expose().as_bytes())));
        self.authenticated = good;
        let message = if good {
            "Authentication successful"
        } else {
            // The token is deliberately not logged.
            tracing::debug!(client = %self.client_id, "handler auth token refused");
            self.closing_at = Some(Instant::now() + AUTH_FAILURE_CLOSE);
            "Invalid authentication token"
        };
        AuthResponse {
            success: good,
            message: Some(Text(message.into())),
            timestamp: Some(now()),
        }
        .into()
    }

    fn store(&self, data: &DataC2s) -> ServerMessage {
        self.data_response(&data.data, data.request_id.clone())
    }

    /// `sensor_data`: the whole message is the data (upstream).
    fn store_reading(&self, reading: &SensorData) -> ServerMessage {
        let Value::Object(fields) = members(reading) else {
            unreachable!("a sensor reading serializes to an object")
        };
        let request_id = fields
            .get("requestId")
            .and_then(Value::as_str)
            .filter(|id| (1..=256).contains(&id.chars().count()))
            .map(Name::from);
        self.data_response(&fields, request_id)
    }

    fn data_response(&self, data: &Map<String, Value>, request_id: Option<Name>) -> ServerMessage {
        let settings = &self.server.settings;
        let valid = settings
            .required_fields
            .iter()
            .all(|field| !is_blank(data.get(field)));
        if !valid {
            return DataResponse {
                success: false,
                timestamp: Some(now()),
                insert_id: None,
                message: Some(Text("Data validation failed".into())),
                request_id,
            }
            .into();
        }
        let insert_id =
            (settings.store == Store::Memory).then(|| InsertId(self.server.insert_id()));
        DataResponse {
            success: true,
            timestamp: Some(now()),
            insert_id,
            message: None,
            request_id,
        }
        .into()
    }

    fn call(&mut self, call: RpcCall) -> ServerMessage {
        let reply = |success: bool, data: Option<Value>, error: Option<String>| -> ServerMessage {
            RpcResponse {
                request_id: call.request_id.clone(),
                success,
                data,
                error: error.map(|e| Text(e.chars().take(1024).collect())),
                timestamp: Some(now()),
            }
            .into()
        };
        let method = call.method.as_str();
        if method == "streams.start" {
            if !self.server.settings.enabled(Feature::Streaming) {
                return reply(
                    false,
                    None,
                    Some(Feature::Streaming.disabled_message().into()),
                );
            }
            return match StreamRequest::from_params(call.params.as_ref()) {
                Ok(request) => match self.start_stream(request) {
                    Ok(id) => reply(true, Some(serde_json::json!({ "streamId": id })), None),
                    Err(e) => reply(false, None, Some(e)),
                },
                Err(e) => reply(false, None, Some(e)),
            };
        }
        match methods::call(method, call.params.as_ref(), &|| self.server.view()) {
            Some(Ok(data)) => reply(true, Some(data), None),
            Some(Err(e)) => reply(false, None, Some(e)),
            None => reply(false, None, Some(format!("Method {method} not found"))),
        }
    }

    /// Starts a server stream (replacing one of the same id) once the `rpc_response` is sent,
    /// so its `stream_start` follows the reply.
    fn start_stream(&mut self, request: StreamRequest) -> Result<String, String> {
        // Streams that ended by themselves have cancelled their tokens.
        self.streams.retain(|_, stop| !stop.is_cancelled());
        let replacing = request
            .stream_id
            .as_ref()
            .is_some_and(|id| self.streams.contains_key(id));
        if !replacing && self.streams.len() >= MAX_SERVER_STREAMS {
            return Err(format!(
                "at most {MAX_SERVER_STREAMS} server streams per connection; end one first"
            ));
        }
        let id = request
            .stream_id
            .clone()
            .unwrap_or_else(|| format!("stream_{}", self.server.next_stream.fetch_add(1, Relaxed)));
        if let Some(previous) = self.streams.remove(&id) {
            previous.cancel();
        }
        let stop = self.gone.child_token();
        self.streams.insert(id.clone(), stop.clone());
        let mailbox = self.peer.mailbox.clone();
        let (go, ready) = oneshot::channel();
        self.after_replies.push(go);
        let stream_id = id.clone();
        self.context.tracker.spawn(async move {
            // Dropped unsent: the connection ended before the reply went out.
            if ready.await.is_ok() {
                stream::run(request, stream_id, mailbox, stop).await;
            }
        });
        Ok(id)
    }

    /// The connection closed: stop its streams, forget its subscriptions.
    fn end(&self) {
        self.gone.cancel();
        for topic in &self.topics {
            self.server.topics.unsubscribe(topic, self.peer.id);
        }
        self.server.forget_streams(self.peer.id);
    }
}

/// A message's members as a JSON object (without `type`).
fn members<T: serde::Serialize>(message: &T) -> Value {
    serde_json::to_value(message).expect("messages serialize to JSON without fail")
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
