//! `client` mode: a probe server that third-party NHEM clients connect to.
//!
//! It speaks NHEM with frames from the reference server's own pipeline (synthetic camera and
//! peak detector), validates every message a client sends, and follows a script by connection
//! number, so that one run of one client program exercises every fault:
//!
//! | connection | script |
//! | --- | --- |
//! | 1 | normal session; at +1.0 s an unknown message type, at +1.5 s a malformed frame, at +2.0 s a burst of 120 frames, at +3.0 s the server closes (1012) |
//! | 2 | the auth is refused (`auth_response` false, close 1008) whatever the password |
//! | 3 | normal session, closed by the server after 0.5 s (1012) |
//! | 4+ | normal session until the run ends (close 1001) |
//!
//! WebSocket pings every 500 ms measure whether the client keeps reading: a client that falls
//! behind (or stops reading) answers late or never. One client program per run: connections
//! are told apart by order, not by identity.

use crate::outcome::{CaseResult, Evidence, Outcome};
use futures_util::{SinkExt, StreamExt};
use protocol::nhem::{
    parse_client_message, AuthResponse, BroadcastFrame, ClientMessage, DetectionStatus,
    ErrorMessage, Pong, Rect, ServerMessage, StatusMessage, StatusReason,
};
use protocol::{ErrorCode, Timestamp};
use reference_server::nhem::pipeline::{DetectionParams, Pipeline, SyntheticCamera};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

pub const CASE_IDS: [(&str, &str); 9] = [
    ("nhem.client.connects", "The client connects to the probe"),
    (
        "nhem.client.auth_first",
        "auth is the first message of every connection",
    ),
    (
        "nhem.client.messages_valid",
        "Every message the client sends matches its schema",
    ),
    (
        "nhem.client.survives_unknown_type",
        "The client stays connected after an unknown message type",
    ),
    (
        "nhem.client.survives_malformed",
        "The client stays connected after a malformed frame",
    ),
    (
        "nhem.client.keeps_up",
        "The client keeps reading at 60 FPS (pings answered promptly, also after a burst)",
    ),
    (
        "nhem.client.reconnects",
        "The client reconnects after the server closes",
    ),
    (
        "nhem.client.backoff_grows",
        "Reconnect delays start at 100 ms or more and grow",
    ),
    (
        "nhem.client.reauth",
        "The client authenticates again after reconnecting",
    ),
];

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub listen: SocketAddr,
    pub duration: Duration,
    pub password: protocol::Secret,
    pub fps: u32,
    pub tls: reference_server::core::ServerTls,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Script {
    /// Unknown type, malformed frame, burst, then a server close.
    Faults,
    RejectAuth,
    CloseAfter(Duration),
    Normal,
}

fn script_for(index: usize) -> Script {
    match index {
        1 => Script::Faults,
        2 => Script::RejectAuth,
        3 => Script::CloseAfter(Duration::from_millis(500)),
        _ => Script::Normal,
    }
}

/// What happened on one connection.
#[derive(Debug, Default, Clone)]
struct Connection {
    index: usize,
    connected_at: Option<Instant>,
    closed_at: Option<Instant>,
    closed_by_server: bool,
    first_message: Option<String>,
    auth_first: Option<bool>,
    authenticated: bool,
    messages: usize,
    invalid: Vec<Evidence>,
    survived_unknown: Option<bool>,
    survived_malformed: Option<bool>,
    pong_delays_ms: Vec<f64>,
    missed_pongs: usize,
}

type Log = Arc<Mutex<Vec<Connection>>>;

fn update(log: &Log, index: usize, f: impl FnOnce(&mut Connection)) {
    let mut log = log.lock().expect("probe log lock is never poisoned");
    if let Some(c) = log.iter_mut().find(|c| c.index == index) {
        f(c);
    }
}

/// Runs the probe for `duration`; returns the report of what the client did.
pub async fn run(config: ProbeConfig) -> std::io::Result<Vec<CaseResult>> {
    let listener = TcpListener::bind(config.listen).await?;
    run_on(listener, config).await
}

pub async fn run_on(
    listener: TcpListener,
    config: ProbeConfig,
) -> std::io::Result<Vec<CaseResult>> {
    let log: Log = Arc::default();
    let stop = CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let deadline = tokio::time::Instant::now() + config.duration;
    let mut index = 0;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
            _ = tokio::time::sleep_until(deadline) => break,
        };
        index += 1;
        log.lock()
            .expect("probe log lock is never poisoned")
            .push(Connection {
                index,
                connected_at: Some(Instant::now()),
                ..Connection::default()
            });
        let (log, stop, config) = (log.clone(), stop.clone(), config.clone());
        tracker.spawn(async move {
            session(stream, index, script_for(index), &config, &log, &stop).await
        });
    }
    stop.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), tracker.wait()).await;
    let connections = log
        .lock()
        .expect("probe log lock is never poisoned")
        .clone();
    Ok(verdicts(&connections))
}

type Ws = WebSocketStream<reference_server::core::ServerStream>;

async fn send(ws: &mut Ws, message: &ServerMessage) -> bool {
    tokio::time::timeout(
        Duration::from_secs(1),
        ws.send(Message::Text(Utf8Bytes::from(message.to_json()))),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
}

fn status(fps: u32) -> ServerMessage {
    ServerMessage::Status(StatusMessage {
        timestamp: Timestamp::now(),
        status: DetectionStatus::Running,
        reason: StatusReason::Initial,
        frame_count: 0,
        fps: f64::from(fps),
        target_fps: fps,
        connected_clients: 1,
        roi: Rect {
            x1: 288,
            y1: 208,
            x2: 352,
            y2: 272,
        },
    })
}

/// Records and validates one client message; answers it like a server would.
async fn client_message(ws: &mut Ws, text: &str, index: usize, log: &Log) -> Option<ClientMessage> {
    update(log, index, |c| c.messages += 1);
    match parse_client_message(text.as_bytes(), 64 * 1024) {
        Ok(message) => Some(message),
        Err(e) => {
            let mut evidence = Evidence::note(format!("connection {index}: {e}"));
            evidence.rule = e.rule.as_ref().map(ToString::to_string);
            evidence.message = Some(
                serde_json::from_str(text)
                    .unwrap_or_else(|_| Value::String(text.chars().take(200).collect())),
            );
            update(log, index, |c| c.invalid.push(evidence));
            send(
                ws,
                &ServerMessage::Error(ErrorMessage::from_parse_error(&e)),
            )
            .await;
            None
        }
    }
}

async fn session(
    stream: TcpStream,
    index: usize,
    script: Script,
    config: &ProbeConfig,
    log: &Log,
    stop: &CancellationToken,
) {
    let closed = |by_server: bool| {
        move |c: &mut Connection| {
            c.closed_at = Some(Instant::now());
            c.closed_by_server = by_server;
        }
    };
    let Some(stream) = config.tls.secure(stream).await else {
        return update(log, index, closed(false));
    };
    let Ok(Ok(mut ws)) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::accept_async_with_config(stream, Some(crate::wire::small_frames())),
    )
    .await
    else {
        return update(log, index, closed(false));
    };
    // Authentication: the first message must be auth.
    let auth_deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout_at(auth_deadline.into(), ws.next()) => next,
            _ = stop.cancelled() => return close(&mut ws, CloseCode::Away, "probe finished").await,
        };
        let text = match next {
            Err(_) => {
                send(
                    &mut ws,
                    &ServerMessage::Error(ErrorMessage::new(
                        ErrorCode::AuthTimeout,
                        "no auth within 5 s",
                    )),
                )
                .await;
                close(&mut ws, CloseCode::Policy, "authentication timeout").await;
                return update(log, index, closed(true));
            }
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(Message::Binary(_)))) => {
                update(log, index, |c| {
                    c.auth_first.get_or_insert(false);
                    c.first_message.get_or_insert("<binary frame>".into());
                });
                continue;
            }
            Ok(Some(Ok(_))) => continue,
            Ok(_) => return update(log, index, closed(false)),
        };
        let message = client_message(&mut ws, text.as_str(), index, log).await;
        let is_auth = matches!(message, Some(ClientMessage::Auth(_)));
        update(log, index, |c| {
            c.auth_first.get_or_insert(is_auth);
            c.first_message
                .get_or_insert_with(|| text.as_str().chars().take(200).collect());
        });
        match message {
            Some(ClientMessage::Auth(auth)) => {
                let accepted = script != Script::RejectAuth
                    && reference_server::nhem::auth::password_matches(
                        &auth.password,
                        config.password.expose(),
                    );
                let response = AuthResponse {
                    success: accepted,
                    message: if accepted {
                        "Authentication successful".into()
                    } else {
                        "Authentication failed".into()
                    },
                };
                send(&mut ws, &ServerMessage::AuthResponse(response)).await;
                if !accepted {
                    close(&mut ws, CloseCode::Policy, "authentication failed").await;
                    return update(log, index, closed(true));
                }
                update(log, index, |c| c.authenticated = true);
                break;
            }
            Some(_) => {
                send(
                    &mut ws,
                    &ServerMessage::Error(ErrorMessage::new(
                        ErrorCode::AuthRequired,
                        "send auth first",
                    )),
                )
                .await;
            }
            None => {}
        }
    }
    send(&mut ws, &status(config.fps)).await;
    stream_frames(&mut ws, index, script, config, log, stop).await;
}

async fn stream_frames(
    ws: &mut Ws,
    index: usize,
    script: Script,
    config: &ProbeConfig,
    log: &Log,
    stop: &CancellationToken,
) {
    let started = Instant::now();
    let mut pipeline = Pipeline::new(
        Box::new(SyntheticCamera::new(index as u64, config.fps, 640, 480)),
        DetectionParams::default(),
        config.fps,
    );
    let roi = Rect {
        x1: 288,
        y1: 208,
        x2: 352,
        y2: 272,
    };
    let mut frame = 0u64;
    let mut ticks =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(config.fps.max(1))));
    let mut pings = tokio::time::interval(Duration::from_millis(500));
    let mut outstanding: Vec<(u64, Instant)> = Vec::new();
    let mut ping_id = 0u64;
    let mut step = 0;
    let mut make_frame = |pipeline: &mut Pipeline| {
        let sample = pipeline.step(frame, roi);
        let message = ServerMessage::Data(BroadcastFrame {
            timestamp: Timestamp::now(),
            frame_count: frame,
            current_value: sample.current_value,
            peak_signal: sample.detection.peak_signal,
            baseline: sample.detection.baseline,
            status: DetectionStatus::Running,
        });
        frame += 1;
        message
    };
    let finish = |log: &Log, outstanding: &[(u64, Instant)], by_server: bool, step: usize| {
        let missed = outstanding
            .iter()
            .filter(|(_, sent)| sent.elapsed() > Duration::from_secs(1))
            .count();
        update(log, index, |c| {
            c.missed_pongs += missed;
            c.closed_at = Some(Instant::now());
            c.closed_by_server = by_server;
            // A client gone before a check point did not survive what came before it.
            if step >= 1 {
                c.survived_unknown.get_or_insert(false);
            }
            if step >= 2 {
                c.survived_malformed.get_or_insert(false);
            }
        });
    };
    loop {
        let elapsed = started.elapsed();
        // The scripted faults, in order.
        if script == Script::Faults {
            let due = [1.0, 1.5, 2.0, 2.4, 3.0];
            if step < due.len() && elapsed.as_secs_f64() >= due[step] {
                step += 1;
                let ok = match step {
                    1 => ws
                        .send(Message::Text(
                            r#"{"type":"nhem_probe_unknown","timestamp":"2025-01-01T00:00:00Z"}"#
                                .into(),
                        ))
                        .await
                        .is_ok(),
                    2 => {
                        update(log, index, |c| c.survived_unknown = Some(true));
                        ws.send(Message::Text(r#"{"type": "data", "frame_count": "#.into()))
                            .await
                            .is_ok()
                    }
                    3 => {
                        update(log, index, |c| c.survived_malformed = Some(true));
                        let mut ok = true;
                        for _ in 0..120 {
                            let m = make_frame(&mut pipeline);
                            ok &= ws
                                .feed(Message::Text(Utf8Bytes::from(m.to_json())))
                                .await
                                .is_ok();
                        }
                        ok && ws.flush().await.is_ok()
                    }
                    4 => true,
                    _ => {
                        finish(log, &outstanding, true, step);
                        return close(ws, CloseCode::Restart, "probe: server restart").await;
                    }
                };
                if !ok {
                    return finish(log, &outstanding, false, step);
                }
            }
        }
        if let Script::CloseAfter(after) = script {
            if elapsed >= after {
                finish(log, &outstanding, true, step);
                return close(ws, CloseCode::Restart, "probe: server restart").await;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => {
                finish(log, &outstanding, true, step);
                return close(ws, CloseCode::Away, "probe finished").await;
            }
            _ = ticks.tick() => {
                let m = make_frame(&mut pipeline);
                if !send(ws, &m).await {
                    return finish(log, &outstanding, false, step);
                }
            }
            _ = pings.tick() => {
                ping_id += 1;
                outstanding.push((ping_id, Instant::now()));
                if tokio::time::timeout(Duration::from_secs(1), ws.send(Message::Ping(Bytes::from(ping_id.to_be_bytes().to_vec())))).await.is_err() {
                    return finish(log, &outstanding, false, step);
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Pong(payload))) => {
                    let id = payload.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
                    if let Some(pos) = outstanding.iter().position(|(p, _)| *p == id) {
                        let (_, sent) = outstanding.remove(pos);
                        let ms = sent.elapsed().as_secs_f64() * 1000.0;
                        update(log, index, |c| c.pong_delays_ms.push(ms));
                    }
                }
                Some(Ok(Message::Text(t))) => {
                    if let Some(ClientMessage::Ping(ping)) = client_message(ws, t.as_str(), index, log).await {
                        send(ws, &ServerMessage::Pong(Pong { timestamp: Timestamp::now(), id: ping.id })).await;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return finish(log, &outstanding, false, step),
                Some(Ok(_)) => {}
            },
        }
    }
}

fn case(id: &str, outcome: Outcome, evidence: Vec<Evidence>) -> CaseResult {
    let title = CASE_IDS
        .iter()
        .find(|(i, _)| *i == id)
        .map_or("", |(_, t)| *t);
    CaseResult::new(id, title, outcome, evidence)
}

fn note(id: &str, outcome: Outcome, text: impl Into<String>) -> CaseResult {
    case(id, outcome, vec![Evidence::note(text)])
}

/// Turns what the connections did into one verdict per case.
fn verdicts(connections: &[Connection]) -> Vec<CaseResult> {
    use Outcome::*;
    let mut out = Vec::new();
    if connections.is_empty() {
        out.push(note(
            "nhem.client.connects",
            Fail,
            "no client connected during the run",
        ));
        out.extend(
            CASE_IDS[1..]
                .iter()
                .map(|(id, _)| note(id, Informational, "not evaluated: no connection")),
        );
        return out;
    }
    out.push(note(
        "nhem.client.connects",
        Pass,
        format!("{} connections", connections.len()),
    ));

    let not_auth: Vec<&Connection> = connections
        .iter()
        .filter(|c| c.auth_first == Some(false))
        .collect();
    out.push(match not_auth.first() {
        Some(c) => case(
            "nhem.client.auth_first",
            Fail,
            vec![Evidence::note(format!(
                "connection {} began with {:?}",
                c.index,
                c.first_message.as_deref().unwrap_or("")
            ))],
        ),
        None if connections.iter().all(|c| c.auth_first.is_none()) => note(
            "nhem.client.auth_first",
            Fail,
            "the client never sent a message",
        ),
        None => note(
            "nhem.client.auth_first",
            Pass,
            "every connection began with auth",
        ),
    });

    let invalid: Vec<Evidence> = connections.iter().flat_map(|c| c.invalid.clone()).collect();
    let messages: usize = connections.iter().map(|c| c.messages).sum();
    out.push(if invalid.is_empty() {
        note(
            "nhem.client.messages_valid",
            Pass,
            format!("{messages} messages valid"),
        )
    } else {
        case(
            "nhem.client.messages_valid",
            Fail,
            invalid.into_iter().take(10).collect(),
        )
    });

    let first = connections.iter().find(|c| c.index == 1);
    for (id, survived, what) in [
        (
            "nhem.client.survives_unknown_type",
            first.and_then(|c| c.survived_unknown),
            "unknown message type",
        ),
        (
            "nhem.client.survives_malformed",
            first.and_then(|c| c.survived_malformed),
            "malformed frame",
        ),
    ] {
        out.push(match survived {
            Some(true) => note(id, Pass, format!("still connected 0.5 s after the {what}")),
            Some(false) => note(
                id,
                Fail,
                format!("the client left within 0.5 s of the {what}"),
            ),
            None => note(
                id,
                Informational,
                "not evaluated: the first connection ended before the fault",
            ),
        });
    }

    let streamed: Vec<&Connection> = connections.iter().filter(|c| c.authenticated).collect();
    let delays: Vec<f64> = streamed
        .iter()
        .flat_map(|c| c.pong_delays_ms.clone())
        .collect();
    let missed: usize = streamed.iter().map(|c| c.missed_pongs).sum();
    let worst = delays.iter().cloned().fold(0.0, f64::max);
    out.push(if streamed.is_empty() {
        note(
            "nhem.client.keeps_up",
            Informational,
            "not evaluated: never authenticated",
        )
    } else if missed > 0 || (delays.is_empty() && !streamed.is_empty()) {
        case(
            "nhem.client.keeps_up",
            Fail,
            vec![Evidence::note(format!(
                "{missed} pings unanswered after 1 s, {} answered",
                delays.len()
            ))
            .with_measured("unanswered_pings", missed as f64, "pings")],
        )
    } else if worst > 500.0 {
        case(
            "nhem.client.keeps_up",
            NonStrict,
            vec![
                Evidence::note(format!("slowest pong {worst:.0} ms")).with_measured(
                    "worst_pong",
                    worst,
                    "ms",
                ),
            ],
        )
    } else {
        case(
            "nhem.client.keeps_up",
            Pass,
            vec![Evidence::note(format!(
                "{} pings, slowest pong {worst:.1} ms",
                delays.len()
            ))
            .with_measured("worst_pong", worst, "ms")],
        )
    });

    // Reconnect delays after each close the server initiated.
    let mut gaps = Vec::new();
    for pair in connections.windows(2) {
        if let (Some(closed), Some(next)) = (pair[0].closed_at, pair[1].connected_at) {
            if pair[0].closed_by_server && pair[0].index <= 3 {
                gaps.push(next.saturating_duration_since(closed).as_secs_f64() * 1000.0);
            }
        }
    }
    let server_closes = connections
        .iter()
        .filter(|c| c.closed_by_server && c.index <= 3)
        .count();
    let gap_text = gaps
        .iter()
        .map(|g| format!("{g:.0} ms"))
        .collect::<Vec<_>>()
        .join(", ");
    out.push(if server_closes == 0 {
        note(
            "nhem.client.reconnects",
            Informational,
            "not evaluated: the server never closed a connection",
        )
    } else if gaps.is_empty() {
        note(
            "nhem.client.reconnects",
            Fail,
            "the client did not reconnect after the server closed",
        )
    } else {
        note(
            "nhem.client.reconnects",
            Pass,
            format!("reconnected after {gap_text}"),
        )
    });
    out.push(match gaps.len() {
        0 | 1 => note(
            "nhem.client.backoff_grows",
            Informational,
            format!(
                "not evaluated: {} reconnect delays measured ({gap_text})",
                gaps.len()
            ),
        ),
        _ if gaps.iter().any(|g| *g < 50.0) => case(
            "nhem.client.backoff_grows",
            Fail,
            vec![
                Evidence::note(format!("hammering: delays {gap_text}")).with_measured(
                    "shortest_delay",
                    gaps.iter().cloned().fold(f64::MAX, f64::min),
                    "ms",
                ),
            ],
        ),
        _ if gaps.windows(2).all(|w| w[1] >= w[0] * 0.9)
            && gaps[gaps.len() - 1] > gaps[0] * 1.2
            && gaps[0] >= 100.0 =>
        {
            note(
                "nhem.client.backoff_grows",
                Pass,
                format!("delays {gap_text}"),
            )
        }
        _ => note(
            "nhem.client.backoff_grows",
            NonStrict,
            format!("delays {gap_text} do not grow from at least 100 ms"),
        ),
    });
    let later: Vec<&Connection> = connections.iter().filter(|c| c.index > 1).collect();
    out.push(if later.is_empty() {
        note(
            "nhem.client.reauth",
            Informational,
            "not evaluated: no reconnection",
        )
    } else if later.iter().all(|c| c.auth_first == Some(true)) {
        note(
            "nhem.client.reauth",
            Pass,
            format!("{} reconnections, each authenticated first", later.len()),
        )
    } else {
        note(
            "nhem.client.reauth",
            Fail,
            "a reconnection did not begin with auth",
        )
    });
    out
}
