//! `client --profile handler`: a probe server that handler clients connect to, judged on the
//! session they open, the answers they give and how they come back (PROFILES.md §1, "Client
//! probe").
//!
//! The script:
//! 1. **A**, the first connection, gets a `welcome` with `authRequired: true` and is served
//!    like a server would (handshake, auth with the probe's token, heartbeat, data, …).
//!    0.5 s after the welcome the probe sends what a client must survive (`data`, `broadcast`,
//!    `publish`, `error` and an unknown type), at 0.8 s two requests (one to an endpoint no
//!    client has). After `max(2.5 × heartbeat interval, 2 s)` it closes A with 1012.
//! 2. Every later connection gets `authRequired: false` and is served until the end; the
//!    first of them shows the reconnect delay.
//!
//! `--interval` is the heartbeat interval the client is expected to keep (the seed's 30 s).

use crate::cases::{fail, info, judge_client_message, non_strict, pass, CaseInfo};
use crate::outcome::{CaseResult, Evidence};
use crate::profiles::ProbeRequest;
use futures_util::{SinkExt, StreamExt};
use protocol::schema::SchemaSet;
use protocol::Timestamp;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

macro_rules! cases {
    ($($id:literal => $title:literal,)+) => {
        /// The probe's cases, in report order.
        pub const CASES: &[CaseInfo] = &[$(CaseInfo { id: $id, title: $title },)+];
    };
}

cases! {
    "handler.client.handshake" => "The client answers welcome with handshake (clientType, capabilities, version) on every connection",
    "handler.client.auth" => "When welcome.authRequired, the client sends auth with the token; otherwise it need not",
    "handler.client.no_data_before_auth" => "The client sends no data before auth_response (informational)",
    "handler.client.request_id" => "The client answers each request with a response carrying its requestId within 10 s; an unknown endpoint gets success:false with an error",
    "handler.client.heartbeat" => "The client sends heartbeat about every interval (± 20%; the seed: 30 s)",
    "handler.client.survives" => "The client stays connected after data, broadcast, publish, error and an unknown type",
    "handler.client.reconnect" => "After the server closes, the client reconnects after about 5 s, without a hot loop",
    "handler.client.messages_valid" => "Every message the client sends validates against its kind's schema",
}

/// When the probe sends what a client must survive, and its requests (after the welcome).
const SURVIVE_AT: Duration = Duration::from_millis(500);
const REQUESTS_AT: Duration = Duration::from_millis(800);
const KNOWN_REQUEST: &str = "probe-req-known";
const UNKNOWN_REQUEST: &str = "probe-req-unknown";
/// The seed clients' fixed reconnect delay.
const RECONNECT: Duration = Duration::from_secs(5);

/// What one connection did.
#[derive(Debug, Default)]
struct Visit {
    opened: Option<Instant>,
    auth_required: bool,
    /// Every text message the client sent, when.
    messages: Vec<(Instant, Value)>,
    invalid: Vec<Evidence>,
    /// When the probe accepted the client's auth (it carried the probe's token).
    auth_answered: Option<Instant>,
    closed_by_probe: Option<Instant>,
    /// When the client closed or dropped it.
    left: Option<Instant>,
}

type Log = Arc<Mutex<Vec<Visit>>>;

fn lock(log: &Log) -> std::sync::MutexGuard<'_, Vec<Visit>> {
    log.lock().expect("the probe log lock is never poisoned")
}

/// Runs the probe for `request.duration`; the verdicts on what the client did.
pub async fn run(request: ProbeRequest) -> std::io::Result<Vec<CaseResult>> {
    let listener = TcpListener::bind(request.listen).await?;
    Ok(run_on(listener, request).await)
}

pub async fn run_on(listener: TcpListener, request: ProbeRequest) -> Vec<CaseResult> {
    let interval = request.interval.unwrap_or(Duration::from_secs(30));
    let hold = interval.mul_f64(2.5).max(Duration::from_secs(2));
    let log: Log = Arc::default();
    let schemas = Arc::new(SchemaSet::load(&protocol::handler::HANDLER).expect("schemas compile"));
    let stop = CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let deadline = tokio::time::Instant::now() + request.duration;
    let token = request.secret.expose().to_owned();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let index = {
            let mut visits = lock(&log);
            visits.push(Visit::default());
            visits.len() - 1
        };
        let context = (log.clone(), schemas.clone(), stop.clone(), token.clone());
        let tls = request.tls.clone();
        tracker.spawn(async move {
            let (log, schemas, stop, token) = context;
            let Some(stream) = tls.secure(stream).await else {
                return;
            };
            serve(stream, index, hold, &token, &log, &schemas, &stop).await;
        });
    }
    stop.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), tracker.wait()).await;
    let visits = lock(&log);
    verdicts(&visits, interval, hold, request.duration, &token)
}

fn now() -> String {
    Timestamp::now_millis().to_string()
}

/// What the probe sends on A for the client to survive.
fn survive_set() -> Vec<Value> {
    vec![
        json!({"type": "data", "data": {"probe": true}, "timestamp": now()}),
        json!({"type": "broadcast", "message": "probe broadcast", "timestamp": now()}),
        json!({"type": "publish", "topic": "probe-topic", "data": {"level": "info"}, "timestamp": now()}),
        json!({"type": "error", "message": "probe error (ignore it)", "code": "VALIDATION_ERROR", "timestamp": now()}),
        json!({"type": "probe_unknown_type", "timestamp": now()}),
    ]
}

/// A server's answer to a client message (the probe serves like a handler server would).
fn answer(message: &Value, token: &str, client_id: &str) -> Option<Value> {
    let ts = now();
    Some(match message["type"].as_str()? {
        "handshake" => {
            json!({"type": "handshake_response", "success": true, "clientId": client_id, "serverVersion": "2.0.0", "timestamp": ts})
        }
        "auth" => {
            let good = message["token"] == token;
            let text = if good {
                "Authentication successful"
            } else {
                "Invalid authentication token"
            };
            json!({"type": "auth_response", "success": good, "message": text, "timestamp": ts})
        }
        "heartbeat" => json!({"type": "heartbeat_response", "timestamp": ts}),
        "ping" => json!({"type": "pong", "timestamp": ts}),
        "data" | "sensor_data" => {
            let mut reply = json!({"type": "data_response", "success": true, "timestamp": ts});
            if let Some(id) = message.get("requestId").filter(|v| v.is_string()) {
                reply["requestId"] = id.clone();
            }
            reply
        }
        "subscribe" | "unsubscribe" | "publish" => {
            let ty = format!("{}_response", message["type"].as_str()?);
            json!({"type": ty, "success": true, "topic": message["topic"], "timestamp": ts})
        }
        "request" => {
            json!({"type": "response", "requestId": message["requestId"], "success": false, "data": null, "error": "the probe serves no endpoints", "timestamp": ts})
        }
        "rpc_call" => {
            json!({"type": "rpc_response", "requestId": message["requestId"], "success": false, "error": format!("Method {} not found", message["method"].as_str().unwrap_or("")), "timestamp": ts})
        }
        "stream_start" => {
            json!({"type": "stream_start_response", "success": true, "streamId": message["streamId"], "timestamp": ts})
        }
        "stream_end" => {
            json!({"type": "stream_end_response", "success": true, "streamId": message["streamId"], "timestamp": ts})
        }
        _ => return None,
    })
}

async fn serve(
    stream: reference_server::core::ServerStream,
    index: usize,
    hold: Duration,
    token: &str,
    log: &Log,
    schemas: &SchemaSet,
    stop: &CancellationToken,
) {
    let Ok(Ok(mut ws)) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::accept_async(stream),
    )
    .await
    else {
        return;
    };
    let opened = Instant::now();
    // The first connection that upgrades takes the first role (a port check or a failed
    // upgrade before it must not).
    let first = {
        let mut visits = lock(log);
        let first = !visits.iter().any(|v| v.auth_required);
        visits[index].opened = Some(opened);
        visits[index].auth_required = first;
        first
    };
    let client_id = format!("probe_client_{index}");
    let welcome = json!({"type": "welcome", "clientId": client_id, "authRequired": first,
        "serverCapabilities": {"requestResponse": true, "pubSub": true, "rpc": true, "streaming": true, "binaryData": true, "compression": false},
        "supportedClientTypes": ["microcontroller", "application", "service"], "timestamp": now()});
    if ws
        .send(Message::Text(welcome.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let mut timeline: Vec<(Duration, Vec<Value>)> = if first {
        vec![
            (SURVIVE_AT, survive_set()),
            (
                REQUESTS_AT,
                vec![
                    json!({"type": "request", "requestId": KNOWN_REQUEST, "endpoint": "get_status", "data": {}, "timestamp": now()}),
                    json!({"type": "request", "requestId": UNKNOWN_REQUEST, "endpoint": "probe_no_such_endpoint", "data": {}, "timestamp": now()}),
                ],
            ),
        ]
    } else {
        Vec::new()
    };
    timeline.reverse();
    let close_at = first.then(|| opened + hold);
    loop {
        let next_send = timeline.last().map(|(at, _)| opened + *at);
        tokio::select! {
            _ = stop.cancelled() => {
                let frame = CloseFrame { code: CloseCode::Away, reason: "probe finished".into() };
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
                return;
            }
            () = sleep_until(next_send) => {
                let (_, messages) = timeline.pop().expect("a step is due");
                for message in messages {
                    if ws.send(Message::Text(message.to_string().into())).await.is_err() {
                        lock(log)[index].left.get_or_insert(Instant::now());
                        return;
                    }
                }
            }
            () = sleep_until(close_at) => {
                lock(log)[index].closed_by_probe = Some(Instant::now());
                let frame = CloseFrame { code: CloseCode::Restart, reason: "probe: reconnect".into() };
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
                // Read until the client's close comes back, then end.
                let _ = tokio::time::timeout(Duration::from_secs(1), async { while ws.next().await.is_some() {} }).await;
                return;
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let at = Instant::now();
                    let invalid = judge_client_message(&protocol::handler::HANDLER, schemas, text.as_str());
                    let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    let reply = answer(&value, token, &client_id);
                    {
                        let mut visits = lock(log);
                        let visit = &mut visits[index];
                        visit.invalid.extend(invalid);
                        if value["type"] == "auth" && value["token"] == token {
                            visit.auth_answered.get_or_insert(at);
                        }
                        visit.messages.push((at, value));
                    }
                    if let Some(reply) = reply {
                        if ws.send(Message::Text(reply.to_string().into())).await.is_err() {
                            lock(log)[index].left.get_or_insert(Instant::now());
                            return;
                        }
                    }
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    lock(log)[index].left.get_or_insert(Instant::now());
                    return;
                }
            },
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn of_type<'a>(visit: &'a Visit, ty: &'a str) -> impl Iterator<Item = &'a (Instant, Value)> + 'a {
    visit.messages.iter().filter(move |(_, m)| m["type"] == ty)
}

fn verdicts(
    visits: &[Visit],
    interval: Duration,
    hold: Duration,
    duration: Duration,
    token: &str,
) -> Vec<CaseResult> {
    let mut served: Vec<&Visit> = visits.iter().filter(|v| v.opened.is_some()).collect();
    served.sort_by_key(|v| v.opened);
    let Some(first) = served.first() else {
        return CASES
            .iter()
            .map(|c| info(c.id, "no client connected"))
            .collect();
    };
    vec![
        handshake(&served),
        auth(&served, token),
        no_data_before_auth(first),
        request_id(first),
        heartbeat(first, interval, hold),
        survives(first),
        reconnect(&served, hold, duration),
        messages_valid(&served),
    ]
}

fn handshake(served: &[&Visit]) -> CaseResult {
    const ID: &str = "handler.client.handshake";
    for (i, visit) in served.iter().enumerate() {
        let Some((_, message)) = of_type(visit, "handshake").next() else {
            return fail(
                ID,
                Evidence::note(format!("connection {} sent no handshake", i + 1)),
            );
        };
        let missing: Vec<&str> = ["clientType", "capabilities", "version"]
            .into_iter()
            .filter(|f| message.get(*f).is_none())
            .collect();
        if missing.contains(&"clientType") {
            return fail(
                ID,
                Evidence::note("a handshake without clientType").with_message(message.clone()),
            );
        }
        if !missing.is_empty() {
            return non_strict(ID, format!("the handshake lacks {}", missing.join(", ")));
        }
    }
    pass(
        ID,
        format!("a full handshake on each of {} connections", served.len()),
    )
}

fn auth(served: &[&Visit], token: &str) -> CaseResult {
    const ID: &str = "handler.client.auth";
    let first = served[0];
    let mut auths = of_type(first, "auth");
    let Some((_, message)) = auths.next() else {
        return fail(
            ID,
            Evidence::note("welcome.authRequired was true and the client sent no auth"),
        );
    };
    // The token is never quoted: only whether it was the probe's.
    if !message["token"].is_string() {
        return fail(ID, Evidence::note("the auth has no string token"));
    }
    if message["token"] != token {
        let note = "the auth carried a token other than the one the probe was given (--secret)";
        return fail(ID, Evidence::note(note));
    }
    let optional = served
        .iter()
        .skip(1)
        .filter(|v| of_type(v, "auth").next().is_some())
        .count();
    if optional > 0 {
        return non_strict(
            ID,
            format!(
                "auth sent when required; also on {optional} connection(s) that did not require it"
            ),
        );
    }
    pass(ID, "auth sent when welcome.authRequired, and only then")
}

fn no_data_before_auth(first: &Visit) -> CaseResult {
    const ID: &str = "handler.client.no_data_before_auth";
    let answered = first.auth_answered;
    let early = first
        .messages
        .iter()
        .filter(|(at, m)| {
            matches!(m["type"].as_str(), Some("data" | "sensor_data"))
                && answered.is_none_or(|a| *at < a)
        })
        .count();
    if early == 0 {
        pass(ID, "no data before auth_response")
    } else {
        info(
            ID,
            format!("{early} data message(s) before auth_response (the server refuses them)"),
        )
    }
}

fn request_id(first: &Visit) -> CaseResult {
    const ID: &str = "handler.client.request_id";
    let Some(opened) = first.opened else {
        return info(ID, "not connected");
    };
    let sent = opened + REQUESTS_AT;
    if first
        .left
        .or(first.closed_by_probe)
        .is_some_and(|end| end < sent)
    {
        return info(ID, "the connection ended before the requests were sent");
    }
    let reply = |id: &str| of_type(first, "response").find(|(_, m)| m["requestId"] == id);
    let Some((at, known)) = reply(KNOWN_REQUEST) else {
        return fail(
            ID,
            Evidence::note(format!("no response with requestId {KNOWN_REQUEST:?}")),
        );
    };
    let Some((unknown_at, unknown)) = reply(UNKNOWN_REQUEST) else {
        return fail(
            ID,
            Evidence::note(format!(
                "no response with requestId {UNKNOWN_REQUEST:?} (an unknown endpoint)"
            )),
        );
    };
    if at.max(unknown_at).duration_since(sent) > Duration::from_secs(10) {
        let note = "a response came more than 10 s after its request";
        return fail(ID, Evidence::note(note));
    }
    if unknown["success"] != false || !unknown["error"].is_string() {
        return fail(
            ID,
            Evidence::note("an unknown endpoint was not answered with success:false and an error")
                .with_message(unknown.clone()),
        );
    }
    pass(
        ID,
        format!(
            "both requests answered by requestId (known endpoint success: {})",
            known["success"]
        ),
    )
}

fn heartbeat(first: &Visit, interval: Duration, hold: Duration) -> CaseResult {
    const ID: &str = "handler.client.heartbeat";
    let times: Vec<Instant> = of_type(first, "heartbeat").map(|(at, _)| *at).collect();
    if times.len() < 2 {
        // Judged over how long the connection lasted, not how long the probe meant to hold it.
        let Some(opened) = first.opened else {
            return info(ID, "not connected");
        };
        let ended = [first.left, first.closed_by_probe]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(opened + hold);
        let lasted = ended.duration_since(opened);
        if lasted < interval * 2 {
            let note = format!(
                "the connection lasted {} ms, less than two intervals",
                lasted.as_millis()
            );
            return info(ID, note);
        }
        return fail(
            ID,
            Evidence::note(format!(
                "{} heartbeat(s) in {} ms at an expected interval of {} ms",
                times.len(),
                lasted.as_millis(),
                interval.as_millis()
            )),
        );
    }
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
    if mean < interval.mul_f64(0.8) || mean > interval.mul_f64(1.2) {
        return fail(
            ID,
            Evidence::note(format!(
                "heartbeats every {} ms on average; expected {} ms ± 20%",
                mean.as_millis(),
                interval.as_millis()
            )),
        );
    }
    pass(
        ID,
        format!(
            "{} heartbeats, every {} ms on average",
            times.len(),
            mean.as_millis()
        ),
    )
}

fn survives(first: &Visit) -> CaseResult {
    const ID: &str = "handler.client.survives";
    let Some(opened) = first.opened else {
        return info(ID, "not connected");
    };
    match (first.left, first.closed_by_probe) {
        (Some(left), _) if left < opened + SURVIVE_AT => {
            info(ID, "the client left before the probe sent anything")
        }
        (Some(left), None) => fail(
            ID,
            Evidence::note(format!(
                "the client left {} ms after data/broadcast/publish/error/unknown type",
                left.duration_since(opened + SURVIVE_AT).as_millis()
            )),
        ),
        (Some(left), Some(closed)) if left < closed => fail(
            ID,
            Evidence::note("the client left before the probe closed the connection"),
        ),
        (_, Some(_)) => pass(
            ID,
            "the client stayed connected until the probe closed the connection",
        ),
        (None, None) => pass(ID, "the client stayed connected to the end of the probe"),
    }
}

fn reconnect(visits: &[&Visit], hold: Duration, duration: Duration) -> CaseResult {
    const ID: &str = "handler.client.reconnect";
    let Some(closed) = visits.first().and_then(|v| v.closed_by_probe.or(v.left)) else {
        return info(ID, "the first connection did not end while the probe ran");
    };
    let later: Vec<Instant> = visits.iter().skip(1).filter_map(|v| v.opened).collect();
    let Some(next) = later.first() else {
        if duration < hold + RECONNECT + Duration::from_secs(2) {
            return info(
                ID,
                format!(
                    "the probe ran too briefly to see a reconnect (run at least {} s)",
                    (hold + RECONNECT + Duration::from_secs(2)).as_secs()
                ),
            );
        }
        return fail(ID, Evidence::note("the client did not reconnect"));
    };
    let delay = next.duration_since(closed);
    let within = |from: Instant, span: Duration| {
        later
            .iter()
            .filter(|t| **t >= from && t.duration_since(from) <= span)
            .count()
    };
    if within(closed, Duration::from_secs(5)) > 3 {
        return fail(
            ID,
            Evidence::note(format!(
                "{} connections within 5 s of the close: a hot loop",
                within(closed, Duration::from_secs(5))
            )),
        );
    }
    if delay < Duration::from_secs(1) {
        return fail(
            ID,
            Evidence::note(format!(
                "reconnected {} ms after the close (the seed waits 5 s)",
                delay.as_millis()
            )),
        );
    }
    if delay < Duration::from_millis(4000) || delay > Duration::from_millis(7500) {
        return non_strict(
            ID,
            format!(
                "reconnected after {} ms (the seed's clients wait 5 s)",
                delay.as_millis()
            ),
        );
    }
    pass(ID, format!("reconnected after {} ms", delay.as_millis()))
}

fn messages_valid(served: &[&Visit]) -> CaseResult {
    const ID: &str = "handler.client.messages_valid";
    let n: usize = served.iter().map(|v| v.messages.len()).sum();
    if let Some(evidence) = served.iter().flat_map(|v| v.invalid.iter()).next() {
        // An auth that breaks its schema is not quoted (it may carry the token).
        let mut evidence = evidence.clone();
        if evidence
            .message
            .as_ref()
            .is_some_and(|m| m["type"] == "auth")
        {
            evidence.message = None;
        }
        return fail(ID, evidence);
    }
    if n == 0 {
        return info(ID, "the client sent nothing");
    }
    pass(ID, format!("{n} client messages checked"))
}
