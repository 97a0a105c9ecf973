//! `client --profile monitor`: a probe server that monitor clients connect to, judged on their
//! upgrade headers, the messages they send and how they come back (PROFILES.md §2, "Client
//! probe").
//!
//! The script, from the first connection:
//! 1. **A** is served like the reference server would (greeting, system samples every 250 ms,
//!    pongs), plus an active CPU alert at 0.5 s and its resolution (which has no `title`) at
//!    1 s. After `max(2.2 × ping interval, 2 s)` the probe closes it with 1012.
//! 2. The next two upgrades are refused with HTTP 503, so a client's back-off shows across
//!    failed attempts (the seed's JS client resets its counter on every open).
//! 3. **B**, the third attempt, is served; after 0.5 s the probe sends `error CONNECTION_FAILED`
//!    with `retry_after` 2000 and closes with 1013.
//! 4. Every later connection is served until the end.
//!
//! Every connection is served whatever key it brings; `bearer` judges the keys. `--interval` is
//! the ping interval the client is expected to keep (the seed's 30 s).

use crate::cases::{fail, info, judge_client_message, non_strict, pass, CaseInfo};
use crate::outcome::{CaseResult, Evidence};
use crate::profiles::ProbeRequest;
use futures_util::{SinkExt, StreamExt};
use protocol::schema::SchemaSet;
use protocol::Timestamp;
use reference_server::core::upgrade::{peek_head, refuse, Refusal};
use reference_server::core::ServerStream;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
    "monitor.client.connects" => "The client opens a WebSocket to one of the four endpoints",
    "monitor.client.bearer" => "Every upgrade carries Authorization: Bearer with the API key",
    "monitor.client.messages_valid" => "Every message the client sends validates (subscribe, unsubscribe, request_data, ping)",
    "monitor.client.ping_cadence" => "The client pings every interval (± 10%; the seed: 30 s), a ping right after open aside",
    "monitor.client.survives_resolved" => "The client stays connected after a resolved alert (which has no title)",
    "monitor.client.backoff" => "After a drop, failed reconnects wait longer and longer (the seed: 2, 4, 8 s)",
    "monitor.client.retry_after" => "After CONNECTION_FAILED with retry_after, the client waits at least that long",
    "monitor.client.resubscribes" => "The client subscribes again after reconnecting (informational: the seed's JS client does not)",
}

/// What the probe tells a client in step 3.
const RETRY_AFTER_MS: u64 = 2000;
/// Upgrades refused in step 2.
const REFUSALS: usize = 2;
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// The role of an accepted connection in the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    First,
    Refused,
    Second,
    Other,
}

/// What one upgrade attempt did.
#[derive(Debug, Clone)]
struct Attempt {
    at: Instant,
    role: Role,
    path: String,
    authorization: Option<String>,
    upgraded: bool,
    /// `(when, type)` of each message the client sent.
    messages: Vec<(Instant, String)>,
    invalid: Vec<Evidence>,
    /// When the probe closed it (A and B), or when the client left.
    closed_by_probe: Option<Instant>,
    ended_by_client: Option<Instant>,
    /// A's resolved alert went out at this time.
    resolved_sent: Option<Instant>,
}

#[derive(Default)]
struct Script {
    attempts: Vec<Attempt>,
    /// Step 2 and 3 start once A is closed.
    first_closed: bool,
    refused: usize,
    second_done: bool,
}

type Shared = Arc<Mutex<Script>>;

/// A scripted step of A or B: when (from the open), the message to send (empty: none), and the
/// close that follows it.
type Step = (Duration, String, Option<(CloseCode, &'static str)>);

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Script> {
    shared.lock().expect("probe log lock is never poisoned")
}

/// Runs the probe for `request.duration`; the verdicts on what the client did.
pub async fn run(request: ProbeRequest) -> std::io::Result<Vec<CaseResult>> {
    let listener = TcpListener::bind(request.listen).await?;
    Ok(run_on(listener, request).await)
}

pub async fn run_on(listener: TcpListener, request: ProbeRequest) -> Vec<CaseResult> {
    let ping_interval = request.interval.unwrap_or(Duration::from_secs(30));
    let hold = ping_interval.mul_f64(2.2).max(Duration::from_secs(2));
    let shared: Shared = Arc::default();
    let schemas = Arc::new(SchemaSet::load(&protocol::monitor::MONITOR).expect("schemas compile"));
    let ids = Arc::new(AtomicU64::new(1));
    let stop = CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let deadline = tokio::time::Instant::now() + request.duration;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let context = (shared.clone(), schemas.clone(), ids.clone(), stop.clone());
        let tls = request.tls.clone();
        tracker.spawn(async move {
            let (shared, schemas, ids, stop) = context;
            let Some(stream) = tls.secure(stream).await else {
                return;
            };
            connection(stream, hold, &shared, &schemas, &ids, &stop).await;
        });
    }
    stop.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), tracker.wait()).await;
    let script = lock(&shared);
    verdicts(&script.attempts, ping_interval, request.secret.expose())
}

/// The script's next role, taken when an upgrade request arrives.
fn next_role(script: &mut Script) -> Role {
    if script.attempts.is_empty() {
        return Role::First;
    }
    if !script.first_closed || script.second_done {
        return Role::Other;
    }
    if script.refused < REFUSALS {
        script.refused += 1;
        return Role::Refused;
    }
    if script.attempts.iter().any(|a| a.role == Role::Second) {
        return Role::Other;
    }
    Role::Second
}

async fn connection(
    mut stream: ServerStream,
    hold: Duration,
    shared: &Shared,
    schemas: &SchemaSet,
    ids: &AtomicU64,
    stop: &CancellationToken,
) {
    let Ok(head) = peek_head(&mut stream, Duration::from_secs(5)).await else {
        return;
    };
    let (slot, role) = {
        let mut script = lock(shared);
        let role = next_role(&mut script);
        script.attempts.push(Attempt {
            at: Instant::now(),
            role,
            path: head.path.clone(),
            authorization: head.header("authorization").map(str::to_owned),
            upgraded: false,
            messages: Vec::new(),
            invalid: Vec::new(),
            closed_by_probe: None,
            ended_by_client: None,
            resolved_sent: None,
        });
        (script.attempts.len() - 1, role)
    };
    let note = |f: &dyn Fn(&mut Attempt)| f(&mut lock(shared).attempts[slot]);
    if role == Role::Refused {
        let refusal = Refusal::new(
            503,
            "Service Unavailable",
            "probe: the service is restarting\n",
        );
        return refuse(stream, &refusal).await;
    }
    let Ok(mut ws) =
        tokio_tungstenite::accept_async_with_config(stream, Some(client_io::small_frames())).await
    else {
        return;
    };
    note(&|a| a.upgraded = true);
    let id = |prefix: &str| format!("{prefix}_{:03}", ids.fetch_add(1, Relaxed));
    let envelope = |ty: &str, prefix: &str, data: Value| {
        json!({"type": ty, "id": id(prefix), "timestamp": Timestamp::now().as_str(), "data": data})
            .to_string()
    };
    let client_id = head
        .header("x-client-id")
        .unwrap_or("probe-client")
        .to_owned();
    let greeting = envelope(
        "connection",
        "conn",
        json!({"status": "connected", "client_id": client_id, "server_time": Timestamp::now().as_str()}),
    );
    if ws.send(Message::Text(greeting.into())).await.is_err() {
        return;
    }
    let opened = tokio::time::Instant::now();
    // (when, message, then close with this code) — the script of A and B.
    let mut script: Vec<Step> = match role {
        Role::First => vec![
            (Duration::from_millis(500), envelope("alert", "alert", json!({
                "alert_id": "probe_alert_1", "type": "cpu", "level": "warning", "title": "CPU使用率过高",
                "message": "CPU使用率达到 85%，建议检查进程", "value": 85.0, "threshold": 80.0, "status": "active"}))),
            (Duration::from_secs(1), envelope("alert", "alert", json!({
                "alert_id": "probe_alert_1", "type": "cpu", "level": "warning", "status": "resolved",
                "resolved_at": Timestamp::now().as_str(), "resolution": "probe: back below threshold", "resolved_by": "probe"}))),
        ]
        .into_iter()
        .map(|(at, m)| (at, m, None))
        .chain([(hold, String::new(), Some((CloseCode::Restart, "probe: service restart")))])
        .collect(),
        Role::Second => vec![(
            Duration::from_millis(500),
            envelope("error", "error", json!({"code": "CONNECTION_FAILED", "message": "probe: come back later", "retry_after": RETRY_AFTER_MS})),
            Some((CloseCode::Again, "probe: try again later")),
        )],
        _ => Vec::new(),
    };
    script.reverse();
    let mut sample: u64 = 0;
    let mut next_sample = opened + SAMPLE_EVERY;
    loop {
        let next_step = script.last().map(|(at, _, _)| opened + *at);
        let wake = next_step.map_or(next_sample, |s| s.min(next_sample));
        tokio::select! {
            _ = stop.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return;
            }
            _ = tokio::time::sleep_until(wake) => {
                if next_step.is_some_and(|s| tokio::time::Instant::now() >= s) {
                    let (_, message, close) = script.pop().expect("a step is due");
                    if !message.is_empty() {
                        let resolved = message.contains("\"resolved\"");
                        if ws.send(Message::Text(message.into())).await.is_err() {
                            break;
                        }
                        if resolved {
                            note(&|a| a.resolved_sent = Some(Instant::now()));
                        }
                    }
                    if let Some((code, reason)) = close {
                        note(&|a| a.closed_by_probe = Some(Instant::now()));
                        if role == Role::First {
                            lock(shared).first_closed = true;
                        } else {
                            lock(shared).second_done = true;
                        }
                        let frame = CloseFrame { code, reason: reason.into() };
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
                        return;
                    }
                    continue;
                }
                next_sample += SAMPLE_EVERY;
                sample += 1;
                let data = json!({"cpu_percent": 40.0 + (sample % 10) as f64, "memory_percent": 60.0, "disk_usage_percent": 55.0,
                    "network_io": {"bytes_sent": sample * 1000, "bytes_recv": sample * 2000}, "process_count": 125});
                if ws.send(Message::Text(envelope("performance", "perf", data).into())).await.is_err() {
                    break;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let finding = judge_client_message(&protocol::monitor::MONITOR, schemas, text.as_str());
                    let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                    let ty = value["type"].as_str().unwrap_or("?").to_owned();
                    let at = Instant::now();
                    note(&|a| {
                        a.messages.push((at, ty.clone()));
                        a.invalid.extend(finding.clone());
                    });
                    if ty == "ping" {
                        let mut pong = json!({"type": "pong", "id": id("pong"), "timestamp": Timestamp::now().as_str()});
                        if let Some(request_id) = value["id"].as_str() {
                            pong["meta"] = json!({"request_id": request_id});
                        }
                        if ws.send(Message::Text(pong.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Binary(bytes))) => {
                    let evidence = Evidence::note(format!("a binary message of {} bytes", bytes.len()));
                    note(&|a| a.invalid.push(evidence.clone()));
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
        }
    }
    note(&|a| a.ended_by_client = Some(Instant::now()));
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdicts(attempts: &[Attempt], ping_interval: Duration, key: &str) -> Vec<CaseResult> {
    let upgraded: Vec<&Attempt> = attempts.iter().filter(|a| a.upgraded).collect();
    if upgraded.is_empty() {
        let note = format!("{} upgrade requests, none upgraded", attempts.len());
        return CASES
            .iter()
            .map(|c| match c.id {
                "monitor.client.connects" => fail(c.id, Evidence::note(note.clone())),
                id => info(id, "the client never connected"),
            })
            .collect();
    }
    let endpoints = protocol::monitor::Endpoint::ALL.map(|e| e.path());
    let mut out = vec![match upgraded
        .iter()
        .find(|a| !endpoints.contains(&a.path.as_str()))
    {
        Some(a) => fail(
            "monitor.client.connects",
            Evidence::note(format!("a connection asked for {:?}", a.path)),
        ),
        None => pass(
            "monitor.client.connects",
            format!("{} WebSocket connections", upgraded.len()),
        ),
    }];
    out.push(bearer(attempts, key));
    let messages: usize = upgraded.iter().map(|a| a.messages.len()).sum();
    out.push(
        match upgraded.iter().flat_map(|a| a.invalid.iter()).next() {
            Some(evidence) => crate::cases::fail("monitor.client.messages_valid", evidence.clone()),
            None if messages == 0 => {
                info("monitor.client.messages_valid", "the client sent nothing")
            }
            None => pass(
                "monitor.client.messages_valid",
                format!("{messages} messages, all valid"),
            ),
        },
    );
    out.push(ping_cadence(&upgraded, ping_interval));
    out.push(survives_resolved(attempts));
    out.push(backoff(attempts));
    out.push(retry_after(attempts));
    out.push(resubscribes(attempts));
    out
}

fn bearer(attempts: &[Attempt], key: &str) -> CaseResult {
    let id = "monitor.client.bearer";
    let bearer_key = |a: &Attempt| {
        a.authorization
            .as_deref()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, k)| k.trim().to_owned())
    };
    match attempts.iter().find(|a| bearer_key(a).is_none()) {
        Some(a) => fail(
            id,
            Evidence::note(match &a.authorization {
                None => "an upgrade had no Authorization header".to_owned(),
                Some(_) => "an upgrade's Authorization is not a Bearer key".to_owned(),
            }),
        ),
        None if attempts
            .iter()
            .any(|a| bearer_key(a).as_deref() != Some(key)) =>
        {
            non_strict(
                id,
                "Bearer keys sent, but not always the probe's (--secret)",
            )
        }
        None => pass(
            id,
            format!("{} upgrades, each with the Bearer key", attempts.len()),
        ),
    }
}

fn ping_cadence(upgraded: &[&Attempt], expected: Duration) -> CaseResult {
    let id = "monitor.client.ping_cadence";
    let mut intervals = Vec::new();
    for attempt in upgraded {
        let pings: Vec<Instant> = attempt
            .messages
            .iter()
            .filter(|(at, ty)| {
                ty == "ping"
                    && at.duration_since(attempt.at) > Duration::from_secs(1).min(expected / 2)
            })
            .map(|(at, _)| *at)
            .collect();
        intervals.extend(pings.windows(2).map(|w| w[1] - w[0]));
    }
    let Some(worst) = intervals.iter().copied().max_by(|a, b| {
        (a.as_secs_f64() - expected.as_secs_f64())
            .abs()
            .total_cmp(&(b.as_secs_f64() - expected.as_secs_f64()).abs())
    }) else {
        return info(id, format!("fewer than two pings on any connection (expected one every {expected:?}; run longer)"));
    };
    let deviation = (worst.as_secs_f64() - expected.as_secs_f64()).abs() / expected.as_secs_f64();
    let note = format!(
        "{} ping intervals, the worst {:.0} ms (expected {:.0} ms)",
        intervals.len(),
        millis(worst),
        millis(expected)
    );
    if deviation <= 0.10 {
        pass(id, note)
    } else {
        fail(id, Evidence::note(note))
    }
}

fn survives_resolved(attempts: &[Attempt]) -> CaseResult {
    let id = "monitor.client.survives_resolved";
    let Some(first) = attempts
        .iter()
        .find(|a| a.role == Role::First && a.upgraded)
    else {
        return info(id, "the first connection was not upgraded");
    };
    let Some(sent) = first.resolved_sent else {
        return info(id, "the client left before the resolved alert was sent");
    };
    match (first.ended_by_client, first.closed_by_probe) {
        (Some(left), None) => fail(
            id,
            Evidence::note(format!(
                "the client left {:.0} ms after a resolved alert",
                millis(left.saturating_duration_since(sent))
            )),
        ),
        _ => pass(id, "still connected when the probe closed the connection"),
    }
}

/// The attempts after the probe closed A, in order: `(attempt, delay since the one before)`.
fn reconnects(attempts: &[Attempt]) -> Option<(Instant, Vec<&Attempt>)> {
    let closed = attempts
        .iter()
        .find(|a| a.role == Role::First)?
        .closed_by_probe?;
    Some((closed, attempts.iter().filter(|a| a.at > closed).collect()))
}

fn backoff(attempts: &[Attempt]) -> CaseResult {
    let id = "monitor.client.backoff";
    let Some((closed, after)) = reconnects(attempts) else {
        return info(
            id,
            "the probe did not get to close the first connection (run longer)",
        );
    };
    let mut times = vec![closed];
    times.extend(after.iter().take(REFUSALS + 1).map(|a| a.at));
    let delays: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let shown = delays
        .iter()
        .map(|d| format!("{:.0}", millis(*d)))
        .collect::<Vec<_>>()
        .join(", ");
    if delays.is_empty() {
        return info(
            id,
            "the client did not reconnect after the probe closed (1012)",
        );
    }
    if let Some(d) = delays.iter().find(|d| **d < Duration::from_millis(100)) {
        return fail(
            id,
            Evidence::note(format!(
                "a reconnect {:.0} ms after the last failure: no back-off (delays {shown} ms)",
                millis(*d)
            )),
        );
    }
    if delays.len() < REFUSALS + 1 {
        return info(
            id,
            format!(
                "only {} reconnect attempts (delays {shown} ms; run longer)",
                delays.len()
            ),
        );
    }
    // Each failed attempt should wait clearly longer than the one before (×1.5 at least).
    if delays
        .windows(2)
        .all(|w| w[1].as_secs_f64() >= w[0].as_secs_f64() * 1.5)
    {
        pass(id, format!("delays {shown} ms"))
    } else {
        fail(
            id,
            Evidence::note(format!("the delays do not grow: {shown} ms")),
        )
    }
}

fn retry_after(attempts: &[Attempt]) -> CaseResult {
    let id = "monitor.client.retry_after";
    let Some(told) = attempts
        .iter()
        .find(|a| a.role == Role::Second)
        .and_then(|a| a.closed_by_probe)
    else {
        return info(
            id,
            "the script did not reach CONNECTION_FAILED (run longer)",
        );
    };
    let Some(next) = attempts.iter().find(|a| a.at > told) else {
        return info(id, "the client did not come back after CONNECTION_FAILED");
    };
    let waited = next.at - told;
    let note = format!(
        "came back {:.0} ms after retry_after {RETRY_AFTER_MS} ms",
        millis(waited)
    );
    if waited >= Duration::from_millis(RETRY_AFTER_MS) {
        pass(id, note)
    } else {
        fail(id, Evidence::note(note))
    }
}

fn resubscribes(attempts: &[Attempt]) -> CaseResult {
    let id = "monitor.client.resubscribes";
    let subscribed = |a: &Attempt| a.messages.iter().any(|(_, ty)| ty == "subscribe");
    let Some(first) = attempts.iter().find(|a| a.role == Role::First) else {
        return info(id, "no first connection");
    };
    if !subscribed(first) {
        return info(id, "the client never subscribed on its first connection");
    }
    let later: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.upgraded && a.at > first.at)
        .collect();
    if later.is_empty() {
        return info(id, "the client did not reconnect");
    }
    if later.iter().all(|a| subscribed(a)) {
        pass(
            id,
            format!("subscribed again on all {} later connections", later.len()),
        )
    } else {
        info(
            id,
            "a later connection got no subscribe: subscriptions are lost on reconnect",
        )
    }
}
