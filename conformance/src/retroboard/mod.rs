//! The RetroBoard server suite (PROFILES.md §4, ids `retroboard.*`), against any server over
//! the wire: Engine.IO v4 on both transports, Socket.IO v5 connect, the state events, every
//! REST command's broadcast, resync and unknown events.
//!
//! `--ws` (or `--http`) is the server's base URL; Socket.IO is at `/socket.io/` and REST at
//! `/api/` of the same origin. The ping cases wait for the server's own pingInterval and run
//! beside the others; every case that changes state (REST, resync) runs alone, one after
//! another, so a broadcast is never mistaken for another case's.

pub mod probe;

use crate::cases::{case, fail, in_registry_order, info, non_strict, pass, CaseInfo, Ctx};
use crate::outcome::{CaseResult, Evidence, Outcome};
use crate::record::RecordError;
use crate::wire::socketio::{self, Joined, SioEvent, SioPolling, SioWs};
use crate::wire::HttpClient;
use protocol::retroboard::{RETROBOARD, STATE_EVENTS};
use protocol::socketio::{SioKind, SioPacket};
use protocol::Profile;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

macro_rules! cases {
    ($($id:literal => $title:literal,)+) => {
        /// Every case of the RetroBoard suite, in report order.
        pub const CASES: &[CaseInfo] = &[$(CaseInfo { id: $id, title: $title },)+];
    };
}

cases! {
    "retroboard.eio.open.polling" => "A polling handshake gets an open packet with sid, upgrades [\"websocket\"], pingInterval 25000, pingTimeout 60000 and maxPayload",
    "retroboard.eio.open.websocket" => "A direct WebSocket gets an open packet with sid, pingInterval, pingTimeout and maxPayload",
    "retroboard.eio.upgrade" => "A polling session upgrades: 2probe → 3probe, 5, then Socket.IO works over the WebSocket",
    "retroboard.eio.ping" => "The server pings (2) within pingInterval ± 10%",
    "retroboard.eio.ping_timeout" => "A client that never answers pings is closed within pingTimeout + 2 s of the first ping",
    "retroboard.eio.bad_version" => "EIO=3 is refused with HTTP 400 (informational)",
    "retroboard.sio.connect" => "40 is answered with 40{\"sid\"}",
    "retroboard.sio.bad_namespace" => "A connect to a namespace other than / gets 44 CONNECT_ERROR",
    "retroboard.sio.unknown_event" => "An unknown event is ignored and the connection keeps working",
    "retroboard.state.initial" => "On connect (WebSocket) the four state events arrive within 2 s, in order, and match their schemas",
    "retroboard.state.initial.polling" => "On connect over polling the four state events arrive within 2 s and match their schemas",
    "retroboard.state.request_state" => "request_state gets the four events in order, and another client gets nothing",
    "retroboard.rest.switch" => "POST /api/switch: every client (WebSocket and polling) gets current_app with the new app within 500 ms",
    "retroboard.rest.settings" => "POST /api/settings: every client gets settings with the new brightness within 500 ms",
    "retroboard.rest.carousel" => "POST /api/carousel: every client gets carousel_config with the new list within 500 ms",
    "retroboard.rest.config" => "POST /api/config: every client gets current_app with the merged config within 500 ms",
    "retroboard.carousel.rotation" => "An enabled carousel of 1 s entries rotates: current_app and carousel_config with the next index after 1 s (± 500 ms)",
    "retroboard.rest.invalid" => "An unknown app, brightness 101 and malformed JSON get a 4xx and broadcast nothing",
    "retroboard.rest.text_plain_body" => "A JSON body sent as text/plain is accepted (informational)",
    "retroboard.state.resync" => "A change made while a client was away shows in its initial state after it reconnects",
}

/// The RetroBoard suite, as the registry sees it.
pub struct RetroBoardSuite;

impl crate::profiles::ProfileSuite for RetroBoardSuite {
    fn profile(&self) -> &'static dyn Profile {
        &RETROBOARD
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
        _ws: &'a str,
        _secret: &'a str,
        _frames: usize,
    ) -> crate::profiles::RecordFuture<'a> {
        Box::pin(async {
            Err(RecordError::Unsupported(
                "retroboard has no recorded session yet",
            ))
        })
    }
}

const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// The state events must all arrive this soon after connecting.
const STATE_WITHIN: Duration = Duration::from_secs(2);
/// A REST command's broadcast must reach every client this soon after the POST was sent.
const BROADCAST_WITHIN: Duration = Duration::from_millis(500);
/// How long a client listens for an event that must not come.
const QUIET_FOR: Duration = Duration::from_millis(500);
/// The ping cases run only when the wait they need is at most this.
const LONGEST_PING_WAIT: Duration = Duration::from_secs(30);

/// Runs every case; the result is in registry order.
pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let base = ctx.http_url.clone().unwrap_or_else(|| ctx.ws_url.clone());
    let http = match HttpClient::new(&socketio::http_base(&base)) {
        Ok(http) => http,
        Err(e) => {
            return CASES
                .iter()
                .map(|c| info(c.id, format!("no HTTP base URL to use: {e}")))
                .collect();
        }
    };
    let board = Board {
        base,
        http,
        ctx: ctx.clone(),
    };
    // The ping cases time what they read: on their own task, other cases cannot delay them.
    let pings = tokio::spawn(ping_cases(board.clone()));
    let mut results = async {
        let mut results = Vec::new();
        results.extend(open_cases(&board).await);
        results.push(upgrade(&board).await);
        results.push(bad_version(&board).await);
        results.extend(connect_cases(&board).await);
        results.extend(state_cases(&board).await);
        results.push(request_state(&board).await);
        results.push(unknown_event(&board).await);
        results.extend(rest_cases(ctx, &board).await);
        results
    }
    .await;
    match pings.await {
        Ok(pings) => results.extend(pings),
        Err(e) => {
            for id in ["retroboard.eio.ping", "retroboard.eio.ping_timeout"] {
                results.push(info(id, format!("the ping cases did not finish: {e}")));
            }
        }
    }
    in_registry_order(CASES, results)
}

/// Where the subject is.
#[derive(Clone)]
struct Board {
    base: String,
    http: HttpClient,
    /// The run's context (its schemas judge what arrives).
    ctx: Ctx,
}

/// A client on either transport (a case holds two or three: their size does not matter).
#[allow(clippy::large_enum_variant)]
enum Client {
    Ws(SioWs),
    Polling(SioPolling),
}

impl Client {
    async fn next(&mut self, within: Duration) -> SioEvent {
        match self {
            Client::Ws(ws) => ws.next(within).await,
            Client::Polling(p) => p.next(within).await,
        }
    }

    async fn emit(&mut self, name: &str, args: Vec<Value>) -> bool {
        match self {
            Client::Ws(ws) => ws.emit(name, args).await,
            Client::Polling(p) => p.emit(name, args).await.is_ok(),
        }
    }

    async fn close(&mut self) {
        match self {
            Client::Ws(ws) => ws.close().await,
            Client::Polling(p) => p.close().await,
        }
    }

    fn transport(&self) -> &'static str {
        match self {
            Client::Ws(_) => "websocket",
            Client::Polling(_) => "polling",
        }
    }

    /// Reads until event `name` whose payload satisfies `want`; the payload, or what was
    /// seen instead.
    async fn wait_for(
        &mut self,
        name: &str,
        within: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Result<(Value, Instant), Vec<String>> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match self.next(left(deadline)).await {
                SioEvent::Event {
                    name: got,
                    args,
                    at,
                } if got == name => {
                    let payload = args.into_iter().next().unwrap_or(Value::Null);
                    if want(&payload) {
                        return Ok((payload, at));
                    }
                    seen.push(format!("{got} {payload}"));
                }
                SioEvent::Ping(_) | SioEvent::Noop => {}
                SioEvent::Timeout => return Err(seen),
                closed @ SioEvent::Closed(_) => {
                    seen.push(format!("{closed:?}"));
                    return Err(seen);
                }
                other => seen.push(describe(&other)),
            }
        }
    }

    /// Every event that arrives within `within` (pings and noops left out).
    async fn events_for(&mut self, within: Duration) -> Vec<SioEvent> {
        let deadline = Instant::now() + within;
        let mut events = Vec::new();
        loop {
            match self.next(left(deadline)).await {
                SioEvent::Timeout => return events,
                SioEvent::Ping(_) | SioEvent::Noop => {}
                closed @ SioEvent::Closed(_) => {
                    events.push(closed);
                    return events;
                }
                other => events.push(other),
            }
        }
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn describe(event: &SioEvent) -> String {
    match event {
        SioEvent::Event { name, args, .. } => format!(
            "{name} {}",
            args.first().map(ToString::to_string).unwrap_or_default()
        ),
        other => format!("{other:?}"),
    }
}

/// A joined client and the state it got on connect (events in arrival order, with the
/// number that came before the CONNECT answer).
struct Connected {
    client: Client,
    state: Vec<(String, Value)>,
    before_ack: usize,
}

impl Board {
    /// Joins `/` on `transport` and reads until the four state events are in (or 2 s pass).
    async fn connect(&self, polling: bool) -> Result<Connected, String> {
        let started = Instant::now();
        let (mut client, early) = if polling {
            let mut p = SioPolling::open(&self.base)
                .await
                .map_err(|e| format!("polling handshake: {e}"))?;
            let (_connected, early) = p
                .join(CONNECT_WITHIN)
                .await
                .map_err(|e| format!("joining / over polling: {e}"))?;
            (Client::Polling(p), early)
        } else {
            let Joined { ws, early, .. } = SioWs::join(&self.base, CONNECT_WITHIN)
                .await
                .map_err(|e| format!("joining / over websocket: {e}"))?;
            (Client::Ws(ws), early)
        };
        let before_ack = early.len();
        let mut state: Vec<(String, Value)> = early
            .iter()
            .filter_map(|e| e.as_event().map(|(n, p)| (n.to_owned(), p.clone())))
            .collect();
        let deadline = started + STATE_WITHIN;
        while !has_all_state(&state) {
            match client.next(left(deadline)).await {
                SioEvent::Event { name, args, .. } => {
                    state.push((name, args.into_iter().next().unwrap_or(Value::Null)))
                }
                SioEvent::Timeout | SioEvent::Closed(_) => break,
                _ => {}
            }
        }
        Ok(Connected {
            client,
            state,
            before_ack,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<client_io::HttpReply, String> {
        self.http
            .request(
                "POST",
                path,
                Some(("application/json", body.to_string().into_bytes())),
            )
            .await
            .map_err(|e| e.to_string())
    }
}

fn has_all_state(state: &[(String, Value)]) -> bool {
    STATE_EVENTS
        .iter()
        .all(|name| state.iter().any(|(n, _)| n == name))
}

fn payload<'a>(state: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    state.iter().find(|(n, _)| n == name).map(|(_, p)| p)
}

/// The open packet's required members; a missing one as a finding.
fn open_problems(open: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if open["sid"].as_str().is_none_or(str::is_empty) {
        problems.push("no sid string".to_owned());
    }
    if !open["upgrades"].is_array() {
        problems.push("no upgrades array".to_owned());
    }
    for member in ["pingInterval", "pingTimeout", "maxPayload"] {
        if open[member].as_u64().is_none_or(|v| v == 0) {
            problems.push(format!("no positive integer {member}"));
        }
    }
    problems
}

/// pingInterval 25000 / pingTimeout 60000 are the seed's; others are non-strict.
fn judge_open(id: &'static str, open: &Value, extra: Option<String>) -> CaseResult {
    let mut problems = open_problems(open);
    problems.extend(extra);
    if !problems.is_empty() {
        return fail(
            id,
            Evidence::note(format!("open packet: {}", problems.join("; ")))
                .with_message(open.clone()),
        );
    }
    let (interval, timeout) = (open["pingInterval"].as_u64(), open["pingTimeout"].as_u64());
    if (interval, timeout) != (Some(25_000), Some(60_000)) {
        return case(
            id,
            Outcome::NonStrict,
            vec![Evidence::note(format!(
                "pingInterval {} / pingTimeout {}: the seed's server uses 25000 / 60000",
                interval.unwrap_or(0),
                timeout.unwrap_or(0)
            ))
            .with_message(open.clone())],
        );
    }
    pass(id, format!("open packet {open}"))
}

async fn open_cases(board: &Board) -> Vec<CaseResult> {
    let polling = match SioPolling::open(&board.base).await {
        Ok(p) => {
            let upgrades = &p.open["upgrades"];
            let extra = (!upgrades
                .as_array()
                .is_some_and(|u| u.iter().any(|t| t == "websocket")))
            .then(|| format!("upgrades is {upgrades}, not [\"websocket\"]"));
            judge_open("retroboard.eio.open.polling", &p.open, extra)
        }
        Err(e) => fail(
            "retroboard.eio.open.polling",
            Evidence::note(format!("polling handshake failed: {e}")),
        ),
    };
    let websocket = match SioWs::connect(&board.base, CONNECT_WITHIN).await {
        Ok(mut ws) => match ws.next(CONNECT_WITHIN).await {
            SioEvent::Open(open) => {
                ws.close().await;
                judge_open("retroboard.eio.open.websocket", &open, None)
            }
            other => fail(
                "retroboard.eio.open.websocket",
                Evidence::note(format!("expected the open packet first, got {other:?}")),
            ),
        },
        Err(e) => fail(
            "retroboard.eio.open.websocket",
            Evidence::note(format!("WebSocket handshake failed: {e}")),
        ),
    };
    vec![polling, websocket]
}

async fn upgrade(board: &Board) -> CaseResult {
    const ID: &str = "retroboard.eio.upgrade";
    let polling = match SioPolling::open(&board.base).await {
        Ok(p) => p,
        Err(e) => return info(ID, format!("no polling session to upgrade: {e}")),
    };
    let mut ws = match polling.upgrade(CONNECT_WITHIN).await {
        Ok(ws) => ws,
        Err(e) => return fail(ID, Evidence::note(format!("upgrade: {e}"))),
    };
    ws.send_sio(&connect_packet("/")).await;
    let deadline = Instant::now() + CONNECT_WITHIN;
    loop {
        match ws.next(left(deadline)).await {
            SioEvent::Connected { data, .. } => {
                ws.close().await;
                return pass(
                    ID,
                    format!("2probe → 3probe, 5, then 40 → 40{data} over the WebSocket"),
                );
            }
            SioEvent::Event { .. } | SioEvent::Noop | SioEvent::Ping(_) => {}
            other => {
                return fail(
                    ID,
                    Evidence::note(format!(
                        "after the upgrade, 40 got {other:?} instead of 40{{sid}}"
                    )),
                )
            }
        }
    }
}

fn connect_packet(namespace: &str) -> SioPacket {
    SioPacket {
        kind: SioKind::Connect,
        namespace: namespace.into(),
        attachments: 0,
        ack_id: None,
        data: None,
    }
}

async fn bad_version(board: &Board) -> CaseResult {
    const ID: &str = "retroboard.eio.bad_version";
    match board
        .http
        .get(&format!("{}?EIO=3&transport=polling", socketio::PATH))
        .await
    {
        Ok(reply) if reply.status == 400 => pass(ID, "EIO=3 got 400"),
        Ok(reply) => info(
            ID,
            format!(
                "EIO=3 got {} ({}); a v4 server refuses it with 400",
                reply.status,
                reply.text.chars().take(80).collect::<String>()
            ),
        ),
        Err(e) => info(ID, format!("EIO=3 request failed: {e}")),
    }
}

async fn connect_cases(board: &Board) -> Vec<CaseResult> {
    let connect = match SioWs::join(&board.base, CONNECT_WITHIN).await {
        Ok(mut joined) => {
            joined.ws.close().await;
            if joined.connected["sid"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
            {
                pass(
                    "retroboard.sio.connect",
                    format!("40 → 40{}", joined.connected),
                )
            } else {
                fail(
                    "retroboard.sio.connect",
                    Evidence::note("the CONNECT answer has no sid")
                        .with_message(joined.connected.clone()),
                )
            }
        }
        Err(e) => fail("retroboard.sio.connect", Evidence::note(e.to_string())),
    };
    const BAD: &str = "retroboard.sio.bad_namespace";
    let bad = match SioWs::connect(&board.base, CONNECT_WITHIN).await {
        Err(e) => info(BAD, format!("no WebSocket: {e}")),
        Ok(mut ws) => {
            let _open = ws.next(CONNECT_WITHIN).await;
            ws.send_sio(&connect_packet("/nope")).await;
            let deadline = Instant::now() + STATE_WITHIN;
            let verdict = loop {
                match ws.next(left(deadline)).await {
                    SioEvent::ConnectError { namespace, data } if namespace == "/nope" => {
                        break pass(BAD, format!("40/nope, → 44/nope,{data}"))
                    }
                    SioEvent::Ping(_) | SioEvent::Noop => {}
                    SioEvent::Connected { namespace, .. } => {
                        break fail(
                            BAD,
                            Evidence::note(format!("the server accepted namespace {namespace}")),
                        )
                    }
                    other => {
                        break fail(
                            BAD,
                            Evidence::note(format!("expected 44/nope, within 2 s, got {other:?}")),
                        )
                    }
                }
            };
            ws.close().await;
            verdict
        }
    };
    vec![connect, bad]
}

/// The four events of `state` against their schemas, and their order.
fn judge_state(id: &'static str, ctx_schemas: &Ctx, got: &Connected) -> CaseResult {
    let names: Vec<&str> = got.state.iter().map(|(n, _)| n.as_str()).collect();
    if !has_all_state(&got.state) {
        return fail(
            id,
            Evidence::note(format!(
                "within 2 s of connecting over {} only {names:?} arrived; expected {STATE_EVENTS:?}",
                got.client.transport()
            )),
        );
    }
    for name in STATE_EVENTS {
        let payload = payload(&got.state, name).cloned().unwrap_or(Value::Null);
        if let Some(evidence) = crate::cases::schema_violation(ctx_schemas, name, &payload) {
            return fail(id, evidence);
        }
    }
    let apps = payload(&got.state, "apps_list")
        .cloned()
        .unwrap_or_default();
    let current = payload(&got.state, "current_app")
        .cloned()
        .unwrap_or_default();
    if apps["current"] != current["app"] {
        return fail(
            id,
            Evidence::note(format!(
                "apps_list says current {} but current_app says {}",
                apps["current"], current["app"]
            )),
        );
    }
    if !apps["apps"]
        .as_array()
        .is_some_and(|a| a.contains(&apps["current"]))
    {
        return fail(
            id,
            Evidence::note("the current app is not in apps_list.apps").with_message(apps),
        );
    }
    let first_four: Vec<&str> = names.iter().copied().take(4).collect();
    let where_ack = format!("{} of them before the CONNECT answer", got.before_ack);
    if first_four != STATE_EVENTS {
        return non_strict(
            id,
            format!("the state arrived as {names:?}, not {STATE_EVENTS:?} ({where_ack})"),
        );
    }
    pass(
        id,
        format!(
            "{} over {}, all valid ({where_ack})",
            STATE_EVENTS.join(" → "),
            got.client.transport()
        ),
    )
}

async fn state_cases(board: &Board) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for (id, polling) in [
        ("retroboard.state.initial", false),
        ("retroboard.state.initial.polling", true),
    ] {
        results.push(match board.connect(polling).await {
            Ok(mut got) => {
                let verdict = judge_state(id, &board.ctx, &got);
                got.client.close().await;
                verdict
            }
            Err(e) => fail(id, Evidence::note(e)),
        });
    }
    results
}

async fn request_state(board: &Board) -> CaseResult {
    const ID: &str = "retroboard.state.request_state";
    let (a, b) = tokio::join!(board.connect(false), board.connect(false));
    let (mut a, mut b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return info(ID, format!("cannot connect two clients: {e}")),
    };
    if !has_all_state(&a.state) || !has_all_state(&b.state) {
        return info(
            ID,
            "the initial state did not arrive (see retroboard.state.initial)",
        );
    }
    a.client.emit("request_state", vec![]).await;
    let mut names = Vec::new();
    let deadline = Instant::now() + STATE_WITHIN;
    while names.len() < 4 {
        match a.client.next(left(deadline)).await {
            SioEvent::Event { name, .. } => names.push(name),
            SioEvent::Timeout | SioEvent::Closed(_) => break,
            _ => {}
        }
    }
    let other = b.client.events_for(QUIET_FOR).await;
    a.client.close().await;
    b.client.close().await;
    if names.len() < 4 {
        return fail(
            ID,
            Evidence::note(format!(
                "after request_state only {names:?} arrived within 2 s"
            )),
        );
    }
    if !other.is_empty() {
        return fail(
            ID,
            Evidence::note(format!(
                "another client received {:?}: request_state must answer the requester only",
                other.iter().map(describe).collect::<Vec<_>>()
            )),
        );
    }
    if names != STATE_EVENTS {
        return non_strict(
            ID,
            format!("request_state got {names:?}, not {STATE_EVENTS:?}"),
        );
    }
    pass(
        ID,
        "the four events in order to the requester; nothing to another client within 500 ms",
    )
}

async fn unknown_event(board: &Board) -> CaseResult {
    const ID: &str = "retroboard.sio.unknown_event";
    let mut got = match board.connect(false).await {
        Ok(got) => got,
        Err(e) => return info(ID, e),
    };
    got.client
        .emit("no_such_event", vec![json!({"x": 1})])
        .await;
    // The connection must stay: no `41`, no close, for a while.
    let after = got.client.events_for(Duration::from_secs(1)).await;
    if let Some(end) = after.iter().find(|e| {
        matches!(
            e,
            SioEvent::Disconnect | SioEvent::Close | SioEvent::Closed(_)
        )
    }) {
        got.client.close().await;
        return fail(
            ID,
            Evidence::note(format!(
                "after an unknown event the server ended the session ({end:?}); unknown events are ignored"
            )),
        );
    }
    got.client.emit("request_state", vec![]).await;
    let verdict = match got
        .client
        .wait_for("apps_list", STATE_WITHIN, |_| true)
        .await
    {
        Ok(_) => pass(
            ID,
            "no_such_event ignored: the session stayed 1 s and request_state was still answered",
        ),
        Err(_) => info(
            ID,
            "the session stayed open 1 s after an unknown event, but request_state went unanswered (see retroboard.state.request_state)",
        ),
    };
    got.client.close().await;
    verdict
}

/// A WebSocket and a polling client with their state read, for the REST cases.
async fn listeners(board: &Board) -> Result<Vec<Connected>, String> {
    let (ws, polling) = tokio::join!(board.connect(false), board.connect(true));
    let listeners = vec![ws?, polling?];
    if listeners.iter().any(|l| !has_all_state(&l.state)) {
        return Err("the initial state did not arrive (see retroboard.state.initial)".into());
    }
    Ok(listeners)
}

async fn close_all(listeners: &mut [Connected]) {
    for l in listeners {
        l.client.close().await;
    }
}

/// POSTs `body` to `path`, then expects every listener to get `event` satisfying `want`
/// within 500 ms of the send, and the answer to be a 200 valid as `response_kind`.
async fn command(
    board: &Board,
    id: &'static str,
    path: &str,
    body: Value,
    event: &str,
    response_kind: &str,
    want: impl Fn(&Value) -> bool,
) -> CaseResult {
    let mut listeners = match listeners(board).await {
        Ok(l) => l,
        Err(e) => return info(id, e),
    };
    let sent = Instant::now();
    let (reply, arrivals) = tokio::join!(board.post(path, &body), async {
        let mut arrivals = Vec::new();
        for l in listeners.iter_mut() {
            let transport = l.client.transport();
            let within = BROADCAST_WITHIN.saturating_sub(sent.elapsed());
            arrivals.push((transport, l.client.wait_for(event, within, &want).await));
        }
        arrivals
    });
    close_all(&mut listeners).await;
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => return fail(id, Evidence::note(format!("POST {path}: {e}"))),
    };
    if reply.status != 200 {
        return fail(
            id,
            Evidence::note(format!("POST {path} {body} got {}", reply.status))
                .with_message(reply.body),
        );
    }
    let mut latencies = Vec::new();
    for (transport, arrival) in arrivals {
        match arrival {
            Ok((_, at)) => latencies.push(format!(
                "{transport} {:.0} ms",
                at.duration_since(sent).as_secs_f64() * 1000.0
            )),
            Err(seen) => {
                return fail(
                    id,
                    Evidence::note(format!(
                        "after POST {path} {body}, the {transport} client got no matching {event} within 500 ms; saw {seen:?}"
                    )),
                )
            }
        }
    }
    if let Some(evidence) = crate::cases::schema_violation(&board.ctx, response_kind, &reply.body) {
        return non_strict(
            id,
            format!(
                "the broadcast arrived ({}), but the answer is not a {response_kind}: {}",
                latencies.join(", "),
                evidence.note
            ),
        );
    }
    pass(
        id,
        format!("POST {path} {body} → {event} ({})", latencies.join(", ")),
    )
}

async fn rest_cases(ctx: &Ctx, board: &Board) -> Vec<CaseResult> {
    const MUTATING: [&str; 8] = [
        "retroboard.carousel.rotation",
        "retroboard.rest.switch",
        "retroboard.rest.settings",
        "retroboard.rest.carousel",
        "retroboard.rest.config",
        "retroboard.rest.invalid",
        "retroboard.rest.text_plain_body",
        "retroboard.state.resync",
    ];
    if !ctx.mutate {
        return MUTATING
            .iter()
            .map(|id| info(id, "skipped: --no-mutate (this case sends REST commands)"))
            .collect();
    }
    let snapshot = match board.connect(false).await {
        Ok(mut got) => {
            got.client.close().await;
            got.state
        }
        Err(e) => {
            return MUTATING
                .iter()
                .map(|id| info(id, format!("no initial state to start from: {e}")))
                .collect()
        }
    };
    let apps: Vec<String> = payload(&snapshot, "apps_list")
        .and_then(|a| a["apps"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let current = payload(&snapshot, "current_app")
        .and_then(|c| c["app"].as_str())
        .unwrap_or_default()
        .to_owned();
    let brightness = payload(&snapshot, "settings")
        .and_then(|s| s["brightness"].as_u64())
        .unwrap_or(100);
    let carousel = payload(&snapshot, "carousel_config")
        .cloned()
        .unwrap_or_default();
    let other = apps.iter().find(|a| **a != current).cloned();

    let mut results = Vec::new();
    // switch: to another app when there is one.
    let target = other.clone().unwrap_or_else(|| current.clone());
    let switch = || {
        command(
            board,
            "retroboard.rest.switch",
            "/api/switch",
            json!({"app": target}),
            "current_app",
            "switch_response",
            |p| p["app"] == target.as_str(),
        )
    };
    let first = switch().await;
    results.push(if first.outcome == Outcome::Fail {
        first
    } else {
        // Again, now that it is current: the broadcast is due all the same.
        let again = switch().await;
        if again.outcome == Outcome::Fail {
            again
        } else {
            first
        }
    });
    // settings: a brightness different from the current one.
    let new_brightness = (brightness + 37) % 101;
    results.push(
        command(
            board,
            "retroboard.rest.settings",
            "/api/settings",
            json!({"brightness": new_brightness}),
            "settings",
            "settings_response",
            move |p| p["brightness"] == new_brightness,
        )
        .await,
    );
    // carousel: a new list, off, so nothing rotates during the suite.
    let list: Vec<Value> = apps
        .iter()
        .take(2)
        .map(|a| json!({"app": a, "duration": 30}))
        .collect();
    let first_app = list.first().map(|e| e["app"].clone()).unwrap_or_default();
    results.push(
        command(
            board,
            "retroboard.rest.carousel",
            "/api/carousel",
            json!({"enabled": false, "apps": list}),
            "carousel_config",
            "carousel_response",
            move |p| {
                p["enabled"] == false
                    && p["current_index"] == 0
                    && p["apps"][0]["app"] == first_app
                    && p["apps"][0]["duration"] == 30
            },
        )
        .await,
    );
    // config: a tagged member merged into the current app's config.
    let tag = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            % 1_000_000_000,
    )
    .unwrap_or(1);
    // First a member that the second command does not name: the merge must keep it.
    let kept = board
        .post(
            "/api/config",
            &json!({"config": {"_conformance_kept": tag}}),
        )
        .await;
    results.push(match kept {
        Ok(reply) if reply.status == 200 => {
            command(
                board,
                "retroboard.rest.config",
                "/api/config",
                json!({"config": {"_conformance": tag}}),
                "current_app",
                "config_response",
                move |p| {
                    p["config"]["_conformance"] == tag && p["config"]["_conformance_kept"] == tag
                },
            )
            .await
        }
        Ok(reply) => fail(
            "retroboard.rest.config",
            Evidence::note(format!("POST /api/config got {}", reply.status))
                .with_message(reply.body),
        ),
        Err(e) => fail(
            "retroboard.rest.config",
            Evidence::note(format!("POST /api/config: {e}")),
        ),
    });
    results.push(rotation(board, &apps).await);
    results.push(invalid(board).await);
    results.push(text_plain(board, brightness).await);
    results.push(resync(board, new_brightness).await);
    // Leave the board as it was found (best effort).
    let _ = board
        .post("/api/settings", &json!({"brightness": brightness}))
        .await;
    let _ = board.post("/api/switch", &json!({"app": current})).await;
    if carousel.is_object() {
        let _ = board
            .post(
                "/api/carousel",
                &json!({"enabled": carousel["enabled"], "apps": carousel["apps"]}),
            )
            .await;
    }
    results
}

/// Enables a two-entry carousel of 1 s each and waits for one rotation, then turns it off.
async fn rotation(board: &Board, apps: &[String]) -> CaseResult {
    const ID: &str = "retroboard.carousel.rotation";
    let [first, second, ..] = apps else {
        return info(ID, "fewer than two apps: nothing to rotate between");
    };
    let mut listeners = match listeners(board).await {
        Ok(l) => l,
        Err(e) => return info(ID, e),
    };
    let body = json!({"enabled": true, "apps": [{"app": first, "duration": 1}, {"app": second, "duration": 1}]});
    let reply = board.post("/api/carousel", &body).await;
    let enabled = Instant::now();
    let mut verdict = match reply {
        Ok(reply) if reply.status == 200 => None,
        Ok(reply) => Some(fail(
            ID,
            Evidence::note(format!("POST /api/carousel {body} got {}", reply.status))
                .with_message(reply.body),
        )),
        Err(e) => Some(fail(ID, Evidence::note(format!("POST /api/carousel: {e}")))),
    };
    if verdict.is_none() {
        let mut notes = Vec::new();
        for l in listeners.iter_mut() {
            let transport = l.client.transport();
            let within = Duration::from_millis(2500).saturating_sub(enabled.elapsed());
            let rotated = l
                .client
                .wait_for("carousel_config", within, |p| {
                    p["current_index"] == 1 && p["enabled"] == true
                })
                .await;
            match rotated {
                Ok((_, at)) => {
                    let after = at.duration_since(enabled);
                    if after < Duration::from_millis(500) {
                        verdict = Some(fail(ID, Evidence::note(format!(
                            "the {transport} client saw the carousel advance {} ms after it was enabled; the entry lasts 1 s",
                            after.as_millis()
                        ))));
                        break;
                    }
                    notes.push(format!("{transport} {} ms", after.as_millis()));
                }
                Err(seen) => {
                    verdict = Some(fail(ID, Evidence::note(format!(
                        "the {transport} client saw no carousel_config with current_index 1 within 2.5 s of enabling a 1 s carousel; saw {seen:?}"
                    ))));
                    break;
                }
            }
        }
        verdict.get_or_insert_with(|| {
            pass(ID, format!("rotated to index 1 after {}", notes.join(", ")))
        });
    }
    let _ = board
        .post("/api/carousel", &json!({"enabled": false}))
        .await;
    close_all(&mut listeners).await;
    verdict.unwrap_or_else(|| info(ID, "no verdict"))
}

async fn invalid(board: &Board) -> CaseResult {
    const ID: &str = "retroboard.rest.invalid";
    let mut listeners = match listeners(board).await {
        Ok(l) => l,
        Err(e) => return info(ID, e),
    };
    let bad: [(&str, Vec<u8>, &str); 3] = [
        (
            "/api/switch",
            br#"{"app": "no_such_app_conformance"}"#.to_vec(),
            "an unknown app",
        ),
        (
            "/api/settings",
            br#"{"brightness": 101}"#.to_vec(),
            "brightness 101",
        ),
        (
            "/api/settings",
            br#"{"brightness": 5"#.to_vec(),
            "malformed JSON",
        ),
    ];
    let mut problems = Vec::new();
    let mut non_strict_notes = Vec::new();
    for (path, body, what) in bad {
        match board
            .http
            .request("POST", path, Some(("application/json", body)))
            .await
        {
            Ok(reply) if (400..500).contains(&reply.status) => {
                if let Some(e) = crate::cases::schema_violation(&board.ctx, "error", &reply.body) {
                    non_strict_notes.push(format!("{what}: {} but {}", reply.status, e.note));
                }
            }
            Ok(reply) => problems.push(format!("{what} to {path} got {}", reply.status)),
            Err(e) => problems.push(format!("{what} to {path}: {e}")),
        }
    }
    // Only what a refused command could have caused counts: a late broadcast of an earlier
    // case (a slow server) must not fail this one.
    let mut heard = Vec::new();
    for l in listeners.iter_mut() {
        let brightness = payload(&l.state, "settings").map(|s| s["brightness"].clone());
        let events = l.client.events_for(QUIET_FOR).await;
        heard.extend(
            events
                .iter()
                .filter(|e| match e.as_event() {
                    Some(("settings", p)) => Some(&p["brightness"]) != brightness.as_ref(),
                    Some(("current_app", p)) => p["app"] == "no_such_app_conformance",
                    _ => false,
                })
                .map(|e| format!("{}: {}", l.client.transport(), describe(e))),
        );
    }
    close_all(&mut listeners).await;
    if !heard.is_empty() {
        problems.push(format!("refused commands broadcast {heard:?}"));
    }
    if !problems.is_empty() {
        return fail(ID, Evidence::note(problems.join("; ")));
    }
    if !non_strict_notes.is_empty() {
        return non_strict(ID, non_strict_notes.join("; "));
    }
    pass(
        ID,
        "three bad commands: 4xx each, valid error bodies, no event",
    )
}

async fn text_plain(board: &Board, brightness: u64) -> CaseResult {
    const ID: &str = "retroboard.rest.text_plain_body";
    let body = json!({"brightness": brightness}).to_string().into_bytes();
    match board
        .http
        .request("POST", "/api/settings", Some(("text/plain;charset=UTF-8", body)))
        .await
    {
        Ok(reply) if reply.status == 200 => pass(ID, "a text/plain JSON body was accepted"),
        Ok(reply) => info(
            ID,
            format!(
                "a text/plain JSON body got {} (the seed's fetch sends no Content-Type; Flask's get_json() answers 415)",
                reply.status
            ),
        ),
        Err(e) => info(ID, format!("POST failed: {e}")),
    }
}

async fn resync(board: &Board, previous: u64) -> CaseResult {
    const ID: &str = "retroboard.state.resync";
    let mut first = match board.connect(false).await {
        Ok(got) => got,
        Err(e) => return info(ID, e),
    };
    first.client.close().await;
    let changed = (previous + 11) % 101;
    match board
        .post("/api/settings", &json!({"brightness": changed}))
        .await
    {
        Ok(reply) if reply.status == 200 => {}
        Ok(reply) => return info(ID, format!("the change was refused ({})", reply.status)),
        Err(e) => return info(ID, format!("the change failed: {e}")),
    }
    let mut again = match board.connect(false).await {
        Ok(got) => got,
        Err(e) => return fail(ID, Evidence::note(format!("reconnecting: {e}"))),
    };
    again.client.close().await;
    match payload(&again.state, "settings") {
        Some(settings) if settings["brightness"] == changed => pass(
            ID,
            format!("brightness {changed}, set while away, is in the new initial state"),
        ),
        Some(settings) => fail(
            ID,
            Evidence::note(format!(
                "brightness was set to {changed} while the client was away; its initial state after reconnecting says {settings}"
            )),
        ),
        None => fail(ID, Evidence::note("no settings event after reconnecting")),
    }
}

async fn ping_cases(board: Board) -> Vec<CaseResult> {
    let (ping, timeout) = tokio::join!(ping(&board), ping_timeout(&board));
    vec![ping, timeout]
}

async fn ping(board: &Board) -> CaseResult {
    const ID: &str = "retroboard.eio.ping";
    let mut joined = match SioWs::join(&board.base, CONNECT_WITHIN).await {
        Ok(joined) => joined,
        Err(e) => return info(ID, format!("cannot connect: {e}")),
    };
    let opened = joined.opened_at;
    let Some(interval) = joined.open["pingInterval"]
        .as_u64()
        .map(Duration::from_millis)
    else {
        return info(ID, "the open packet has no pingInterval");
    };
    if interval > LONGEST_PING_WAIT {
        return info(
            ID,
            format!(
                "pingInterval is {interval:?}: longer than this suite waits ({LONGEST_PING_WAIT:?}); run the server with a shorter one"
            ),
        );
    }
    let (low, high) = (
        interval
            .mul_f64(0.9)
            .saturating_sub(Duration::from_millis(100)),
        interval.mul_f64(1.1) + Duration::from_millis(200),
    );
    // A ping well before pingInterval (socketioxide sends one right after the handshake) is
    // an extra, not the schedule: the schedule is judged from the last such early ping.
    let deadline = opened + high * 2 + Duration::from_secs(1);
    let mut pings = std::mem::take(&mut joined.pings);
    let regular = |pings: &[Instant]| pings.iter().any(|p| p.duration_since(opened) >= low);
    while !regular(&pings) {
        match joined.ws.next(left(deadline)).await {
            SioEvent::Ping(at) => pings.push(at),
            SioEvent::Timeout | SioEvent::Closed(_) => break,
            _ => {}
        }
    }
    joined.ws.close().await;
    let early: Vec<&Instant> = pings
        .iter()
        .filter(|p| p.duration_since(opened) < low)
        .collect();
    let from = early.last().map_or(opened, |p| **p);
    let Some(first) = pings.iter().find(|p| p.duration_since(opened) >= low) else {
        return fail(
            ID,
            Evidence::note(format!(
                "no ping on schedule within {} ms of the open packet (pingInterval {} ms; {} early ping(s))",
                (deadline - opened).as_millis(),
                interval.as_millis(),
                early.len()
            )),
        );
    };
    let after = first.duration_since(from);
    let since = if early.is_empty() {
        "the open packet"
    } else {
        "the ping right after the handshake"
    };
    if after < low || after > high {
        return fail(
            ID,
            Evidence::note(format!(
                "a ping came {} ms after {since}; pingInterval is {} ms (± 10%)",
                after.as_millis(),
                interval.as_millis()
            ))
            .with_measured("ping_gap_ms", after.as_secs_f64() * 1000.0, "ms"),
        );
    }
    pass(
        ID,
        format!(
            "a ping {} ms after {since} (pingInterval {} ms)",
            after.as_millis(),
            interval.as_millis()
        ),
    )
}

async fn ping_timeout(board: &Board) -> CaseResult {
    const ID: &str = "retroboard.eio.ping_timeout";
    let mut joined = match SioWs::join(&board.base, CONNECT_WITHIN).await {
        Ok(joined) => joined,
        Err(e) => return info(ID, format!("cannot connect: {e}")),
    };
    joined.ws.answer_pings = false;
    let opened = joined.opened_at;
    let (Some(interval), Some(timeout)) = (
        joined.open["pingInterval"]
            .as_u64()
            .map(Duration::from_millis),
        joined.open["pingTimeout"]
            .as_u64()
            .map(Duration::from_millis),
    ) else {
        return info(ID, "the open packet lacks pingInterval or pingTimeout");
    };
    if interval + timeout > LONGEST_PING_WAIT {
        return info(
            ID,
            format!(
                "pingInterval + pingTimeout is {:?}: longer than this suite waits ({LONGEST_PING_WAIT:?}); run the server with shorter ones",
                interval + timeout
            ),
        );
    }
    let grace = Duration::from_secs(2);
    let deadline = opened + interval.mul_f64(1.1) + timeout + grace + Duration::from_secs(1);
    let mut first_ping = None;
    loop {
        match joined.ws.next(left(deadline)).await {
            SioEvent::Ping(at) => {
                first_ping.get_or_insert(at);
            }
            SioEvent::Close | SioEvent::Closed(_) => break,
            SioEvent::Timeout if first_ping.is_none() => {
                joined.ws.close().await;
                return info(
                    ID,
                    "the server sent no ping to leave unanswered (see retroboard.eio.ping)",
                );
            }
            SioEvent::Timeout => {
                joined.ws.close().await;
                return fail(
                    ID,
                    Evidence::note(format!(
                        "a client that answered no ping was still open {} ms after connecting (pingInterval {} ms, pingTimeout {} ms)",
                        opened.elapsed().as_millis(),
                        interval.as_millis(),
                        timeout.as_millis()
                    )),
                );
            }
            _ => {}
        }
    }
    let closed = Instant::now();
    let Some(ping) = first_ping else {
        return info(ID, "the server closed before it sent a ping");
    };
    let after = closed.duration_since(ping);
    if after > timeout + grace {
        return fail(
            ID,
            Evidence::note(format!(
                "closed {} ms after the unanswered ping; pingTimeout is {} ms (+ 2 s)",
                after.as_millis(),
                timeout.as_millis()
            )),
        );
    }
    pass(
        ID,
        format!(
            "closed {} ms after the first unanswered ping (pingTimeout {} ms)",
            after.as_millis(),
            timeout.as_millis()
        ),
    )
}
