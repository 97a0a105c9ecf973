//! What the client sends: ping, a burst over the rate limit, bad input, `request_data`, and
//! silence (the idle timeout). Each runs on a connection of its own.

use super::{open, ANSWER_WITHIN};
use crate::cases::{fail, info, non_strict, pass, schema_violation, Ctx};
use crate::outcome::{CaseResult, Evidence};
use crate::wire::{Event, WsConn};
use protocol::monitor::{Endpoint, RATE_LIMIT_MESSAGES};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub async fn cases(ctx: &Ctx) -> Vec<CaseResult> {
    let (pong, rate, bad, request) = tokio::join!(
        ping_pong(ctx),
        rate_limit(ctx),
        bad_input(ctx),
        request_data(ctx)
    );
    vec![pong, rate, bad, request]
}

/// Reads until a message `pick` accepts, for at most `within`; the event that ended the wait
/// otherwise (`Event::Timeout` when nothing did).
async fn next_matching(
    conn: &mut WsConn,
    within: Duration,
    pick: impl Fn(&Value) -> bool,
) -> Result<Value, Event> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.next_event(left).await {
            Event::Json { value, .. } if pick(&value) => return Ok(value),
            Event::Json { .. } | Event::Pong | Event::Text(_) | Event::Binary(_) => {}
            other => return Err(other),
        }
    }
}

fn is(ty: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == ty
}

async fn ping_pong(ctx: &Ctx) -> CaseResult {
    let id = "monitor.ws.ping.pong";
    let mut conn = match open(ctx, Endpoint::Status).await {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("cannot connect: {e}"))),
    };
    let sent = Instant::now();
    conn.send_json(&json!({"type": "ping", "id": "pong-case"}))
        .await;
    let limit = Duration::from_secs(1);
    let result = match next_matching(&mut conn, limit, is("pong")).await {
        Ok(pong) => {
            let ms = sent.elapsed().as_secs_f64() * 1000.0;
            let echo = if pong["meta"]["request_id"] == "pong-case" {
                "meta.request_id echoes the ping's id"
            } else {
                "no meta.request_id (a reference decision, not required)"
            };
            pass(id, format!("pong after {ms:.1} ms; {echo}"))
        }
        Err(Event::Timeout) => fail(id, Evidence::note(format!("no pong within {limit:?}"))),
        Err(other) => fail(id, Evidence::note(format!("no pong: {other:?}"))),
    };
    conn.close().await;
    result
}

/// Whether the connection still answers an RFC 6455 ping.
async fn still_open(conn: &mut WsConn) -> bool {
    if !conn.send_ping(b"still-open").await {
        return false;
    }
    let deadline = Instant::now() + ANSWER_WITHIN;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.next_event(left).await {
            Event::Pong => return true,
            Event::Json { .. } | Event::Text(_) | Event::Binary(_) => {}
            _ => return false,
        }
    }
}

async fn rate_limit(ctx: &Ctx) -> CaseResult {
    let id = "monitor.ws.rate_limit";
    let mut conn = match open(ctx, Endpoint::Status).await {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("cannot connect: {e}"))),
    };
    let burst = RATE_LIMIT_MESSAGES + 1;
    for i in 0..burst {
        if !conn
            .send_json(&json!({"type": "ping", "id": format!("burst-{i}")}))
            .await
        {
            return fail(
                id,
                Evidence::note(format!("the connection closed after {i} messages")),
            );
        }
    }
    let limited = |v: &Value| v["type"] == "error" && v["data"]["code"] == "RATE_LIMIT_EXCEEDED";
    let result = match next_matching(&mut conn, Duration::from_secs(3), limited).await {
        Ok(error) => match error["data"]["retry_after"].as_u64() {
            None => fail(
                id,
                Evidence::note("RATE_LIMIT_EXCEEDED without an integer retry_after")
                    .with_message(error),
            ),
            Some(ms) if still_open(&mut conn).await => pass(
                id,
                format!("{burst} messages: RATE_LIMIT_EXCEEDED, retry_after {ms} ms, still open"),
            ),
            Some(_) => fail(
                id,
                Evidence::note(
                    "the connection closed after RATE_LIMIT_EXCEEDED (it must stay open)",
                ),
            ),
        },
        Err(Event::Timeout) => fail(
            id,
            Evidence::note(format!(
                "{burst} messages at once got no RATE_LIMIT_EXCEEDED within 3 s"
            )),
        ),
        Err(other) => fail(
            id,
            Evidence::note(format!("the burst ended the connection: {other:?}")),
        ),
    };
    conn.close().await;
    result
}

async fn bad_input(ctx: &Ctx) -> CaseResult {
    let id = "monitor.ws.bad_input";
    let mut conn = match open(ctx, Endpoint::Status).await {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("cannot connect: {e}"))),
    };
    let inputs = [
        ("{not json", "INVALID_JSON"),
        (r#"{"type":"launch_rockets"}"#, "UNKNOWN_MESSAGE_TYPE"),
        (
            r#"{"type":"subscribe","data":{"events":[]}}"#,
            "VALIDATION_ERROR",
        ),
    ];
    let mut codes = Vec::new();
    let mut unexpected = Vec::new();
    for (input, expected) in inputs {
        conn.send_text(input).await;
        match next_matching(&mut conn, ANSWER_WITHIN, is("error")).await {
            Ok(error) => {
                if let Some(evidence) = schema_violation(ctx, "error", &error) {
                    return fail(id, evidence);
                }
                let code = error["data"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if code != expected {
                    unexpected.push(format!("{input} got {code} (decided: {expected})"));
                }
                codes.push(code);
            }
            Err(Event::Timeout) => codes.push("no error".into()),
            Err(other) => {
                return fail(
                    id,
                    Evidence::note(format!(
                        "{input:?} ended the connection ({other:?}); it must stay open"
                    )),
                )
            }
        }
    }
    if !still_open(&mut conn).await {
        return fail(
            id,
            Evidence::note("the connection closed after the bad input"),
        );
    }
    conn.close().await;
    let summary = codes.join(", ");
    if codes.iter().any(|c| c == "no error") {
        info(id, format!("not every bad message was answered ({summary}); the seed defines no error for bad input"))
    } else if !unexpected.is_empty() {
        non_strict(id, unexpected.join("; "))
    } else {
        pass(id, format!("{summary}; still open"))
    }
}

async fn request_data(ctx: &Ctx) -> CaseResult {
    let id = "monitor.ws.request_data";
    let mut conn = match open(ctx, Endpoint::Performance).await {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("cannot connect: {e}"))),
    };
    let request = json!({"type": "request_data", "id": "rd-1", "data": {"metrics": ["cpu_percent", "memory_percent"], "history_minutes": 1}});
    conn.send_json(&request).await;
    let reply = |v: &Value| v["type"] == "performance" && v["meta"]["reply_to"] == "request_data";
    let result = match next_matching(&mut conn, ANSWER_WITHIN, reply).await {
        Ok(reply) => match schema_violation(ctx, "performance", &reply) {
            Some(evidence) => fail(id, evidence),
            None => {
                let points = reply["data"]["history"]["cpu_percent"]
                    .as_array()
                    .map_or(0, Vec::len);
                pass(
                    id,
                    format!("a reply with {points} cpu_percent history points"),
                )
            }
        },
        Err(other) => info(
            id,
            format!("no reply marked meta.reply_to request_data ({other:?}); the seed shows none"),
        ),
    };
    conn.close().await;
    result
}

/// Only with `--idle-timeout`: a client that sends nothing is closed with 1000 after it.
pub async fn idle_timeout(ctx: &Ctx) -> CaseResult {
    let id = "monitor.ws.idle_timeout";
    let Some(timeout) = ctx.idle_timeout else {
        return info(
            id,
            "not run: pass --idle-timeout with the server's (it waits that long)",
        );
    };
    let mut conn = match open(ctx, Endpoint::Status).await {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("cannot connect: {e}"))),
    };
    let started = Instant::now();
    let limit = timeout + Duration::from_secs(2);
    let closed = conn.close_code(limit).await;
    let after = started.elapsed();
    let ms = after.as_secs_f64() * 1000.0;
    match closed {
        None => fail(
            id,
            Evidence::note(format!("still open after {limit:?} of silence")),
        ),
        Some(_) if after < timeout.mul_f64(0.9) => fail(
            id,
            Evidence::note(format!(
                "closed after {ms:.0} ms, before the {timeout:?} timeout"
            )),
        ),
        Some(Some((1000, reason))) => pass(id, format!("closed 1000 {reason:?} after {ms:.0} ms")),
        Some(Some((code, reason))) => non_strict(
            id,
            format!("closed {code} {reason:?} after {ms:.0} ms (decided: 1000)"),
        ),
        Some(None) => non_strict(
            id,
            format!("the TCP connection ended after {ms:.0} ms without a close frame"),
        ),
    }
}
