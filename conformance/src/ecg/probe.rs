//! `client --profile ecg`: a probe server that ECG clients connect to, judged on the request
//! they make and the messages they send (PROFILES.md §3, "Client probe").
//!
//! It serves the stream as the reference server does (frames every interval with scheduled
//! timestamps, from the synthetic PQRST signal) and closes a wrong token with 1000. The first
//! accepted session is closed by the probe after one second (1012, service restart) to see
//! whether the client comes back; the seed says nothing about reconnecting, so that case is
//! informational.

use crate::cases::{info, pass};
use crate::outcome::{CaseResult, Evidence, Outcome};
use futures_util::{SinkExt, StreamExt};
use protocol::ecg::{STREAM_PATH, TOKEN_PARAM};
use protocol::schema::SchemaSet;
use reference_server::core::upgrade::peek_head;
use reference_server::core::ServerTls;
use reference_server::ecg::Signal;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// The probe's cases, in report order.
pub const CASES: &[crate::cases::CaseInfo] = &[
    crate::cases::CaseInfo {
        id: "ecg.client.connects",
        title: "The client opens a WebSocket to the probe",
    },
    crate::cases::CaseInfo {
        id: "ecg.client.path",
        title: "Every connection asks for /ws/ecg/stream",
    },
    crate::cases::CaseInfo {
        id: "ecg.client.token_in_query",
        title: "Every connection carries a non-empty token in the query",
    },
    crate::cases::CaseInfo {
        id: "ecg.client.messages_valid",
        title: "Every message the client sends is a valid start_stream",
    },
    crate::cases::CaseInfo {
        id: "ecg.client.reconnects",
        title: "The client reconnects after the server closes (informational: the seed is silent)",
    },
];

#[derive(Debug, Clone)]
pub struct EcgProbeConfig {
    pub listen: SocketAddr,
    pub duration: Duration,
    /// The token the probe accepts.
    pub token: protocol::Secret,
    pub interval: Duration,
    pub tls: ServerTls,
}

/// What one connection did.
#[derive(Debug, Default, Clone)]
struct Seen {
    at: Option<Instant>,
    path: String,
    token: Option<String>,
    upgraded: bool,
    authorized: bool,
    closed_by_probe_at: Option<Instant>,
    messages: usize,
    invalid: Vec<Evidence>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Runs the probe for `config.duration`; the verdicts on what the client did.
pub async fn run(config: EcgProbeConfig) -> std::io::Result<Vec<CaseResult>> {
    let listener = TcpListener::bind(config.listen).await?;
    Ok(run_on(listener, config).await)
}

pub async fn run_on(listener: TcpListener, config: EcgProbeConfig) -> Vec<CaseResult> {
    let log: Log = Arc::default();
    let schemas =
        Arc::new(SchemaSet::load(&protocol::ecg::ECG).expect("the embedded schemas compile"));
    let signal = Arc::new(Signal::synthetic(72, 250));
    let stop = CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let deadline = tokio::time::Instant::now() + config.duration;
    let mut index = 0;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => continue },
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let slot = {
            let mut log = log.lock().expect("probe log lock is never poisoned");
            log.push(Seen {
                at: Some(Instant::now()),
                ..Seen::default()
            });
            log.len() - 1
        };
        index += 1;
        let context = (
            log.clone(),
            schemas.clone(),
            signal.clone(),
            stop.clone(),
            config.clone(),
        );
        tracker.spawn(async move {
            let (log, schemas, signal, stop, config) = context;
            session(
                stream,
                slot,
                index == 1,
                &config,
                &log,
                &schemas,
                &signal,
                &stop,
            )
            .await
        });
    }
    stop.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), tracker.wait()).await;
    let seen = log
        .lock()
        .expect("probe log lock is never poisoned")
        .clone();
    verdicts(&seen)
}

fn record(log: &Log, slot: usize, f: impl FnOnce(&mut Seen)) {
    if let Some(seen) = log
        .lock()
        .expect("probe log lock is never poisoned")
        .get_mut(slot)
    {
        f(seen);
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    stream: TcpStream,
    slot: usize,
    close_early: bool,
    config: &EcgProbeConfig,
    log: &Log,
    schemas: &SchemaSet,
    signal: &Signal,
    stop: &CancellationToken,
) {
    let Some(mut stream) = config.tls.secure(stream).await else {
        return;
    };
    let Ok(head) = peek_head(&mut stream, Duration::from_secs(5)).await else {
        return;
    };
    let token = head.query_param(TOKEN_PARAM);
    let authorized = token.as_deref() == Some(config.token.expose());
    record(log, slot, |s| {
        s.path = head.path.clone();
        s.token = token.clone();
        s.authorized = authorized;
    });
    let Ok(mut ws) =
        tokio_tungstenite::accept_async_with_config(stream, Some(client_io::small_frames())).await
    else {
        return;
    };
    record(log, slot, |s| s.upgraded = true);
    if !authorized {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
        return;
    }
    let t0 = tokio::time::Instant::now();
    let t0_us = client_io::clock::now_us();
    let points = (250 * config.interval.as_millis() as u64 / 1000).max(1);
    let close_at = close_early.then(|| t0 + Duration::from_secs(1));
    let mut k: u64 = 1;
    loop {
        let due = t0 + config.interval * k as u32;
        tokio::select! {
            _ = stop.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return;
            }
            _ = tokio::time::sleep_until(close_at.unwrap_or(due).min(due)) => {
                if close_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
                    record(log, slot, |s| s.closed_by_probe_at = Some(Instant::now()));
                    let frame = CloseFrame { code: CloseCode::Restart, reason: "probe: service restart".into() };
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
                    return;
                }
                let stamp = protocol::timestamp::format_unix_micros(t0_us + (config.interval * k as u32).as_micros() as i64);
                let values: Vec<f64> = ((k - 1) * points..k * points).map(|i| signal.value(i)).collect();
                let frame = serde_json::json!({"points": values, "timestamp": stamp.as_str()});
                k += 1;
                if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                    return;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let finding = crate::cases::judge_client_message(&protocol::ecg::ECG, schemas, text.as_str());
                    record(log, slot, |s| {
                        s.messages += 1;
                        s.invalid.extend(finding);
                    });
                }
                Some(Ok(Message::Binary(bytes))) => record(log, slot, |s| {
                    s.messages += 1;
                    s.invalid.push(Evidence::note(format!("a binary message of {} bytes", bytes.len())));
                }),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return,
            },
        }
    }
}

fn verdicts(seen: &[Seen]) -> Vec<CaseResult> {
    let case = |id: &'static str, outcome: Outcome, note: String| {
        crate::cases::case(id, outcome, vec![Evidence::note(note)])
    };
    let upgraded: Vec<&Seen> = seen.iter().filter(|s| s.upgraded).collect();
    if upgraded.is_empty() {
        let note = format!("{} TCP connections, no WebSocket upgrade", seen.len());
        return CASES
            .iter()
            .map(|c| match c.id {
                "ecg.client.connects" => case(c.id, Outcome::Fail, note.clone()),
                id => info(id, "the client never connected"),
            })
            .collect();
    }
    let mut out = vec![pass(
        "ecg.client.connects",
        format!("{} WebSocket connections", upgraded.len()),
    )];
    out.push(match upgraded.iter().find(|s| s.path != STREAM_PATH) {
        Some(s) => case(
            "ecg.client.path",
            Outcome::Fail,
            format!("a connection asked for {:?}", s.path),
        ),
        None => pass(
            "ecg.client.path",
            format!("{} connections to {STREAM_PATH}", upgraded.len()),
        ),
    });
    out.push(
        match upgraded
            .iter()
            .find(|s| s.token.as_deref().is_none_or(str::is_empty))
        {
            Some(_) => case(
                "ecg.client.token_in_query",
                Outcome::Fail,
                "a connection had no token (or an empty one) in its query".into(),
            ),
            None => pass(
                "ecg.client.token_in_query",
                format!(
                    "{} connections with ?{TOKEN_PARAM}=…, {} of them the probe's token",
                    upgraded.len(),
                    upgraded.iter().filter(|s| s.authorized).count()
                ),
            ),
        },
    );
    let messages: usize = upgraded.iter().map(|s| s.messages).sum();
    out.push(
        match upgraded.iter().flat_map(|s| s.invalid.iter()).next() {
            Some(evidence) => crate::cases::fail("ecg.client.messages_valid", evidence.clone()),
            None if messages == 0 => info(
                "ecg.client.messages_valid",
                "the client sent nothing (start_stream is optional)",
            ),
            None => pass(
                "ecg.client.messages_valid",
                format!("{messages} messages, all valid start_stream"),
            ),
        },
    );
    let closed = upgraded.iter().find_map(|s| s.closed_by_probe_at);
    out.push(match closed {
        None => info(
            "ecg.client.reconnects",
            "the probe closed no session (the first one ended before 1 s)",
        ),
        Some(at) => match seen.iter().filter_map(|s| s.at).find(|t| *t > at) {
            Some(again) => info(
                "ecg.client.reconnects",
                format!(
                    "reconnected {:.0} ms after the probe closed (1012)",
                    (again - at).as_secs_f64() * 1000.0
                ),
            ),
            None => info(
                "ecg.client.reconnects",
                "did not reconnect after the probe closed (1012)",
            ),
        },
    });
    out
}
