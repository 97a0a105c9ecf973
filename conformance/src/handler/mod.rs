//! The handler server suite (PROFILES.md §1, ids `handler.ws.*`), against any server over the
//! wire.
//!
//! The subject is a URL (`ws://host:8080/`; the protocol accepts any path). Every case opens
//! its own connections, reads the `welcome`, and authenticates when the welcome asks for it
//! (with `--secret`). The cases run one after another, because a declared connection limit
//! (`--max-connections 3`) leaves no room for concurrent ones and each is short. Messages are
//! handled in order, so `heartbeat` → `heartbeat_response` is the barrier a case uses to know
//! that everything it sent before was handled. A case that cannot be judged because another
//! rule broke first (no barrier, no delivery to compare) is informational, so one fault fails
//! one case.

mod calls;
mod keepalive;
mod limits;
pub mod probe;
mod pubsub;
mod session;

use crate::cases::{in_registry_order, CaseInfo, Ctx};
use crate::outcome::CaseResult;
use crate::record::{RecordError, Transcript};
use crate::wire::{Event, WsConn};
use protocol::Profile;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

macro_rules! cases {
    ($($id:literal => $title:literal,)+) => {
        /// Every case of the handler suite, in report order.
        pub const CASES: &[CaseInfo] = &[$(CaseInfo { id: $id, title: $title },)+];
    };
}

cases! {
    "handler.ws.welcome" => "welcome is the first message, within 1 s, and its clientId differs across connections",
    "handler.ws.handshake" => "handshake gets a handshake_response carrying the welcome's clientId",
    "handler.ws.auth.good_token" => "auth with the good token (or any, when auth is off) gets auth_response success:true",
    "handler.ws.auth.bad_token" => "A wrong token gets auth_response success:false, then a close with 1008 within 2 s",
    "handler.ws.auth.data_before_auth" => "data before auth is refused (error or data_response success:false) when auth is required",
    "handler.ws.data" => "data and sensor_data each get data_response success:true; requestId is echoed",
    "handler.ws.data.insert_id" => "insertId is strictly increasing across connections (when present)",
    "handler.ws.data.required_fields" => "data without a required field gets success:false (run with --required-field)",
    "handler.ws.request" => "request gets a response with the same requestId within 10 s; an unknown endpoint gets success:false with an error",
    "handler.ws.rpc" => "rpc_call calculateAverage [10,20,30,40,50] returns 30 with the same requestId; an unknown method gets success:false with an error",
    "handler.ws.pubsub.delivery" => "A subscriber receives publish {topic, data} with data deep-equal to what was published",
    "handler.ws.pubsub.no_self_echo" => "The publisher does not receive its own publish",
    "handler.ws.pubsub.unsubscribe" => "After unsubscribe (and a heartbeat barrier) no publish of the topic arrives",
    "handler.ws.pubsub.cleanup" => "A disconnected subscriber is forgotten: pubsub.topics no longer lists its topic",
    "handler.ws.streams.ack" => "stream_start and stream_end are acknowledged with success and the same streamId",
    "handler.ws.streams.server" => "streams.start delivers stream_start, sequenceNumber 0,1,2… without gaps at intervalMs, then stream_end (reference decision)",
    "handler.ws.heartbeat" => "heartbeat gets a heartbeat_response",
    "handler.ws.heartbeat.pings" => "The server sends RFC 6455 pings about every heartbeat interval (run with --heartbeat-interval)",
    "handler.ws.heartbeat.timeout" => "A client that answers no ping and sends no heartbeat is closed with 1000 between 1.9× and 3.1× the interval (run with --heartbeat-interval)",
    "handler.ws.limits.connections" => "Connection N+1 gets 1013 and no welcome (run with --max-connections N)",
    "handler.ws.limits.payload" => "A message one byte over maxPayloadSize gets a close with 1009",
    "handler.ws.bad_input" => "Invalid JSON and an unknown type each get an error; the connection stays open",
    "handler.ws.schema" => "Every server message validates against its kind's schema",
}

/// The handler suite, as the registry sees it.
pub struct HandlerSuite;

impl crate::profiles::ProfileSuite for HandlerSuite {
    fn profile(&self) -> &'static dyn Profile {
        &protocol::handler::HANDLER
    }

    fn cases(&self) -> &'static [CaseInfo] {
        CASES
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> crate::profiles::CasesFuture<'a> {
        Box::pin(run(ctx))
    }

    fn probe_cases(&self) -> &'static [CaseInfo] {
        probe::CASES
    }

    fn probe(
        &self,
        request: crate::profiles::ProbeRequest,
    ) -> crate::profiles::ProbeFuture<'static> {
        Box::pin(probe::run(request))
    }

    fn record<'a>(
        &'a self,
        ws: &'a str,
        secret: &'a str,
        frames: usize,
    ) -> crate::profiles::RecordFuture<'a> {
        Box::pin(record(ws, secret, frames))
    }
}

/// How long a server may take to answer the upgrade.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// How long a server may take to answer a message (requests: `REQUEST_WITHIN`).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// The seed's `requestTimeout`: a response may take this long.
const REQUEST_WITHIN: Duration = Duration::from_secs(10);

/// A connection whose `welcome` has been read, and every message it received since.
pub(crate) struct Client {
    pub conn: WsConn,
    pub welcome: Value,
    /// Every JSON message received, the welcome first (the schema case checks them all).
    pub received: Vec<Value>,
}

impl Client {
    /// Connects and reads the welcome (any first message is kept as `welcome`).
    async fn connect(ctx: &Ctx, within: Duration) -> Result<Client, String> {
        let mut conn = WsConn::connect(&ctx.ws_url, CONNECT_WITHIN)
            .await
            .map_err(|e| e.to_string())?;
        match conn.next_event(within).await {
            Event::Json { value, .. } => Ok(Client {
                conn,
                received: vec![value.clone()],
                welcome: value,
            }),
            other => Err(format!(
                "no message within {within:?} of the upgrade: {other:?}"
            )),
        }
    }

    fn auth_required(&self) -> bool {
        self.welcome["authRequired"] == true
    }

    /// Connects, reads the welcome and, when it asks for auth, sends `handshake` and `auth`
    /// pipelined (as the seed's clients do) and waits for a successful `auth_response`.
    async fn open(ctx: &Ctx) -> Result<Client, String> {
        let mut client = Client::connect(ctx, ANSWER_WITHIN).await?;
        if client.welcome["type"] != "welcome" {
            return Err(format!(
                "the first message is not a welcome: {}",
                client.welcome
            ));
        }
        if client.auth_required() {
            if ctx.secret.is_empty() {
                return Err("the server requires auth; give its token with --secret".into());
            }
            client.send(&json!({"type": "handshake", "clientType": "application", "capabilities": ["conformance"], "version": "1.0.0"})).await;
            client
                .send(&json!({"type": "auth", "token": ctx.secret}))
                .await;
            match client.next_of("auth_response", ANSWER_WITHIN).await {
                Some(reply) if reply["success"] == true => {}
                Some(reply) => return Err(format!("the token was refused: {reply}")),
                None => return Err("no auth_response within 2 s".into()),
            }
        }
        Ok(client)
    }

    async fn send(&mut self, message: &Value) -> bool {
        self.conn.send_json(message).await
    }

    /// The next JSON message within `within` (`None`: none came, or the connection ended).
    async fn next(&mut self, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.conn.next_event(left).await {
                Event::Json { value, .. } => {
                    self.received.push(value.clone());
                    return Some(value);
                }
                Event::Text(_) | Event::Binary(_) | Event::Pong => continue,
                Event::Closed(_) | Event::Timeout => return None,
            }
        }
    }

    /// The next message of `ty` within `within`, skipping others.
    async fn next_of(&mut self, ty: &str, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.next(left).await?;
            if message["type"] == ty {
                return Some(message);
            }
        }
    }

    /// Sends `message` and waits for the first reply of `ty`.
    async fn ask(&mut self, message: Value, ty: &str, within: Duration) -> Option<Value> {
        if !self.send(&message).await {
            return None;
        }
        self.next_of(ty, within).await
    }

    /// Sends `heartbeat` and returns what arrived before its `heartbeat_response` (`None`: no
    /// barrier within 2 s).
    async fn barrier(&mut self) -> Option<Vec<Value>> {
        if !self.send(&json!({"type": "heartbeat"})).await {
            return None;
        }
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.next(left).await?;
            if message["type"] == "heartbeat_response" {
                return Some(before);
            }
            before.push(message);
        }
    }

    async fn close(mut self) -> Vec<Value> {
        self.conn.close().await;
        self.received
    }
}

/// A name no other run uses, so cases against a shared server never meet.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        crate::wire::clock::now_us() % 1_000_000_000
    )
}

/// The `data` payload the suite sends, with the declared required field filled in.
fn payload(ctx: &Ctx, extra: Value) -> Value {
    let mut data = json!({"temperature": 25.5, "humidity": 60, "location": "bedroom"});
    if let Some(field) = &ctx.declared.required_field {
        data[field] = json!("conformance");
    }
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    data
}

/// Runs every case, one group after another; the result is in registry order.
pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let mut results = Vec::new();
    let mut seen = Vec::new();
    results.extend(session::cases(ctx, &mut seen).await);
    results.extend(calls::cases(ctx, &mut seen).await);
    results.extend(pubsub::cases(ctx, &mut seen).await);
    results.extend(keepalive::cases(ctx, &mut seen).await);
    results.extend(limits::cases(ctx, &mut seen).await);
    results.push(schema_case(ctx, &seen));
    in_registry_order(CASES, results)
}

/// Every message the other cases received, classified and checked against its schema.
fn schema_case(ctx: &Ctx, seen: &[Value]) -> CaseResult {
    const ID: &str = "handler.ws.schema";
    let profile = &protocol::handler::HANDLER;
    if seen.is_empty() {
        return crate::cases::info(ID, "no server message was received to check");
    }
    for message in seen {
        let kind = match profile.classify(protocol::Direction::ServerToClient, message) {
            Ok(kind) => kind,
            Err(e) => {
                let evidence = crate::outcome::Evidence::note(e.0).with_message(message.clone());
                return crate::cases::fail(ID, evidence);
            }
        };
        if let Some(evidence) = crate::cases::schema_violation(ctx, kind, message) {
            return crate::cases::fail(ID, evidence);
        }
    }
    let kinds: std::collections::BTreeSet<&str> = seen
        .iter()
        .filter_map(|m| {
            profile
                .classify(protocol::Direction::ServerToClient, m)
                .ok()
        })
        .collect();
    crate::cases::pass(
        ID,
        format!("{} messages of {} kinds checked", seen.len(), kinds.len()),
    )
}

/// The recorded handler session: welcome, handshake, auth when asked, data, calls, a publish
/// between two connections, then `frames` messages of a 20 ms server stream.
pub async fn record(ws: &str, secret: &str, frames: usize) -> Result<Vec<Value>, RecordError> {
    let mut conn = WsConn::connect(ws, CONNECT_WITHIN).await?;
    let mut t = Transcript::new(&protocol::handler::HANDLER);
    let welcome = match conn.next_event(CONNECT_WITHIN).await {
        Event::Json { value, .. } => value,
        _ => return Err(RecordError::NoAnswer("welcome")),
    };
    let auth = welcome["authRequired"] == true;
    t.got(welcome);
    let mut script = vec![
        json!({"type": "handshake", "clientType": "application", "capabilities": ["record"], "version": "1.0.0"}),
    ];
    if auth {
        script.push(json!({"type": "auth", "token": secret}));
    }
    script.extend([
        json!({"type": "data", "dataType": "sensor", "data": {"temperature": 25.5, "humidity": 60, "location": "bedroom"}, "requestId": "rec-1"}),
        json!({"type": "request", "requestId": "req_123", "endpoint": "get_weather", "data": {"city": "New York"}}),
        json!({"type": "rpc_call", "requestId": "rpc_456", "method": "calculateAverage", "params": {"values": [10, 20, 30, 40, 50]}}),
        json!({"type": "heartbeat"}),
        json!({"type": "rpc_call", "requestId": "rec-stream", "method": "streams.start", "params": {"intervalMs": 20, "durationMs": 20 * frames as u64, "streamId": "rec-stream"}}),
    ]);
    let replies = script.len() + 2 + frames;
    for message in script {
        conn.send_json(&message).await;
        // The transcript never holds the token.
        let mut recorded = message;
        if recorded["type"] == "auth" {
            recorded["token"] = json!("<redacted>");
        }
        t.sent(recorded);
    }
    // One reply per message, then stream_start, `frames` stream_data and stream_end.
    for _ in 0..replies {
        match conn.next_event(CONNECT_WITHIN).await {
            Event::Json { value, .. } => t.got(value),
            _ => return Err(RecordError::NoAnswer("answer the recorded session")),
        }
    }
    conn.close().await;
    Ok(t.lines)
}
