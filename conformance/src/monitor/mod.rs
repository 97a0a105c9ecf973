//! The monitor server suite (PROFILES.md §2, ids `monitor.ws.*`), against any server over the
//! wire.
//!
//! The subject is a base URL (`ws://host:8080`) to which the cases append the four endpoints,
//! with the API key as `Authorization: Bearer`. Three groups run concurrently:
//! - `auth`: the greeting, a wrong key and no key, each on its own connection;
//! - `stream`: one long capture of `/ws` (schemas, unique ids, the alert lifecycle, cadence),
//!   captures of the three single-family endpoints (isolation), and a filtered `/ws` client
//!   whose window lies inside the long capture (filters);
//! - `input`: ping/pong, the rate limit, bad input and `request_data`, each on its own
//!   connection of the quiet `/ws/status` or `/ws/performance`;
//!
//! then, alone and only when asked (`--idle-timeout`), the idle timeout. A case that cannot be
//! judged because another rule broke first (no pong to use as a barrier, no alert in the window)
//! is informational, so one fault fails one case.

mod auth;
mod input;
pub mod probe;
mod stream;

use crate::cases::{in_registry_order, CaseInfo, Ctx};
use crate::outcome::CaseResult;
use crate::record::{RecordError, Transcript};
use crate::wire::{Event, WireError, WsConn};
use protocol::monitor::Endpoint;
use protocol::Profile;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

macro_rules! cases {
    ($($id:literal => $title:literal,)+) => {
        /// Every case of the monitor suite, in report order.
        pub const CASES: &[CaseInfo] = &[$(CaseInfo { id: $id, title: $title },)+];
    };
}

cases! {
    "monitor.ws.connection.greeting" => "With the Bearer key, the first message is connection/connected and client_id echoes X-Client-ID",
    "monitor.ws.auth.bad_key" => "A wrong key gets connection/error or error AUTHENTICATION_FAILED, then a close (1008)",
    "monitor.ws.auth.missing_key" => "No Authorization header gets connection/error or error AUTHENTICATION_FAILED, then a close (1008)",
    "monitor.ws.envelope.schema" => "Every server message validates against its kind's schema (type, id, timestamp, data)",
    "monitor.ws.envelope.unique_ids" => "No message id repeats on one connection",
    "monitor.ws.ping.pong" => "A ping gets a pong within 1 s",
    "monitor.ws.endpoint.isolation" => "/ws/performance, /ws/alerts and /ws/status carry only their own family",
    "monitor.ws.filters" => "subscribe alert.cpu with level critical delivers exactly the critical CPU alerts, performance keeps coming, unsubscribe mutes",
    "monitor.ws.alert.lifecycle" => "Each alert_id is raised at most once and resolved at most once, never re-raised after",
    "monitor.ws.rate_limit" => "A burst of limit+1 messages gets RATE_LIMIT_EXCEEDED with an integer retry_after; the connection stays open",
    "monitor.ws.bad_input" => "Invalid JSON, an unknown type and a bad subscribe get errors (INVALID_JSON, UNKNOWN_MESSAGE_TYPE, VALIDATION_ERROR); the connection stays open",
    "monitor.ws.request_data" => "request_data gets one performance reply with meta.reply_to request_data (reference decision)",
    "monitor.ws.performance.cadence" => "System performance messages come every interval (± 10%) (reference decision: 1 s)",
    "monitor.ws.idle_timeout" => "A silent client is closed with 1000 after the idle timeout (run with --idle-timeout)",
}

/// The monitor suite, as the registry sees it.
pub struct MonitorSuite;

impl crate::profiles::ProfileSuite for MonitorSuite {
    fn profile(&self) -> &'static dyn Profile {
        &protocol::monitor::MONITOR
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
/// How long a server may take to greet, to answer, or to close a refused client.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// The `X-Client-ID` the suite sends.
const CLIENT_ID: &str = "conformance-1";

/// `base` + the endpoint's path (a base given with a path keeps only its scheme and authority).
fn endpoint_url(base: &str, endpoint: Endpoint) -> String {
    let base = base.trim_end_matches('/');
    let base = Endpoint::ALL
        .iter()
        .rev()
        .find_map(|e| base.strip_suffix(e.path()))
        .unwrap_or(base);
    format!("{base}{}", endpoint.path())
}

/// Connects to `endpoint` with `Authorization: Bearer <key>` (and `X-Client-ID` when given).
async fn connect(
    ctx: &Ctx,
    endpoint: Endpoint,
    key: Option<&str>,
    client_id: Option<&str>,
) -> Result<WsConn, WireError> {
    let bearer = key.map(|k| format!("Bearer {k}"));
    let mut headers = Vec::new();
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer.as_str()));
    }
    if let Some(id) = client_id {
        headers.push(("X-Client-ID", id));
    }
    WsConn::connect_with_headers(
        &endpoint_url(&ctx.ws_url, endpoint),
        &headers,
        CONNECT_WITHIN,
    )
    .await
}

/// An authorized connection whose greeting has been read (whatever it was).
async fn open(ctx: &Ctx, endpoint: Endpoint) -> Result<WsConn, String> {
    let mut conn = connect(ctx, endpoint, Some(&ctx.secret), None)
        .await
        .map_err(|e| e.to_string())?;
    match conn.next_event(ANSWER_WITHIN).await {
        Event::Json { .. } => Ok(conn),
        other => Err(format!("no greeting after the upgrade: {other:?}")),
    }
}

/// A server message as received.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub value: Value,
    pub at: Instant,
}

impl Arrival {
    fn ty(&self) -> &str {
        self.value["type"].as_str().unwrap_or_default()
    }
}

/// Everything a connection receives for `window`; the event that ended it early, if any.
async fn capture(conn: &mut WsConn, window: Duration) -> (Vec<Arrival>, Option<Event>) {
    let deadline = Instant::now() + window;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (got, None);
        }
        match conn.next_event(left).await {
            Event::Json { value, at, .. } => got.push(Arrival { value, at }),
            Event::Timeout => return (got, None),
            Event::Pong | Event::Binary(_) | Event::Text(_) => {}
            other => return (got, Some(other)),
        }
    }
}

/// Sends `ping` with `id` and reads until its `pong` (at most [`ANSWER_WITHIN`]); what arrived
/// before it, or `None` when no pong came.
async fn barrier(conn: &mut WsConn, id: &str) -> Option<Vec<Arrival>> {
    if !conn.send_json(&json!({"type": "ping", "id": id})).await {
        return None;
    }
    let deadline = Instant::now() + ANSWER_WITHIN;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.next_event(left).await {
            Event::Json { value, .. } if value["type"] == "pong" => return Some(before),
            Event::Json { value, at, .. } => before.push(Arrival { value, at }),
            Event::Pong | Event::Binary(_) | Event::Text(_) => {}
            _ => return None,
        }
    }
}

/// The stream period the server is expected to keep.
fn period(ctx: &Ctx) -> Duration {
    ctx.period.unwrap_or(Duration::from_secs(1))
}

/// Runs every case; the result is in registry order.
pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let (auth, stream, input) =
        tokio::join!(auth::cases(ctx), stream::cases(ctx), input::cases(ctx));
    let idle = input::idle_timeout(ctx).await;
    let results = auth
        .into_iter()
        .chain(stream)
        .chain(input)
        .chain([idle])
        .collect();
    in_registry_order(CASES, results)
}

/// The recorded monitor session: the seed's subscribe, a ping, then `frames` messages of
/// `/ws` (timestamps redacted).
pub async fn record(ws: &str, secret: &str, frames: usize) -> Result<Vec<Value>, RecordError> {
    let bearer = format!("Bearer {secret}");
    let url = endpoint_url(ws, Endpoint::Main);
    let mut conn = WsConn::connect_with_headers(
        &url,
        &[("Authorization", &bearer), ("X-Client-ID", CLIENT_ID)],
        CONNECT_WITHIN,
    )
    .await?;
    let mut t = Transcript::new(&protocol::monitor::MONITOR);
    match conn.next_event(CONNECT_WITHIN).await {
        Event::Json { value, .. } => t.got(value),
        _ => return Err(RecordError::NoAnswer("greet")),
    }
    for message in [
        json!({"type": "subscribe", "data": {"events": ["alert.cpu", "alert.memory"], "filters": {"level": ["warning", "critical"]}}}),
        json!({"type": "ping", "id": "record-1"}),
    ] {
        conn.send_json(&message).await;
        t.sent(message);
    }
    for _ in 0..frames + 1 {
        match conn.next_event(CONNECT_WITHIN).await {
            Event::Json { value, .. } => t.got(value),
            _ => return Err(RecordError::NoAnswer("send messages")),
        }
    }
    conn.close().await;
    Ok(t.lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_take_a_base_with_or_without_a_path() {
        for base in [
            "ws://h:8080",
            "ws://h:8080/",
            "ws://h:8080/ws",
            "ws://h:8080/ws/alerts",
        ] {
            assert_eq!(
                endpoint_url(base, Endpoint::Status),
                "ws://h:8080/ws/status",
                "{base}"
            );
        }
    }
}
