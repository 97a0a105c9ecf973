//! One simulated client per task: WebSocket (broadcast, slow consumers, churn) or HTTP polling.
//! A broadcast client's sessions may run on the shared reader threads ([`crate::mux`]) instead
//! of in its task; the task then only connects, says hello and waits for the session's end.

use crate::frame::{head, now_us};
use crate::profiles::{LoadProfile, StreamShape};
use crate::recorder::{Recorder, Sample};
use crate::stream::{greeting, Answer, Greeting, Local, StreamState};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use protocol::profile::Delivery;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Broadcast,
    SlowConsumers,
    Churn,
    Polling,
    /// Half the clients hold the profile's filter; every client's filtered messages are kept.
    Filtered,
    /// Each client starts a server stream of its own and reads it (handler `streams.start`).
    Streams,
    /// Open-loop RPC calls at `--rate` per client, answered by id.
    Rpc,
    /// Open-loop `data` messages at `--rate` per client; `insertId`s checked.
    Ingest,
}

impl Scenario {
    /// Clients send requests at a fixed rate and read the answers (no stream).
    pub fn is_requests(self) -> bool {
        matches!(self, Scenario::Rpc | Scenario::Ingest)
    }
}

/// What all clients share (no `Debug`: the URL, headers and first messages carry the secret).
#[derive(Clone)]
pub struct Target {
    pub profile: &'static dyn LoadProfile,
    /// The URL each WebSocket client connects to (path and query included).
    pub ws_url: String,
    /// Request headers on the upgrade (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    pub http_url: Option<String>,
    /// What each client sends first (NHEM: `auth`); empty: the stream starts alone.
    pub hello: Vec<String>,
    /// What a filtered client sends first instead (`filtered` scenario).
    pub filtered_hello: Option<Vec<String>>,
    /// Which messages are the stream and how they are numbered.
    pub shape: StreamShape,
    /// How often each client sends the profile's application ping (`None`: never).
    pub ping_every: Option<Duration>,
    /// When the run ends (every client stops by itself then).
    pub end: Instant,
    pub scenario: Scenario,
    /// Requests per second per client (request scenarios).
    pub rate: f64,
}

/// What is particular to one client.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub start_after: Duration,
    /// Slow consumer: pause this long after every message.
    pub read_delay: Option<Duration>,
    /// Churn: stay connected this long, then reconnect.
    pub session: Option<Duration>,
    /// `filtered` scenario: this client holds the filter (else it only keeps the subjects).
    pub filtered: Option<bool>,
    /// The client's number, which spreads its reconnect back-off.
    pub index: usize,
}

/// What a client of the `filtered` scenario saw of the filter's subjects.
#[derive(Debug, Clone, Default)]
pub struct FilterLog {
    pub filtered: bool,
    /// When its last session started (µs, wall clock).
    pub ready_us: i64,
    /// Scheduled times of the admitted subjects it received.
    pub admitted_us: Vec<i64>,
}

/// How a client's run ended, for tail-loss accounting.
#[derive(Debug, Clone, Default)]
pub struct ClientEnd {
    pub highest_frame: Option<u64>,
    /// The last connection ended before the run did (closed, failed or refused).
    pub ended_early: bool,
    pub filter: Option<FilterLog>,
    /// `insertId`s of the answers (the `ingest` scenario).
    pub insert_ids: Vec<u64>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `hello` and waits (10 s at most) for the profile's ready message; `Ok(false)`: the
/// server refused (`success: false`, or a close with 1008 before the session started).
async fn start_session(
    ws: &mut Socket,
    profile: &dyn LoadProfile,
    hello: &[String],
    ready: &str,
) -> Result<bool, &'static str> {
    let mut sent = true;
    for message in hello {
        if ws
            .send(Message::Text(message.as_str().into()))
            .await
            .is_err()
        {
            // The server may have refused at once: its close frame is still there to read.
            sent = false;
            break;
        }
    }
    // The frames that may precede it are ignored.
    let answer = tokio::time::timeout(HELLO_TIMEOUT, async {
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Text(t) => match greeting(profile, t.as_str(), ready) {
                    Greeting::Ready(accepted) => return Some(accepted),
                    Greeting::Reply(reply) => {
                        let _ = ws.send(Message::Text(reply.into())).await;
                    }
                    Greeting::Other => {}
                },
                Message::Close(Some(frame)) if u16::from(frame.code) == 1008 => return Some(false),
                _ => {}
            }
        }
        None
    })
    .await;
    match answer {
        Ok(Some(accepted)) => Ok(accepted),
        _ if !sent => Err("closed during hello"),
        _ => Err("no ready message"),
    }
}

/// How long a client waits for the profile's ready message.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection, before its session runs: on tungstenite in the client's own task, or on the
/// codec in [`crate::wire`], to be handed to a reader thread with what it has read ahead.
enum Connection {
    Task(Box<Socket>),
    Reader(tokio::net::TcpStream, Vec<u8>),
}

impl Connection {
    async fn open(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
        reader: bool,
    ) -> Result<Self, String> {
        if !reader {
            let (ws, _) = client_io::ws::connect(request)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Connection::Task(Box::new(ws)));
        }
        let uri = request.uri();
        let host = uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(80);
        let mut stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        // Before anything arrives: a segment received before it has no timestamp.
        crate::mux::stamp_arrivals(&stream);
        let ahead = crate::wire::handshake(&mut stream, &request).await?;
        Ok(Connection::Reader(stream, ahead))
    }

    async fn start_session(
        &mut self,
        profile: &dyn LoadProfile,
        hello: &[String],
        ready: &str,
    ) -> Result<bool, &'static str> {
        match self {
            Connection::Task(ws) => start_session(ws, profile, hello, ready).await,
            Connection::Reader(stream, ahead) => {
                crate::mux::start_session(stream, ahead, profile, hello, ready, HELLO_TIMEOUT).await
            }
        }
    }
}

/// Whether a client may run its sessions on the shared reader threads: the broadcast scenario
/// over plain `ws://` with nothing to send on a schedule (slow readers, churn and application
/// pings keep their own task).
pub fn reader_eligible(target: &Target) -> bool {
    target.scenario == Scenario::Broadcast
        && target.ping_every.is_none()
        && target.ws_url.starts_with("ws://")
}

pub async fn websocket(
    plan: Plan,
    target: Arc<Target>,
    recorder: Arc<Recorder>,
    readers: Option<Arc<crate::mux::Readers>>,
) -> ClientEnd {
    tokio::time::sleep(plan.start_after).await;
    let mut local = Local::new(&recorder);
    let mut end = ClientEnd::default();
    let mut state = StreamState::new(
        target.shape.period_us,
        plan.filtered.map(|filtered| FilterLog {
            filtered,
            ..FilterLog::default()
        }),
    );
    let profile = target.profile;
    let hello = match (plan.filtered, &target.filtered_hello) {
        (Some(true), Some(filtered)) => filtered.as_slice(),
        _ => target.hello.as_slice(),
    };
    let headers: Vec<(&str, &str)> = target
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let readers = readers.filter(|_| plan.read_delay.is_none() && plan.session.is_none());
    let mut first_connection = true;
    let mut pings_sent: u64 = 0;
    // A profile whose clients reconnect after a drop (Socket.IO): when the drop happened and
    // how many attempts followed it, for the back-off and the report's `recovery`.
    let backoff = profile.reconnect();
    let mut dropped_at: Option<Instant> = None;
    let mut attempt: u32 = 0;
    let wait_before_retry = |attempt: &mut u32| {
        let wait = backoff.map_or(Duration::from_secs(1), |b| {
            b.delay(
                *attempt,
                crate::run::unit(plan.index << 8 | (*attempt as usize & 0xff)),
            )
        });
        *attempt += 1;
        tokio::time::sleep(wait)
    };
    while Instant::now() < target.end {
        if !first_connection {
            local.counters.reconnects += 1;
        }
        first_connection = false;
        let session_end = plan
            .session
            .map_or(target.end, |s| (Instant::now() + s).min(target.end));
        let started = Instant::now();
        let request = match client_io::ws::upgrade_request(&target.ws_url, &headers) {
            Ok(request) => request,
            Err(e) => {
                recorder.ending(format!("bad request: {}", error_kind(&e)));
                end.ended_early = true;
                break;
            }
        };
        let connect = tokio::time::timeout(
            Duration::from_secs(10),
            Connection::open(request, readers.is_some()),
        )
        .await;
        let mut connection = match connect {
            Ok(Ok(connection)) => connection,
            failure => {
                local.counters.connect_errors += 1;
                recorder.ending(match failure {
                    Ok(Err(e)) => format!("connect: {}", error_kind(&e)),
                    _ => "connect: timeout".into(),
                });
                end.ended_early = true;
                wait_before_retry(&mut attempt).await;
                continue;
            }
        };
        let connect_us = started.elapsed().as_micros() as u64;
        local.counters.connects += 1;
        match profile.ready_type() {
            Some(ready) => match connection.start_session(profile, hello, ready).await {
                Ok(true) => {
                    recorder.connected_at(connect_us, Some(started.elapsed().as_micros() as u64));
                    if let Some(dropped) = dropped_at.take() {
                        recorder.back_after_drop(dropped.elapsed().as_micros() as u64);
                    }
                    attempt = 0;
                }
                Ok(false) => {
                    local.counters.auth_failures += 1;
                    recorder.ending("auth refused");
                    end.ended_early = true;
                    break;
                }
                Err(why) => {
                    recorder.ending(why);
                    end.ended_early = true;
                    wait_before_retry(&mut attempt).await;
                    continue;
                }
            },
            // The session starts with the first stream message (recorded below).
            None => recorder.connected_at(connect_us, None),
        }
        if let Some(log) = state.filter.as_mut() {
            log.ready_us = now_us();
        }
        recorder.connected.fetch_add(1, Relaxed);
        state.connected(started);
        let early = match connection {
            Connection::Task(ws) => {
                let mut ws = *ws;
                let early = task_session(
                    &mut ws,
                    &mut state,
                    &target,
                    &plan,
                    &mut local,
                    session_end,
                    &mut pings_sent,
                )
                .await;
                let _ = tokio::time::timeout(Duration::from_millis(500), ws.close(None)).await;
                early
            }
            Connection::Reader(stream, ahead) => {
                let readers = readers
                    .as_ref()
                    .expect("reader connections come with readers");
                let (back, early) = readers.run(stream, ahead, state, session_end).await;
                state = back;
                early
            }
        };
        recorder.connected.fetch_sub(1, Relaxed);
        if target.shape.delivery == Delivery::Broadcast {
            end.highest_frame = state.sequence.highest().max(end.highest_frame);
        }
        end.ended_early = early;
        if early && backoff.is_some() && Instant::now() < target.end {
            dropped_at = Some(Instant::now());
            wait_before_retry(&mut attempt).await;
        } else if early && plan.session.is_none() {
            break;
        }
    }
    end.filter = state.filter.take();
    local.finish();
    end
}

/// One session on tungstenite in the client's own task, until `session_end`; `true` when the
/// connection ended before it (the ending is recorded).
async fn task_session(
    ws: &mut Socket,
    state: &mut StreamState,
    target: &Target,
    plan: &Plan,
    local: &mut Local<'_>,
    session_end: Instant,
    pings_sent: &mut u64,
) -> bool {
    let recorder = local.recorder;
    let mut next_ping = target.ping_every.map(|every| Instant::now() + every);
    loop {
        // `timeout_at` polls the read first: a slow reader with a backlog would never see
        // its deadline pass, so the end of the session is checked on its own.
        if Instant::now() >= session_end {
            return false;
        }
        let wake = next_ping.map_or(session_end, |p| p.min(session_end));
        let next = tokio::time::timeout_at(wake.into(), ws.next()).await;
        let message = match next {
            Err(_) => {
                if let (Some(due), Some(every)) = (next_ping, target.ping_every) {
                    if Instant::now() >= due {
                        next_ping = Some(due + every);
                        if let Some(ping) = target.profile.ping(*pings_sent) {
                            *pings_sent += 1;
                            local.counters.pings += 1;
                            state.outstanding.push_back(Instant::now());
                            if ws.send(Message::Text(ping.into())).await.is_err() {
                                recorder.ending("closed while pinging");
                                return true;
                            }
                        }
                    }
                }
                continue;
            }
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => {
                recorder.ending(format!("error: {}", error_kind(&e.to_string())));
                return true;
            }
            Ok(None) => {
                recorder.ending("closed without close frame");
                return true;
            }
        };
        let text = match message {
            Message::Text(t) => t,
            Message::Close(frame) => {
                recorder.ending(frame.map_or("close (no code)".into(), |f| {
                    format!("close {}", u16::from(f.code))
                }));
                return true;
            }
            _ => continue,
        };
        if let Answer::Reply(reply) = state.on_text(text.as_str(), now_us(), target, local) {
            if ws.send(Message::Text(reply.into())).await.is_err() {
                recorder.ending("closed while answering a ping");
                return true;
            }
            continue;
        }
        if let Some(delay) = plan.read_delay {
            tokio::time::sleep(delay).await;
        }
    }
}

/// Connects and runs the hello; `None` (after recording why) when no session started.
async fn open_session(
    target: &Target,
    recorder: &Recorder,
    local: &mut Local<'_>,
) -> Option<Socket> {
    let headers: Vec<(&str, &str)> = target
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let started = Instant::now();
    let request = match client_io::ws::upgrade_request(&target.ws_url, &headers) {
        Ok(request) => request,
        Err(e) => {
            recorder.ending(format!("bad request: {}", error_kind(&e)));
            return None;
        }
    };
    let connect =
        tokio::time::timeout(Duration::from_secs(10), client_io::ws::connect(request)).await;
    let mut ws = match connect {
        Ok(Ok((ws, _))) => ws,
        failure => {
            local.counters.connect_errors += 1;
            recorder.ending(match failure {
                Ok(Err(e)) => format!("connect: {}", error_kind(&e.to_string())),
                _ => "connect: timeout".into(),
            });
            return None;
        }
    };
    let connect_us = started.elapsed().as_micros() as u64;
    local.counters.connects += 1;
    let ready = target.profile.ready_type().unwrap_or("");
    match start_session(&mut ws, target.profile, &target.hello, ready).await {
        Ok(true) => {
            recorder.connected_at(connect_us, Some(started.elapsed().as_micros() as u64));
            Some(ws)
        }
        Ok(false) => {
            local.counters.auth_failures += 1;
            recorder.ending("auth refused");
            None
        }
        Err(why) => {
            recorder.ending(why);
            None
        }
    }
}

/// How long an unanswered request counts as outstanding before it is a timeout (the seed's
/// `requestTimeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// After the run ends, how long answers are still awaited.
const DRAIN: Duration = Duration::from_secs(2);

/// One open-loop request client: request `k` is due at `start + k / rate` whether or not the
/// earlier ones were answered, and its latency runs from that scheduled time (coordinated
/// omission corrected: a server that stalls delays the answers, not the measurements).
pub async fn requests(
    plan: Plan,
    target: Arc<Target>,
    recorder: Arc<Recorder>,
    first_id: u64,
) -> ClientEnd {
    tokio::time::sleep(plan.start_after).await;
    let mut local = Local::new(&recorder);
    let mut mine = None;
    let mut end = ClientEnd::default();
    let Some(mut ws) = open_session(&target, &recorder, &mut local).await else {
        end.ended_early = true;
        local.finish();
        return end;
    };
    recorder.connected.fetch_add(1, Relaxed);
    let period = Duration::from_secs_f64(1.0 / target.rate.max(0.001));
    let start = Instant::now();
    let mut sent: u64 = 0;
    // Request number → scheduled time (µs, wall clock) of those not yet answered.
    let mut outstanding: std::collections::BTreeMap<u64, i64> = Default::default();
    let stop_sending = target.end;
    let stop_reading = target.end + DRAIN;
    let wall_start = now_us();
    loop {
        let due = start + period.mul_f64(sent as f64);
        let sending = due < stop_sending;
        let wake = if sending {
            due.min(stop_reading)
        } else {
            stop_reading
        };
        if !sending && outstanding.is_empty() {
            break;
        }
        let next = tokio::time::timeout_at(wake.into(), ws.next()).await;
        match next {
            Err(_) if Instant::now() >= stop_reading => break,
            Err(_) => {
                let n = first_id + sent;
                let scheduled_us = wall_start + (due - start).as_micros() as i64;
                sent += 1;
                let Some(request) = target.profile.request(target.scenario, n) else {
                    break;
                };
                outstanding.insert(n, scheduled_us);
                // A server that stops reading must not hold the client past the run.
                let send = ws.send(Message::Text(request.into()));
                if !matches!(
                    tokio::time::timeout_at(stop_reading.into(), send).await,
                    Ok(Ok(()))
                ) {
                    recorder.ending("closed or blocked while sending");
                    end.ended_early = true;
                    break;
                }
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                let Some(reply) = target.profile.reply(text.as_str()) else {
                    continue;
                };
                let Some(scheduled_us) = outstanding.remove(&reply.n) else {
                    local.counters.duplicated += 1;
                    continue;
                };
                let latency_us = (now_us() - scheduled_us).max(1) as u64;
                if latency_us > REQUEST_TIMEOUT.as_micros() as u64 {
                    local.counters.timeouts += 1;
                }
                if !reply.success {
                    local.counters.refused += 1;
                }
                end.insert_ids.extend(reply.insert_id);
                recorder.frames.fetch_add(1, Relaxed);
                local.counters.received += 1;
                local.sample(
                    &mut mine,
                    Sample {
                        scheduled_us,
                        latency_us,
                        delivered: true,
                    },
                );
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                recorder.ending(frame.map_or("close (no code)".into(), |f| {
                    format!("close {}", u16::from(f.code))
                }));
                end.ended_early = true;
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                recorder.ending(format!("error: {}", error_kind(&e.to_string())));
                end.ended_early = true;
                break;
            }
            Ok(None) => {
                recorder.ending("closed without close frame");
                end.ended_early = true;
                break;
            }
        }
    }
    // Never answered: lost, each at least as late as now (coordinated omission); a timeout
    // only if it waited past the 10 s request timeout.
    let now = now_us();
    for scheduled_us in outstanding.into_values() {
        local.counters.lost += 1;
        if now - scheduled_us > REQUEST_TIMEOUT.as_micros() as i64 {
            local.counters.timeouts += 1;
        }
        local.sample(
            &mut mine,
            Sample {
                scheduled_us,
                latency_us: (now - scheduled_us).max(1) as u64,
                delivered: false,
            },
        );
    }
    recorder.connected.fetch_sub(1, Relaxed);
    let _ = tokio::time::timeout(Duration::from_millis(500), ws.close(None)).await;
    local.finish();
    end
}

/// The stream's source when loadgen makes it (handler fan-out): message `k` goes out at
/// `start + k × period` carrying that scheduled time; the profile's acknowledgement of each is
/// the report's round trip (`rtt`).
pub async fn source(
    target: Arc<Target>,
    recorder: Arc<Recorder>,
    period: Duration,
    start_after: Duration,
) {
    tokio::time::sleep(start_after).await;
    let mut local = Local::new(&recorder);
    let Some(mut ws) = open_session(&target, &recorder, &mut local).await else {
        recorder.ending("publisher: no session");
        local.finish();
        return;
    };
    let ack = target.profile.source_ack_type();
    let start = Instant::now();
    let wall_start = now_us();
    let mut sent: u64 = 0;
    let mut awaiting: std::collections::VecDeque<Instant> = Default::default();
    loop {
        let due = start + period.mul_f64(sent as f64);
        if due >= target.end {
            break;
        }
        match tokio::time::timeout_at(due.into(), ws.next()).await {
            Err(_) => {
                let scheduled_us = wall_start + (due - start).as_micros() as i64;
                let Some(message) = target.profile.source(sent, scheduled_us) else {
                    break;
                };
                sent += 1;
                awaiting.push_back(Instant::now());
                let send = ws.send(Message::Text(message.into()));
                if !matches!(
                    tokio::time::timeout_at(target.end.into(), send).await,
                    Ok(Ok(()))
                ) {
                    recorder.ending("publisher: closed or blocked");
                    break;
                }
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                if head(text.as_str()).is_some_and(|h| h.ty.is_some() && h.ty == ack) {
                    if let Some(at) = awaiting.pop_front() {
                        local.counters.pongs += 1;
                        local.record_rtt(at.elapsed().as_micros() as u64);
                    }
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(_) => {
                recorder.ending("publisher: closed");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(500), ws.close(None)).await;
    local.finish();
}

/// The stream's source when loadgen makes it over HTTP (RetroBoard REST commands): command `k`
/// is posted at `start + k × period` carrying that scheduled time; each answer's time is the
/// report's round trip (`rtt`). Open loop: a slow answer does not delay the next command.
pub async fn http_source(
    target: Arc<Target>,
    recorder: Arc<Recorder>,
    period: Duration,
    start_after: Duration,
) {
    tokio::time::sleep(start_after).await;
    let Some(http) = target
        .http_url
        .as_deref()
        .and_then(|url| client_io::HttpClient::new(url).ok())
    else {
        recorder.ending("commands: no HTTP base URL");
        return;
    };
    let rtt = Arc::new(std::sync::Mutex::new(crate::histo::new_us()));
    let failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let wall_start = now_us();
    let mut inflight = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    for n in 0u64.. {
        let due = start + period.mul_f64(n as f64);
        if due >= target.end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let scheduled_us = wall_start + (due - start).as_micros() as i64;
        let Some((path, body)) = target.profile.http_source(n, scheduled_us) else {
            break;
        };
        sent += 1;
        let (http, rtt, failures) = (http.clone(), rtt.clone(), failures.clone());
        let (recorder, end) = (recorder.clone(), target.end);
        inflight.spawn(async move {
            let sent = Instant::now();
            match http
                .request("POST", path, Some(("application/json", body.into_bytes())))
                .await
            {
                Ok(reply) if reply.status == 200 => {
                    if Instant::now() + crate::recorder::TAIL_GRACE <= end {
                        recorder.confirmed_source.fetch_max(n + 1, Relaxed);
                    }
                    let mut rtt = rtt.lock().unwrap_or_else(|e| e.into_inner());
                    crate::histo::record(&mut rtt, sent.elapsed().as_micros() as u64);
                }
                _ => {
                    failures.fetch_add(1, Relaxed);
                }
            }
        });
        // Reap what has finished, so a long run does not keep every handle.
        while inflight.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while inflight.join_next().await.is_some() {}
    })
    .await;
    let failed = failures.load(Relaxed);
    if failed > 0 {
        recorder.ending(format!("commands: {failed} refused or failed"));
    }
    let mut local = Local::new(&recorder);
    let rtt = rtt.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let unanswered = sent.saturating_sub(failed + rtt.len());
    if unanswered > 0 {
        recorder.ending(format!(
            "commands: {unanswered} unanswered 5 s after the end"
        ));
    }
    local.counters.pongs += rtt.len();
    local.add_rtt(&rtt);
    local.finish();
}

/// A short, stable description of a connection error for grouping.
pub(crate) fn error_kind(text: &str) -> String {
    let lower = text.to_lowercase();
    for kind in [
        "refused",
        "reset",
        "timed out",
        "broken pipe",
        "too many open files",
    ] {
        if lower.contains(kind) {
            return kind.into();
        }
    }
    lower.chars().take(60).collect()
}

/// The host, port and TLS-ness of an `http://` or `https://` base URL.
fn host_port(base: &str) -> Option<(String, u16, bool)> {
    let uri: hyper::Uri = base.parse().ok()?;
    let tls = match uri.scheme_str()? {
        "http" => false,
        "https" => true,
        _ => return None,
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Some((uri.host()?.to_owned(), port, tls))
}

/// HTTP polling as the seed's web frontend does: `GET /data/realtime?count=1` at 20 Hz on an
/// absolute schedule; latency is the response time from the *scheduled* request time.
pub async fn polling(plan: Plan, target: Arc<Target>, recorder: Arc<Recorder>) -> ClientEnd {
    tokio::time::sleep(plan.start_after).await;
    let mut local = Local::new(&recorder);
    let mut mine = None;
    let Some(base) = target.http_url.clone() else {
        recorder.ending("polling needs --http");
        return ClientEnd {
            ended_early: true,
            ..ClientEnd::default()
        };
    };
    let Some((host, port, tls)) = host_port(&base) else {
        recorder.ending("--http is not an http:// or https:// URL");
        return ClientEnd {
            ended_early: true,
            ..ClientEnd::default()
        };
    };
    let authority = format!("{host}:{port}");
    let start = Instant::now();
    let start_us = now_us();
    let period = Duration::from_millis(50);
    let mut k: u32 = 0;
    let mut sender = None;
    let mut counted = false;
    while Instant::now() < target.end {
        let due = start + period * k;
        k += 1;
        tokio::time::sleep_until(due.into()).await;
        if sender.is_none() {
            let t0 = Instant::now();
            match client_io::tls::connect(&host, port, tls).await {
                Ok(stream) => {
                    match hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(
                        stream,
                    ))
                    .await
                    {
                        Ok((s, conn)) => {
                            tokio::spawn(conn);
                            local.counters.connects += 1;
                            recorder.connected_at(t0.elapsed().as_micros() as u64, None);
                            if !counted {
                                recorder.connected.fetch_add(1, Relaxed);
                                counted = true;
                            }
                            sender = Some(s);
                        }
                        Err(_) => local.counters.connect_errors += 1,
                    }
                }
                Err(e) => {
                    local.counters.connect_errors += 1;
                    recorder.ending(format!("connect: {}", error_kind(&e.to_string())));
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let request = hyper::Request::get("/data/realtime?count=1")
            .header("host", &authority)
            .body(Empty::<Bytes>::new())
            .expect("a static request builds");
        let ok = match s.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let complete = response.into_body().collect().await.is_ok();
                status.is_success() && complete
            }
            Err(_) => {
                sender = None;
                false
            }
        };
        let scheduled_us = start_us + (due - start).as_micros() as i64;
        if ok {
            local.counters.received += 1;
            recorder.frames.fetch_add(1, Relaxed);
            local.sample(
                &mut mine,
                Sample {
                    scheduled_us,
                    latency_us: (now_us() - scheduled_us).max(1) as u64,
                    delivered: true,
                },
            );
        } else {
            local.counters.http_errors += 1;
        }
    }
    if counted {
        recorder.connected.fetch_sub(1, Relaxed);
    }
    local.finish();
    ClientEnd::default()
}
