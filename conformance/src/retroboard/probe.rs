//! `client --profile retroboard`: a probe that Socket.IO clients connect to, judged on what
//! they do (PROFILES.md §4, "Client probe").
//!
//! The probe is the reference RetroBoard server (socketioxide: both transports, the state
//! events, REST) behind a TCP relay of the probe's own, with a [`SessionTap`] that tells the
//! probe every HTTP request, Socket.IO connect, `request_state` and disconnect. The relay
//! lets the probe do what a network or a crashed server does to a client:
//!
//! 1. once a session has lasted [`DROP_AFTER`] (so it has answered pings), every TCP
//!    connection is cut: a transport drop, with no Socket.IO `41`;
//! 2. the next [`REFUSED_ATTEMPTS`] connections are accepted and closed at once, so the
//!    client's reconnect attempts and the waits between them show (socket.io-client and
//!    python-socketio: 1 s doubling to 5 s, ±50%);
//! 3. once the client is back, the server disconnects it (`41`, "io server disconnect"),
//!    after which Socket.IO clients do not reconnect by themselves; the seed's snippet
//!    reconnects by hand (informational).
//!
//! Pings come every [`PING_INTERVAL`] with a [`PING_TIMEOUT`] (clients take both from the
//! open packet), so a client that does not answer is closed by the server within seconds.

use crate::cases::{case, info, pass, CaseInfo};
use crate::outcome::{CaseResult, Evidence, Outcome};
use crate::profiles::ProbeRequest;
use reference_server::core::Listener;
use reference_server::retroboard::{RetroBoardServer, RetroBoardSettings, SessionTap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

macro_rules! cases {
    ($($id:literal => $title:literal,)+) => {
        /// The probe's cases, in report order.
        pub const CASES: &[CaseInfo] = &[$(CaseInfo { id: $id, title: $title },)+];
    };
}

cases! {
    "retroboard.client.connects" => "The client opens an Engine.IO session and connects to the / namespace",
    "retroboard.client.eio4" => "Every Engine.IO request asks for EIO=4",
    "retroboard.client.request_state" => "The client emits request_state after its first connect (within 5 s)",
    "retroboard.client.pong" => "The client answers every ping within pingTimeout (the server never closes it for a missing pong)",
    "retroboard.client.reconnects" => "After a transport drop the client reconnects, backing off (first wait ≥ 0.3 s, growing, at most 5 s + 50%)",
    "retroboard.client.resync" => "After every reconnect the client emits request_state again (within 5 s)",
    "retroboard.client.server_disconnect" => "After a server 41 the client connects again by hand, as the seed's snippet does (informational)",
    "retroboard.client.no_rest_polling" => "The client does not poll GET /api/current (state comes over Socket.IO; non-strict if it does)",
}

/// How long a session lasts before the probe cuts the transport.
pub const DROP_AFTER: Duration = Duration::from_millis(3500);
/// Connections refused after the drop, to time the back-off between attempts.
pub const REFUSED_ATTEMPTS: usize = 2;
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
pub const PING_TIMEOUT: Duration = Duration::from_millis(2000);
/// `request_state` must follow a connect this soon.
const REQUEST_STATE_WITHIN: Duration = Duration::from_secs(5);
/// How long the probe waits for the client to come back after a drop or a `41`.
const COME_BACK_WITHIN: Duration = Duration::from_secs(12);
const MANUAL_RECONNECT_WITHIN: Duration = Duration::from_secs(6);
/// A wait shorter than this between reconnect attempts is hammering.
const SHORTEST_WAIT: Duration = Duration::from_millis(300);
/// socket.io-client's reconnectionDelayMax (5 s) plus its 50% randomization.
const LONGEST_WAIT: Duration = Duration::from_millis(7500);

/// What the probe saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// A TCP connection that may carry Engine.IO reached the relay (its first request is for
    /// `/socket.io/`, or not plain HTTP, e.g. TLS); `refused`: the probe closed it at once.
    /// REST connections pass through unnoted: they are not reconnect attempts.
    Accepted {
        refused: bool,
    },
    /// An HTTP request (an Engine.IO handshake or poll, or REST).
    Request {
        method: String,
        path: String,
        query: String,
    },
    Connected {
        sid: String,
    },
    RequestState {
        sid: String,
    },
    Disconnected {
        sid: String,
        reason: String,
        heartbeat_timeout: bool,
    },
    /// The probe cut every connection.
    Dropped,
    /// The probe sent `41` to every client.
    ServerDisconnect,
}

type Log = Arc<Mutex<Vec<(Instant, Seen)>>>;

fn note(log: &Log, seen: Seen) {
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((Instant::now(), seen));
}

fn snapshot(log: &Log) -> Vec<(Instant, Seen)> {
    log.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The tap the reference server calls.
struct ProbeTap(Log);

impl SessionTap for ProbeTap {
    fn request(&self, method: &str, path: &str, query: &str) {
        note(
            &self.0,
            Seen::Request {
                method: method.into(),
                path: path.into(),
                query: query.into(),
            },
        );
    }
    fn connected(&self, sid: &str) {
        note(&self.0, Seen::Connected { sid: sid.into() });
    }
    fn request_state(&self, sid: &str) {
        note(&self.0, Seen::RequestState { sid: sid.into() });
    }
    fn disconnected(&self, sid: &str, reason: &str, heartbeat_timeout: bool) {
        note(
            &self.0,
            Seen::Disconnected {
                sid: sid.into(),
                reason: reason.into(),
                heartbeat_timeout,
            },
        );
    }
}

/// The relay's live connections, so the probe can cut them all at once.
#[derive(Default)]
struct Relay {
    live: Mutex<Vec<AbortHandle>>,
    /// Connections still to refuse.
    refuse: AtomicUsize,
}

impl Relay {
    fn cut_all(&self) {
        for handle in self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            handle.abort();
        }
    }
}

/// Runs the probe on `request.listen` until its script is done or `request.duration` passed.
pub async fn run(request: ProbeRequest) -> std::io::Result<Vec<CaseResult>> {
    let listener = TcpListener::bind(request.listen).await?;
    Ok(run_on(listener, request).await)
}

pub async fn run_on(listener: TcpListener, request: ProbeRequest) -> Vec<CaseResult> {
    let log: Log = Arc::default();
    let started = Instant::now();
    let deadline = started + request.duration;
    let mut settings = RetroBoardSettings::for_tests();
    settings.ping_interval_s = PING_INTERVAL.as_secs_f64();
    settings.ping_timeout_s = PING_TIMEOUT.as_secs_f64();
    let server = match RetroBoardServer::prepare_tapped(settings, Arc::new(ProbeTap(log.clone()))) {
        Ok(server) => server,
        Err(e) => return vec![fail_all(format!("the probe's server cannot start: {e}"))],
    };
    let inner = match TcpListener::bind("127.0.0.1:0").await {
        Ok(inner) => inner,
        Err(e) => return vec![fail_all(format!("the probe cannot listen inside: {e}"))],
    };
    let Ok(inner_addr) = inner.local_addr() else {
        return vec![fail_all("the probe's inner listener has no address".into())];
    };
    let stop = CancellationToken::new();
    let serving = tokio::spawn(reference_server::retroboard::run(
        server.clone(),
        Listener::new(inner, request.tls.clone()),
        stop.clone(),
    ));
    let relay = Arc::new(Relay::default());
    let relaying = tokio::spawn(relay_loop(
        listener,
        inner_addr,
        relay.clone(),
        log.clone(),
        stop.clone(),
    ));
    tokio::select! {
        () = script(&log, &relay, &server) => {}
        () = tokio::time::sleep_until(deadline.into()) => {}
    }
    stop.cancel();
    relay.cut_all();
    let _ = relaying.await;
    let _ = tokio::time::timeout(Duration::from_secs(3), serving).await;
    verdicts(&snapshot(&log), started, Instant::now())
}

fn fail_all(why: String) -> CaseResult {
    case(
        "retroboard.client.connects",
        Outcome::Fail,
        vec![Evidence::note(why)],
    )
}

async fn relay_loop(
    listener: TcpListener,
    inner: SocketAddr,
    relay: Arc<Relay>,
    log: Log,
    stop: CancellationToken,
) {
    loop {
        let (client, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => { tokio::time::sleep(Duration::from_millis(20)).await; continue }
            },
            () = stop.cancelled() => return,
        };
        let task = tokio::spawn(admit(client, inner, relay.clone(), log.clone()));
        let mut live = relay.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|h| !h.is_finished());
        live.push(task.abort_handle());
    }
}

/// Refuses the connection while refusals are due and it may carry Engine.IO, otherwise
/// relays it to the server.
async fn admit(client: TcpStream, inner: SocketAddr, relay: Arc<Relay>, log: Log) {
    if may_carry_engine_io(&client).await {
        let refused = relay
            .refuse
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
            .is_ok();
        note(&log, Seen::Accepted { refused });
        if refused {
            return;
        }
    }
    pipe(client, inner).await;
}

/// Whether the connection's first request is for `/socket.io/` (or is not plain HTTP, e.g. a
/// TLS handshake, or never came), judged on its first bytes, left unread for the server. A
/// client that polls REST opens connections that are not reconnect attempts.
async fn may_carry_engine_io(client: &TcpStream) -> bool {
    let mut head = [0u8; 512];
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let n = match client.peek(&mut head).await {
            Ok(0) | Err(_) => return true,
            Ok(n) => n,
        };
        let seen = &head[..n];
        if let Some(end) = seen.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&seen[..end]);
            let mut words = line.split(' ');
            let (Some(_method), Some(path), Some(version)) =
                (words.next(), words.next(), words.next())
            else {
                return true;
            };
            return !version.starts_with("HTTP/") || path.starts_with("/socket.io");
        }
        if n == head.len() || !seen.iter().all(|b| b.is_ascii() && *b != 0) {
            return true;
        }
        // The request line is not whole yet: peek again shortly (a peek returns at once
        // while any byte is buffered, so it cannot wait for more by itself).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

async fn pipe(mut client: TcpStream, inner: SocketAddr) {
    let _ = client.set_nodelay(true);
    let Ok(mut server) = TcpStream::connect(inner).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// Polls the log until `found` says yes (or `within` passed): the probe's script steps wait
/// on what the client did, and a tenth of a second is fine-grained enough for them.
async fn wait_for(log: &Log, within: Duration, found: impl Fn(&[(Instant, Seen)]) -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if found(&log.lock().unwrap_or_else(|e| e.into_inner())) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The sessions still connected, with when they connected.
fn open_sessions(seen: &[(Instant, Seen)]) -> Vec<(Instant, &str)> {
    let mut open: Vec<(Instant, &str)> = Vec::new();
    for (at, s) in seen {
        match s {
            Seen::Connected { sid } => open.push((*at, sid)),
            Seen::Disconnected { sid, .. } => open.retain(|(_, o)| o != sid),
            _ => {}
        }
    }
    open
}

fn connected_after(seen: &[(Instant, Seen)], mark: &Seen) -> bool {
    seen.iter()
        .skip_while(|(_, s)| s != mark)
        .any(|(_, s)| matches!(s, Seen::Connected { .. }))
}

/// The probe's script: drop, refuse, let back in, then `41`.
async fn script(log: &Log, relay: &Relay, server: &RetroBoardServer) {
    // 1. A session old enough to have answered pings.
    let long_enough = wait_for(log, Duration::from_secs(3600), |seen| {
        open_sessions(seen)
            .iter()
            .any(|(at, _)| at.elapsed() >= DROP_AFTER)
    })
    .await;
    if !long_enough {
        return;
    }
    relay.refuse.store(REFUSED_ATTEMPTS, Relaxed);
    note(log, Seen::Dropped);
    relay.cut_all();
    // 2. Back after the refused attempts, with time for its request_state.
    if !wait_for(log, COME_BACK_WITHIN, |seen| {
        connected_after(seen, &Seen::Dropped)
    })
    .await
    {
        return;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // 3. A server-side disconnect (41), and time for a manual reconnect.
    note(log, Seen::ServerDisconnect);
    server.disconnect_all().await;
    if wait_for(log, MANUAL_RECONNECT_WITHIN, |seen| {
        connected_after(seen, &Seen::ServerDisconnect)
    })
    .await
    {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// The verdicts on what the client did (pure: the unit tests feed it made-up logs).
pub fn verdicts(seen: &[(Instant, Seen)], started: Instant, end: Instant) -> Vec<CaseResult> {
    let since = |at: Instant| at.saturating_duration_since(started);
    let sessions: Vec<(Instant, &str)> = seen
        .iter()
        .filter_map(|(at, s)| match s {
            Seen::Connected { sid } => Some((*at, sid.as_str())),
            _ => None,
        })
        .collect();
    let engine_requests: Vec<&str> = seen
        .iter()
        .filter_map(|(_, s)| match s {
            Seen::Request { path, query, .. } if path.starts_with("/socket.io") => {
                Some(query.as_str())
            }
            _ => None,
        })
        .collect();
    let accepted = seen
        .iter()
        .filter(|(_, s)| matches!(s, Seen::Accepted { .. }))
        .count();
    let mut out = Vec::new();
    if sessions.is_empty() {
        out.push(case(
            "retroboard.client.connects",
            Outcome::Fail,
            vec![Evidence::note(format!(
                "no Socket.IO connect: {accepted} TCP connections, {} Engine.IO requests",
                engine_requests.len()
            ))],
        ));
        out.extend(
            CASES[1..]
                .iter()
                .map(|c| info(c.id, "not judged: the client never connected")),
        );
        return out;
    }
    out.push(pass(
        "retroboard.client.connects",
        format!(
            "{} Socket.IO sessions, the first {} after the probe started",
            sessions.len(),
            ms(since(sessions[0].0))
        ),
    ));

    // EIO=4 on every Engine.IO request.
    let version = |query: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "EIO")
            .map(|(_, v)| v.into_owned())
    };
    out.push(
        match engine_requests
            .iter()
            .find(|q| version(q).as_deref() != Some("4"))
        {
            Some(query) => case(
                "retroboard.client.eio4",
                Outcome::Fail,
                vec![Evidence::note(format!(
                    "an Engine.IO request asked for EIO={} (query {query:?})",
                    version(query).unwrap_or_else(|| "<none>".into())
                ))],
            ),
            None => pass(
                "retroboard.client.eio4",
                format!("{} Engine.IO requests, all EIO=4", engine_requests.len()),
            ),
        },
    );

    // request_state after each connect: the first, then the reconnects.
    let asked_within = |at: Instant, sid: &str| {
        seen.iter().any(|(when, s)| {
            matches!(s, Seen::RequestState { sid: asked } if asked == sid)
                && when.saturating_duration_since(at) <= REQUEST_STATE_WITHIN
        })
    };
    let (first_at, first_sid) = sessions[0];
    out.push(if asked_within(first_at, first_sid) {
        pass(
            "retroboard.client.request_state",
            "request_state after the first connect",
        )
    } else {
        case(
            "retroboard.client.request_state",
            Outcome::Fail,
            vec![Evidence::note(format!(
                "no request_state within {} of the first connect",
                ms(REQUEST_STATE_WITHIN)
            ))],
        )
    });

    // Pongs: the server closes a session whose pong is late.
    let timed_out: Vec<&str> = seen
        .iter()
        .filter_map(|(_, s)| match s {
            Seen::Disconnected {
                sid,
                heartbeat_timeout: true,
                ..
            } => Some(sid.as_str()),
            _ => None,
        })
        .collect();
    let longest = sessions
        .iter()
        .map(|(at, sid)| {
            let ended = seen.iter().find_map(|(when, s)| match s {
                Seen::Disconnected { sid: gone, .. } if gone == sid => Some(*when),
                _ => None,
            });
            ended.unwrap_or(end).saturating_duration_since(*at)
        })
        .max()
        .unwrap_or_default();
    out.push(if let Some(sid) = timed_out.first() {
        case(
            "retroboard.client.pong",
            Outcome::Fail,
            vec![Evidence::note(format!(
                "{} of {} sessions (first: {sid}) closed by the server: no pong within pingTimeout {} (pingInterval {})",
                timed_out.len(),
                sessions.len(),
                ms(PING_TIMEOUT),
                ms(PING_INTERVAL)
            ))],
        )
    } else if longest < PING_INTERVAL + PING_TIMEOUT {
        info(
            "retroboard.client.pong",
            format!("not judged: no session lasted {}", ms(PING_INTERVAL + PING_TIMEOUT)),
        )
    } else {
        pass(
            "retroboard.client.pong",
            format!(
                "every ping answered in time over {} sessions (the longest {})",
                sessions.len(),
                ms(longest)
            ),
        )
    });

    out.push(judge_reconnects(seen));

    // request_state after every reconnect.
    let later = &sessions[1..];
    let young = |at: Instant| end.saturating_duration_since(at) < REQUEST_STATE_WITHIN;
    let missing: Vec<&(Instant, &str)> = later
        .iter()
        .filter(|(at, sid)| !asked_within(*at, sid) && !young(*at))
        .collect();
    let last_missing = later.last().is_some_and(|(at, sid)| {
        young(*at)
            && !seen
                .iter()
                .skip_while(|(w, _)| w < at)
                .any(|(_, s)| matches!(s, Seen::RequestState { sid: asked } if asked == sid))
    });
    out.push(if later.is_empty() {
        info(
            "retroboard.client.resync",
            "not judged: the client connected once",
        )
    } else if !missing.is_empty() || last_missing {
        case(
            "retroboard.client.resync",
            Outcome::Fail,
            vec![Evidence::note(format!(
                "{} of {} reconnects were not followed by request_state",
                missing.len() + usize::from(last_missing),
                later.len()
            ))],
        )
    } else {
        pass(
            "retroboard.client.resync",
            format!("request_state after each of {} reconnects", later.len()),
        )
    });

    // After a server 41.
    out.push(
        match seen.iter().position(|(_, s)| *s == Seen::ServerDisconnect) {
            None => info(
                "retroboard.client.server_disconnect",
                "not tried: the client did not come back after the transport drop",
            ),
            Some(i) => {
                let at = seen[i].0;
                match seen[i..]
                    .iter()
                    .find(|(_, s)| matches!(s, Seen::Connected { .. }))
                {
                    Some((again, _)) => info(
                        "retroboard.client.server_disconnect",
                        format!("connected again {} after the server's 41", ms(again.saturating_duration_since(at))),
                    ),
                    None => info(
                        "retroboard.client.server_disconnect",
                        format!(
                            "did not connect again within {} of the server's 41 (Socket.IO clients do not by themselves; the seed's snippet does by hand)",
                            ms(MANUAL_RECONNECT_WITHIN)
                        ),
                    ),
                }
            }
        },
    );

    // REST polling.
    let polls = seen
        .iter()
        .filter(|(_, s)| {
            matches!(s, Seen::Request { method, path, .. } if method == "GET" && path == "/api/current")
        })
        .count();
    out.push(if polls >= 2 {
        case(
            "retroboard.client.no_rest_polling",
            Outcome::NonStrict,
            vec![Evidence::note(format!(
                "{polls} GET /api/current in {} (best practice #5: the state comes over Socket.IO)",
                ms(end.saturating_duration_since(started))
            ))],
        )
    } else {
        pass(
            "retroboard.client.no_rest_polling",
            format!("{polls} GET /api/current"),
        )
    });
    out
}

/// The waits between the drop and each reconnect attempt.
fn judge_reconnects(seen: &[(Instant, Seen)]) -> CaseResult {
    const ID: &str = "retroboard.client.reconnects";
    let Some(drop_at) = seen
        .iter()
        .find_map(|(at, s)| (*s == Seen::Dropped).then_some(*at))
    else {
        return info(
            ID,
            format!(
                "not judged: no session lasted {} for the probe to drop it",
                ms(DROP_AFTER)
            ),
        );
    };
    let after = seen.iter().skip_while(|(_, s)| *s != Seen::Dropped);
    let attempts: Vec<Instant> = after
        .clone()
        .filter(|(_, s)| matches!(s, Seen::Accepted { .. }))
        .map(|(at, _)| *at)
        .take(REFUSED_ATTEMPTS + 1)
        .collect();
    let back = after
        .take_while(|(_, s)| *s != Seen::ServerDisconnect)
        .any(|(_, s)| matches!(s, Seen::Connected { .. }));
    let mut waits = Vec::with_capacity(attempts.len());
    let mut previous = drop_at;
    for at in &attempts {
        waits.push(at.saturating_duration_since(previous));
        previous = *at;
    }
    let listed = waits.iter().map(|w| ms(*w)).collect::<Vec<_>>().join(", ");
    let evidence = |outcome: Outcome, text: String| case(ID, outcome, vec![Evidence::note(text)]);
    if !back {
        return evidence(
            Outcome::Fail,
            format!(
                "did not hold a session again within {} of the transport drop ({} attempts: waits {listed})",
                ms(COME_BACK_WITHIN),
                attempts.len()
            ),
        );
    }
    if let Some(short) = waits.iter().find(|w| **w < SHORTEST_WAIT) {
        return evidence(
            Outcome::Fail,
            format!(
                "hammering: a reconnect attempt {} after the previous one (waits {listed}; Socket.IO's first is 0.5–1.5 s)",
                ms(*short)
            ),
        );
    }
    let grows = waits.len() < 2 || waits.last() > waits.first();
    if !grows || waits.iter().any(|w| *w > LONGEST_WAIT) {
        return evidence(
            Outcome::NonStrict,
            format!("back-off waits {listed}: expected 1 s doubling to 5 s (±50%)"),
        );
    }
    pass(
        ID,
        format!("reconnected after the drop; waits before each attempt {listed}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log from offsets in milliseconds.
    fn log(t0: Instant, events: &[(u64, Seen)]) -> Vec<(Instant, Seen)> {
        events
            .iter()
            .map(|(ms, s)| (t0 + Duration::from_millis(*ms), s.clone()))
            .collect()
    }

    fn connected(sid: &str) -> Seen {
        Seen::Connected { sid: sid.into() }
    }
    fn asked(sid: &str) -> Seen {
        Seen::RequestState { sid: sid.into() }
    }
    fn gone(sid: &str, heartbeat_timeout: bool) -> Seen {
        Seen::Disconnected {
            sid: sid.into(),
            reason: "x".into(),
            heartbeat_timeout,
        }
    }
    fn accepted(refused: bool) -> Seen {
        Seen::Accepted { refused }
    }
    fn handshake(eio: &str) -> Seen {
        Seen::Request {
            method: "GET".into(),
            path: "/socket.io/".into(),
            query: format!("EIO={eio}&transport=polling"),
        }
    }

    /// A well-behaved client's session with the probe: waits 1 s, 2 s, 4 s.
    fn good() -> Vec<(u64, Seen)> {
        vec![
            (0, accepted(false)),
            (5, handshake("4")),
            (10, connected("a")),
            (20, asked("a")),
            (3600, Seen::Dropped),
            (3610, gone("a", false)),
            (4600, accepted(true)),
            (6600, accepted(true)),
            (10600, accepted(false)),
            (10605, handshake("4")),
            (10610, connected("b")),
            (10620, asked("b")),
            (12200, Seen::ServerDisconnect),
            (12210, gone("b", false)),
            (13200, accepted(false)),
            (13210, connected("c")),
            (13220, asked("c")),
            (
                13800,
                Seen::Request {
                    method: "GET".into(),
                    path: "/api/health".into(),
                    query: String::new(),
                },
            ),
        ]
    }

    fn outcomes(events: &[(u64, Seen)]) -> Vec<(String, Outcome)> {
        let t0 = Instant::now();
        let end = t0 + Duration::from_millis(events.last().map_or(0, |(ms, _)| *ms) + 1500);
        verdicts(&log(t0, events), t0, end)
            .into_iter()
            .map(|c| (c.id, c.outcome))
            .collect()
    }

    fn not_passed(events: &[(u64, Seen)]) -> Vec<String> {
        outcomes(events)
            .into_iter()
            .filter(|(_, o)| !matches!(o, Outcome::Pass | Outcome::Informational))
            .map(|(id, o)| format!("{id}:{}", o.as_str()))
            .collect()
    }

    #[test]
    fn a_good_client_passes_every_case_in_order() {
        let all = outcomes(&good());
        let ids: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, CASES.iter().map(|c| c.id).collect::<Vec<_>>());
        assert!(not_passed(&good()).is_empty(), "{:?}", not_passed(&good()));
    }

    #[test]
    fn each_fault_fails_its_own_case() {
        let mut eio3 = good();
        eio3[1].1 = handshake("3");
        assert_eq!(not_passed(&eio3), ["retroboard.client.eio4:fail"]);

        let mut no_resync = good();
        no_resync.retain(|(_, s)| *s != asked("b") && *s != asked("c"));
        assert_eq!(not_passed(&no_resync), ["retroboard.client.resync:fail"]);

        let mut silent = good();
        silent.retain(|(_, s)| !matches!(s, Seen::RequestState { .. }));
        assert_eq!(
            not_passed(&silent),
            [
                "retroboard.client.request_state:fail",
                "retroboard.client.resync:fail"
            ]
        );

        let mut hammer = good();
        hammer[6].0 = 3650;
        hammer[7].0 = 3700;
        hammer[8].0 = 3750;
        assert_eq!(not_passed(&hammer), ["retroboard.client.reconnects:fail"]);

        let mut flat = good();
        flat[7].0 = 5600;
        flat[8].0 = 6600;
        assert_eq!(
            not_passed(&flat),
            ["retroboard.client.reconnects:non-strict"]
        );

        let mut never_back = good();
        never_back.truncate(5);
        assert_eq!(
            not_passed(&never_back),
            ["retroboard.client.reconnects:fail"]
        );

        let mut polling = good();
        for t in [3000, 3500] {
            polling.push((
                t,
                Seen::Request {
                    method: "GET".into(),
                    path: "/api/current".into(),
                    query: String::new(),
                },
            ));
        }
        polling.sort_by_key(|(t, _)| *t);
        assert_eq!(
            not_passed(&polling),
            ["retroboard.client.no_rest_polling:non-strict"]
        );

        let mut deaf = good();
        deaf[5].1 = gone("a", true);
        assert_eq!(not_passed(&deaf), ["retroboard.client.pong:fail"]);

        assert_eq!(
            not_passed(&[(0, accepted(false))]),
            ["retroboard.client.connects:fail"]
        );
    }

    /// What a connection's first bytes say about it, over a real loopback socket.
    #[tokio::test]
    async fn only_engine_io_connections_count_as_attempts() {
        use tokio::io::AsyncWriteExt;
        let cases: [(&[u8], bool); 5] = [
            (
                b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",
                true,
            ),
            (b"GET /api/current HTTP/1.1\r\nHost: x\r\n\r\n", false),
            (b"POST /api/config HTTP/1.1\r\n", false),
            (b"\x16\x03\x01\x02\x00\x01\x00", true),
            (b"", true),
        ];
        let mut held = Vec::new();
        for (first_bytes, engine_io) in cases {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let mut client = TcpStream::connect(listener.local_addr().expect("addr"))
                .await
                .expect("connect");
            let (accepted, _) = listener.accept().await.expect("accept");
            if first_bytes.is_empty() {
                drop(client);
            } else {
                client.write_all(first_bytes).await.expect("write");
                // Kept open: the probe must judge without the peer closing.
                held.push(client);
            }
            assert_eq!(
                may_carry_engine_io(&accepted).await,
                engine_io,
                "{:?}",
                String::from_utf8_lossy(first_bytes)
            );
        }
    }
}
