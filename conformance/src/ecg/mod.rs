//! The ECG server suite (PROFILES.md §3, ids `ecg.ws.*`), against any server over the wire.
//!
//! Every case opens its own connections to `<ws>/ws/ecg/stream?token=…`. The auth cases, one
//! captured stream window (schema, timestamps, cadence, first frame, point count) and the
//! client-message cases run concurrently; then, alone, isolation behind a stalled reader and a
//! connection made while 50 streams run. A case that cannot be judged because another rule broke first
//! is informational, so one fault fails one case.

use crate::cases::{
    all_valid, case, fail, in_registry_order, info, non_strict, pass, CaseInfo, Ctx,
};
use crate::outcome::{CaseResult, Evidence, Outcome};
use crate::record::{RecordError, Transcript};
use crate::wire::{Event, WsConn};
use protocol::ecg::{STREAM_PATH, TOKEN_PARAM};
use protocol::Profile;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub mod probe;

macro_rules! cases {
    ($($id:literal => $title:literal,)+) => {
        /// Every case of the ECG suite, in report order.
        pub const CASES: &[CaseInfo] = &[$(CaseInfo { id: $id, title: $title },)+];
    };
}

cases! {
    "ecg.ws.auth.missing_token" => "No token: the server closes (1000) without sending a frame",
    "ecg.ws.auth.bad_token" => "A wrong token: the server closes (1000) without sending a frame",
    "ecg.ws.auth.empty_token" => "An empty token (?token=): the server closes (1000) without sending a frame",
    "ecg.ws.stream.schema" => "Every frame matches the ecg_frame schema",
    "ecg.ws.stream.timestamp" => "Frames carry timestamps that strictly increase",
    "ecg.ws.stream.cadence" => "Frames arrive every interval (160 ms ± 5%) over 50 or more frames",
    "ecg.ws.stream.first_frame" => "The first frame arrives one interval after the upgrade (± 100 ms)",
    "ecg.ws.stream.points_stable" => "Every frame has the same number of points",
    "ecg.ws.client_message_ignored" => "start_stream and garbage get no reply; the stream goes on and the connection stays open",
    "ecg.ws.oversize_closes_1009" => "A message over 64 KiB is closed with 1009",
    "ecg.ws.isolation" => "A stalled reader does not delay another connection's stream",
    "ecg.ws.concurrent_connect" => "While 50 streams run, a new connection gets its first frame within 1 s",
}

/// The ECG suite, as the registry sees it.
pub struct EcgSuite;

impl crate::profiles::ProfileSuite for EcgSuite {
    fn profile(&self) -> &'static dyn Profile {
        &protocol::ecg::ECG
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
        Box::pin(probe::run(probe::EcgProbeConfig {
            listen: request.listen,
            duration: request.duration,
            token: request.secret,
            interval: request.interval.unwrap_or(protocol::ecg::DEFAULT_INTERVAL),
            tls: request.tls,
        }))
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

/// The recorded ECG session: `start_stream` as the seed's front end sends it, then `frames`
/// frames (timestamps redacted; the synthetic points are the same in every run).
pub async fn record(ws: &str, secret: &str, frames: usize) -> Result<Vec<Value>, RecordError> {
    let url = stream_url_from(ws, Some(secret));
    let mut conn = WsConn::connect(&url, CONNECT_WITHIN).await?;
    let mut t = Transcript::new(&protocol::ecg::ECG);
    let start = json!({"type": "start_stream", "user_id": "123"});
    conn.send_json(&start).await;
    t.sent(start);
    for _ in 0..frames {
        match conn.next_event(CONNECT_WITHIN).await {
            Event::Json { value, .. } => t.got(value),
            _ => return Err(RecordError::NoAnswer("send frames")),
        }
    }
    conn.close().await;
    Ok(t.lines)
}

/// How long a server may take to close a refused connection.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// The stream URL with `token` (`None`: no query at all).
fn stream_url(ctx: &Ctx, token: Option<&str>) -> String {
    stream_url_from(&ctx.ws_url, token)
}

fn stream_url_from(ws: &str, token: Option<&str>) -> String {
    let base = ws.trim_end_matches('/');
    let base = base.strip_suffix(STREAM_PATH).unwrap_or(base);
    match token {
        None => format!("{base}{STREAM_PATH}"),
        Some(token) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair(TOKEN_PARAM, token)
                .finish();
            format!("{base}{STREAM_PATH}?{query}")
        }
    }
}

fn period(ctx: &Ctx) -> Duration {
    ctx.period.unwrap_or(protocol::ecg::DEFAULT_INTERVAL)
}

/// Runs every case; the result is in registry order.
pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let (auth, stream, input) = tokio::join!(auth_cases(ctx), stream_cases(ctx), input_cases(ctx));
    // Alone: a server that lets a stalled reader block everyone would otherwise also fail the
    // stream cases running beside it, and one fault must fail one case.
    let isolation = isolation(ctx).await;
    let concurrent = concurrent_connect(ctx).await;
    let results = auth
        .into_iter()
        .chain(stream)
        .chain(input)
        .chain([isolation, concurrent])
        .collect();
    in_registry_order(CASES, results)
}

async fn auth_cases(ctx: &Ctx) -> Vec<CaseResult> {
    let wrong = format!("{}-wrong", ctx.secret);
    let (missing, bad, empty) = tokio::join!(
        refused(ctx, "ecg.ws.auth.missing_token", None),
        refused(ctx, "ecg.ws.auth.bad_token", Some(&wrong)),
        refused(ctx, "ecg.ws.auth.empty_token", Some("")),
    );
    vec![missing, bad, empty]
}

/// A connection with a bad token must be closed with 1000 before any frame.
async fn refused(ctx: &Ctx, id: &'static str, token: Option<&str>) -> CaseResult {
    let url = stream_url(ctx, token);
    let mut conn = match WsConn::connect(&url, CONNECT_WITHIN).await {
        Ok(conn) => conn,
        Err(e) => {
            let text = e.to_string();
            return if text.contains("401") || text.contains("403") {
                non_strict(
                    id,
                    format!("refused with HTTP instead of 101 + close 1000: {text}"),
                )
            } else {
                fail(id, Evidence::note(format!("the upgrade failed: {text}")))
            };
        }
    };
    let started = Instant::now();
    match conn.next_event(CLOSE_WITHIN).await {
        Event::Closed(Some((1000, _))) => pass(
            id,
            format!(
                "closed with 1000 after {:.0} ms, nothing sent",
                started.elapsed().as_secs_f64() * 1000.0
            ),
        ),
        Event::Closed(Some((code, reason))) => non_strict(
            id,
            format!("closed with {code} {reason:?} (the seed's close is 1000)"),
        ),
        Event::Closed(None) => non_strict(id, "the TCP connection ended without a close frame"),
        Event::Timeout => fail(
            id,
            Evidence::note(format!("still open after {CLOSE_WITHIN:?}")),
        ),
        Event::Json { value, .. } => fail(
            id,
            Evidence::note("a frame arrived before any close").with_message(value),
        ),
        other => fail(
            id,
            Evidence::note(format!("{other:?} arrived before any close")),
        ),
    }
}

/// One frame as received.
struct Arrival {
    value: Value,
    at: Instant,
}

/// Reads frames from a fresh authorized connection for `window`; `(opened, frames, ending)`.
async fn capture(
    ctx: &Ctx,
    window: Duration,
) -> Result<(Instant, Vec<Arrival>, Option<Event>), String> {
    let mut conn = WsConn::connect(&stream_url(ctx, Some(&ctx.secret)), CONNECT_WITHIN)
        .await
        .map_err(|e| e.to_string())?;
    let opened = Instant::now();
    let deadline = opened + window;
    let mut frames = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            conn.close().await;
            return Ok((opened, frames, None));
        }
        match conn.next_event(left).await {
            Event::Json { value, at, .. } => frames.push(Arrival { value, at }),
            Event::Timeout => {
                conn.close().await;
                return Ok((opened, frames, None));
            }
            other => return Ok((opened, frames, Some(other))),
        }
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn stream_cases(ctx: &Ctx) -> Vec<CaseResult> {
    let period = period(ctx);
    // At least 50 intervals, plus a little for the first frame.
    let window = ctx.window.max(period * 53);
    let ids = [
        "ecg.ws.stream.schema",
        "ecg.ws.stream.timestamp",
        "ecg.ws.stream.cadence",
        "ecg.ws.stream.first_frame",
        "ecg.ws.stream.points_stable",
    ];
    let (opened, frames, ending) = match capture(ctx, window).await {
        Ok(captured) => captured,
        Err(e) => {
            return ids
                .iter()
                .map(|id| fail(id, Evidence::note(format!("cannot connect: {e}"))))
                .collect()
        }
    };
    let values: Vec<Value> = frames.iter().map(|f| f.value.clone()).collect();
    let ended = ending
        .map(|e| format!("; the stream ended early: {e:?}"))
        .unwrap_or_default();
    vec![
        all_valid(ctx, ids[0], "ecg_frame", &values),
        timestamps(&values),
        cadence(&frames, period, &ended),
        first_frame(opened, &frames, period),
        points_stable(&values),
    ]
}

fn timestamps(frames: &[Value]) -> CaseResult {
    let id = "ecg.ws.stream.timestamp";
    if frames.is_empty() {
        return info(id, "no frame arrived");
    }
    let stamps: Vec<Option<i64>> = frames
        .iter()
        .map(|f| {
            f.get("timestamp")
                .and_then(Value::as_str)
                .and_then(protocol::timestamp::unix_micros)
        })
        .collect();
    let present: Vec<(usize, i64)> = stamps
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (i, t)))
        .collect();
    if let Some(w) = present.windows(2).find(|w| w[1].1 <= w[0].1) {
        let evidence = Evidence::note(format!(
            "frame {} has timestamp {} µs, not after frame {}'s {} µs",
            w[1].0, w[1].1, w[0].0, w[0].1
        ))
        .with_message(frames[w[1].0].clone());
        return fail(id, evidence);
    }
    let missing = stamps.len() - present.len();
    if missing > 0 {
        return non_strict(
            id,
            format!(
                "{missing} of {} frames have no (valid) timestamp; the ones present increase",
                frames.len()
            ),
        );
    }
    pass(
        id,
        format!("{} timestamps, strictly increasing", frames.len()),
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn cadence(frames: &[Arrival], period: Duration, ended: &str) -> CaseResult {
    let id = "ecg.ws.stream.cadence";
    if frames.len() < 51 {
        return fail(
            id,
            Evidence::note(format!(
                "only {} frames arrived; 51 are needed for 50 intervals{ended}",
                frames.len()
            )),
        );
    }
    let gaps: Vec<f64> = frames
        .windows(2)
        .map(|w| millis(w[1].at - w[0].at))
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let expected = millis(period);
    let mut deviations: Vec<f64> = gaps.iter().map(|g| (g - expected).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let note = format!(
        "mean interval {mean:.2} ms over {} intervals against {expected:.0} ms; |Δ−{expected:.0}| p50 {:.2} / p99 {:.2} / max {:.2} ms",
        gaps.len(),
        percentile(&deviations, 0.5),
        percentile(&deviations, 0.99),
        deviations.last().copied().unwrap_or_default()
    );
    let off = (mean - expected) / expected;
    if off.abs() <= 0.05 {
        pass(id, note)
    } else if off > 0.05 && off <= 0.25 {
        non_strict(
            id,
            format!("{note}: slower than the interval, as a sleep-then-send loop drifts"),
        )
    } else {
        fail(id, Evidence::note(note))
    }
}

fn first_frame(opened: Instant, frames: &[Arrival], period: Duration) -> CaseResult {
    let id = "ecg.ws.stream.first_frame";
    let Some(first) = frames.first() else {
        return info(id, "no frame arrived");
    };
    let after = millis(first.at - opened);
    let expected = millis(period);
    let verdict = if (after - expected).abs() <= 100.0 {
        "within"
    } else {
        "outside"
    };
    info(
        id,
        format!("first frame {after:.1} ms after the upgrade, {verdict} {expected:.0} ± 100 ms"),
    )
}

fn points_stable(frames: &[Value]) -> CaseResult {
    let id = "ecg.ws.stream.points_stable";
    let mut counts: Vec<usize> = frames
        .iter()
        .filter_map(|f| f.get("points").and_then(Value::as_array).map(Vec::len))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    match counts.as_slice() {
        [] => info(id, "no frame with points arrived"),
        [n] => info(id, format!("every frame has {n} points")),
        many => info(id, format!("point counts vary: {many:?}")),
    }
}

async fn input_cases(ctx: &Ctx) -> Vec<CaseResult> {
    let (ignored, oversize) = tokio::join!(client_message_ignored(ctx), oversize(ctx));
    vec![ignored, oversize]
}

/// `start_stream`, invalid JSON and a binary frame: no reply, the stream goes on.
async fn client_message_ignored(ctx: &Ctx) -> CaseResult {
    let id = "ecg.ws.client_message_ignored";
    let period = period(ctx);
    let mut conn = match WsConn::connect(&stream_url(ctx, Some(&ctx.secret)), CONNECT_WITHIN).await
    {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("cannot connect: {e}"))),
    };
    if !matches!(
        conn.next_event(period * 3 + Duration::from_secs(1)).await,
        Event::Json { .. }
    ) {
        return info(id, "no first frame arrived, so the stream cannot be judged");
    }
    let start = json!({"type": "start_stream", "user_id": "123"});
    let sent = conn.send_json(&start).await
        && conn.send_text("{not json").await
        && conn.send_binary(vec![0xff, 0x00, 0x7f]).await;
    if !sent {
        return fail(id, Evidence::note("the connection was gone while sending"));
    }
    let watch = (period * 8).max(Duration::from_secs(1));
    let deadline = Instant::now() + watch;
    let mut frames = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.next_event(left).await {
            Event::Timeout => break,
            Event::Json { value, .. } if value.get("points").is_some() => frames += 1,
            Event::Json { value, .. } => {
                return fail(
                    id,
                    Evidence::note("the server answered a client message").with_message(value),
                )
            }
            Event::Text(text) => {
                return fail(
                    id,
                    Evidence::note(format!("the server answered with text {text:?}")),
                )
            }
            Event::Binary(n) => {
                return fail(
                    id,
                    Evidence::note(format!("the server answered with {n} binary bytes")),
                )
            }
            Event::Closed(frame) => {
                return fail(
                    id,
                    Evidence::note(format!(
                        "the server closed the connection ({frame:?}) after the client messages"
                    )),
                )
            }
            Event::Pong => {}
        }
    }
    conn.close().await;
    let expected = (watch.as_secs_f64() / period.as_secs_f64()) as usize;
    if frames * 2 < expected {
        return fail(id, Evidence::note(format!("only {frames} frames in {watch:?} after the client messages (about {expected} expected)")));
    }
    pass(id, format!("no reply; {frames} frames in {watch:?} after start_stream, invalid JSON and a binary frame"))
}

async fn oversize(ctx: &Ctx) -> CaseResult {
    let id = "ecg.ws.oversize_closes_1009";
    let mut conn = match WsConn::connect(&stream_url(ctx, Some(&ctx.secret)), CONNECT_WITHIN).await
    {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("cannot connect: {e}"))),
    };
    if !conn.send_text(&"x".repeat(70_000)).await {
        return info(id, "the connection was gone before the message went out");
    }
    match conn.close_code(CLOSE_WITHIN).await {
        Some(Some((1009, _))) => pass(id, "closed with 1009"),
        Some(Some((code, reason))) => non_strict(id, format!("closed with {code} {reason:?} instead of 1009")),
        Some(None) => non_strict(id, "the connection ended without a close frame"),
        None => info(id, format!("still open {CLOSE_WITHIN:?} after a 70,000-byte message (the 64 KiB limit is the reference server's decision)")),
    }
}

/// One connection stops reading (with a small receive buffer, so the server's writes to it
/// block soon); another must keep its cadence all along.
async fn isolation(ctx: &Ctx) -> CaseResult {
    let id = "ecg.ws.isolation";
    let period = period(ctx);
    let url = stream_url(ctx, Some(&ctx.secret));
    let stalled = match WsConn::connect_with_recv_buffer(&url, CONNECT_WITHIN, 4096).await {
        Ok(conn) => conn,
        Err(e) => {
            return fail(
                id,
                Evidence::note(format!("cannot connect the stalled reader: {e}")),
            )
        }
    };
    let mut reader = match WsConn::connect(&url, CONNECT_WITHIN).await {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("cannot connect: {e}"))),
    };
    // Long enough for the stalled socket's buffers to fill and block a naive server.
    let watch = ctx.window.max(period * 100);
    let limit = (period * 4).max(Duration::from_millis(500));
    let deadline = Instant::now() + watch;
    let mut last = Instant::now();
    let (mut frames, mut worst) = (0usize, Duration::ZERO);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match reader.next_event(left).await {
            Event::Json { at, .. } => {
                worst = worst.max(at - last);
                last = at;
                frames += 1;
            }
            Event::Timeout => break,
            Event::Pong | Event::Text(_) | Event::Binary(_) => {}
            Event::Closed(frame) => {
                return fail(
                    id,
                    Evidence::note(format!(
                        "the reading connection was closed ({frame:?}) while another stalled"
                    )),
                )
            }
        }
    }
    worst = worst.max(Instant::now() - last);
    drop(stalled);
    reader.close().await;
    let note = format!(
        "{frames} frames in {watch:?} beside a stalled reader; longest gap {:.0} ms",
        millis(worst)
    );
    if worst > limit {
        return fail(
            id,
            Evidence::note(format!("{note} (over {} ms)", millis(limit))),
        );
    }
    pass(id, note)
}

/// 50 running streams, then one more connection: its first frame within 1 s.
async fn concurrent_connect(ctx: &Ctx) -> CaseResult {
    let id = "ecg.ws.concurrent_connect";
    let period = period(ctx);
    let url = stream_url(ctx, Some(&ctx.secret));
    let first_wait = period * 3 + Duration::from_secs(1);
    let opened = futures_util::future::join_all((0..50).map(|_| {
        let url = url.clone();
        async move {
            let mut conn = WsConn::connect(&url, CONNECT_WITHIN).await.ok()?;
            matches!(conn.next_event(first_wait).await, Event::Json { .. }).then_some(conn)
        }
    }))
    .await;
    let running: Vec<WsConn> = opened.into_iter().flatten().collect();
    if running.len() < 50 {
        return case(
            id,
            Outcome::Informational,
            vec![Evidence::note(format!(
                "only {} of 50 streams started, so the case cannot be judged",
                running.len()
            ))],
        );
    }
    let started = Instant::now();
    let mut late = match WsConn::connect(&url, CONNECT_WITHIN).await {
        Ok(conn) => conn,
        Err(e) => {
            return fail(
                id,
                Evidence::note(format!("the 51st connection failed: {e}")),
            )
        }
    };
    let result = match late
        .next_event(Duration::from_secs(1).saturating_sub(started.elapsed()))
        .await
    {
        Event::Json { at, .. } => pass(
            id,
            format!(
                "first frame {:.0} ms after connecting beside 50 streams",
                millis(at - started)
            ),
        ),
        other => fail(
            id,
            Evidence::note(format!(
                "no first frame within 1 s beside 50 streams: {other:?}"
            )),
        ),
    };
    late.close().await;
    drop(running);
    result
}
