//! Connections and authentication.

use super::{case, fail, info, pass, schema_violation, Ctx};
use crate::outcome::{CaseResult, Evidence, Outcome};
use crate::wire::{Event, WsConn};
use serde_json::json;
use std::time::Duration;

const ANSWER: Duration = Duration::from_secs(3);

pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let (mut good, bad, before, timeout) = tokio::join!(
        good_auth(ctx),
        bad_auth(ctx),
        before_auth(ctx),
        auth_timeout(ctx)
    );
    good.extend(bad);
    good.extend(before);
    good.push(timeout);
    good
}

async fn connect(ctx: &Ctx) -> Option<WsConn> {
    WsConn::connect(&ctx.ws_url, ANSWER).await.ok()
}

async fn good_auth(ctx: &Ctx) -> Vec<CaseResult> {
    let mut conn = match WsConn::connect(&ctx.ws_url, ANSWER).await {
        Ok(c) => c,
        Err(e) => {
            return vec![
                fail("nhem.ws.connect", Evidence::note(e.to_string())),
                info("nhem.ws.auth.ok", "not evaluated: no connection"),
                info(
                    "nhem.ws.auth.response_schema",
                    "not evaluated: no connection",
                ),
                info(
                    "nhem.ws.auth.initial_status",
                    "not evaluated: no connection",
                ),
            ];
        }
    };
    let mut out = vec![pass(
        "nhem.ws.connect",
        format!("connected to {}", ctx.ws_url),
    )];
    conn.send_json(&json!({"type": "auth", "password": ctx.secret}))
        .await;
    match conn.next_of("auth_response", ANSWER).await {
        Ok(response) => {
            out.push(if response["success"] == true {
                pass("nhem.ws.auth.ok", "auth_response success: true")
            } else {
                fail(
                    "nhem.ws.auth.ok",
                    Evidence::note("the right password was refused").with_message(response.clone()),
                )
            });
            out.push(match schema_violation(ctx, "auth_response", &response) {
                Some(evidence) => fail("nhem.ws.auth.response_schema", evidence),
                None => pass("nhem.ws.auth.response_schema", "valid"),
            });
        }
        Err(event) => {
            out.push(fail(
                "nhem.ws.auth.ok",
                Evidence::note(format!("no auth_response within 3 s: {event:?}")),
            ));
            out.push(info(
                "nhem.ws.auth.response_schema",
                "not evaluated: no auth_response",
            ));
        }
    }
    out.push(match conn.next_of("status", ANSWER).await {
        Ok(status) => pass(
            "nhem.ws.auth.initial_status",
            format!("status with reason {}", status["reason"]),
        ),
        Err(_) => info(
            "nhem.ws.auth.initial_status",
            "no status followed auth (DESIGN.md sends one; the seed does not require it)",
        ),
    });
    conn.close().await;
    out
}

async fn bad_auth(ctx: &Ctx) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let Some(mut conn) = connect(ctx).await else {
        return vec![
            info("nhem.ws.auth.bad_password", "not evaluated: no connection"),
            info(
                "nhem.ws.auth.bad_password_closes_1008",
                "not evaluated: no connection",
            ),
            info(
                "nhem.ws.auth.empty_password",
                "not evaluated: no connection",
            ),
        ];
    };
    let wrong = format!("{}-wrong", ctx.secret);
    conn.send_json(&json!({"type": "auth", "password": wrong}))
        .await;
    let refused = match conn.next_event(ANSWER).await {
        Event::Json { value, .. }
            if value["type"] == "auth_response" && value["success"] == false =>
        {
            out.push(pass(
                "nhem.ws.auth.bad_password",
                "auth_response success: false",
            ));
            true
        }
        Event::Json { value, .. } if value["type"] == "auth_response" => {
            out.push(fail(
                "nhem.ws.auth.bad_password",
                Evidence::note("a wrong password was accepted").with_message(value),
            ));
            false
        }
        Event::Json { value, .. } if value["type"] == "error" => {
            out.push(case(
                "nhem.ws.auth.bad_password",
                Outcome::NonStrict,
                vec![Evidence::note(
                    "refused with an error instead of auth_response success: false",
                )
                .with_message(value)],
            ));
            true
        }
        Event::Closed(frame) => {
            out.push(case(
                "nhem.ws.auth.bad_password",
                Outcome::NonStrict,
                vec![Evidence::note(format!(
                    "closed {frame:?} without auth_response"
                ))],
            ));
            out.push(match frame {
                Some((1008, _)) => {
                    pass("nhem.ws.auth.bad_password_closes_1008", "closed with 1008")
                }
                other => case(
                    "nhem.ws.auth.bad_password_closes_1008",
                    Outcome::NonStrict,
                    vec![Evidence::note(format!("closed with {other:?}"))],
                ),
            });
            return finish_bad_auth(ctx, out).await;
        }
        other => {
            out.push(fail(
                "nhem.ws.auth.bad_password",
                Evidence::note(format!("no answer to a wrong password: {other:?}")),
            ));
            true
        }
    };
    out.push(if !refused {
        info(
            "nhem.ws.auth.bad_password_closes_1008",
            "not evaluated: the wrong password was accepted",
        )
    } else {
        closes_after_refusal(&mut conn).await
    });
    finish_bad_auth(ctx, out).await
}

/// After a refused auth the server must close at once: not later, and not only because the
/// unauthenticated connection then ran into the auth timeout (an `error` first gives that away).
async fn closes_after_refusal(conn: &mut WsConn) -> CaseResult {
    let id = "nhem.ws.auth.bad_password_closes_1008";
    let started = std::time::Instant::now();
    let mut error = None;
    loop {
        match conn
            .next_event(ANSWER.saturating_sub(started.elapsed()))
            .await
        {
            Event::Json { value, .. } if value["type"] == "error" => error = Some(value),
            Event::Closed(frame) => {
                let waited = started.elapsed().as_secs_f64();
                let evidence =
                    Evidence::note(format!("closed {frame:?} {waited:.2} s after the refusal"))
                        .with_measured("time_to_close", waited, "s");
                return match (error, frame) {
                    (Some(error), _) => fail(id, Evidence::note(format!("the connection stayed open until the server sent {} and closed {waited:.1} s later", error["error_code"])).with_message(error)),
                    (None, _) if waited > 1.0 => fail(id, evidence),
                    (None, Some((1008, _))) => case(id, Outcome::Pass, vec![evidence]),
                    (None, _) => case(id, Outcome::NonStrict, vec![evidence]),
                };
            }
            Event::Timeout => {
                return fail(id, Evidence::note("still open 3 s after a failed auth"))
            }
            _ => continue,
        }
    }
}

async fn finish_bad_auth(ctx: &Ctx, mut out: Vec<CaseResult>) -> Vec<CaseResult> {
    let Some(mut conn) = connect(ctx).await else {
        out.push(info(
            "nhem.ws.auth.empty_password",
            "not evaluated: no connection",
        ));
        return out;
    };
    conn.send_json(&json!({"type": "auth", "password": ""}))
        .await;
    out.push(match conn.next_event(ANSWER).await {
        Event::Json { value, .. }
            if value["type"] == "auth_response" && value["success"] == true =>
        {
            fail(
                "nhem.ws.auth.empty_password",
                Evidence::note("an empty password was accepted").with_message(value),
            )
        }
        Event::Json { value, .. } => pass(
            "nhem.ws.auth.empty_password",
            format!("refused with {}", value["type"]),
        ),
        Event::Closed(frame) => pass(
            "nhem.ws.auth.empty_password",
            format!("refused by closing {frame:?}"),
        ),
        other => fail(
            "nhem.ws.auth.empty_password",
            Evidence::note(format!("no answer: {other:?}")),
        ),
    });
    conn.close().await;
    out
}

async fn before_auth(ctx: &Ctx) -> Vec<CaseResult> {
    let Some(mut conn) = connect(ctx).await else {
        return vec![
            info(
                "nhem.ws.auth.required_first",
                "not evaluated: no connection",
            ),
            info(
                "nhem.ws.auth.no_data_before_auth",
                "not evaluated: no connection",
            ),
        ];
    };
    let mut out = Vec::new();
    // Listen first: nothing but (maybe) errors may arrive before auth.
    let mut leaked = None;
    loop {
        match conn.next_event(Duration::from_millis(500)).await {
            Event::Json { value, .. } if value["type"] == "data" => {
                leaked = Some(value);
                break;
            }
            Event::Timeout | Event::Closed(_) => break,
            _ => continue,
        }
    }
    out.push(match leaked {
        Some(frame) => fail(
            "nhem.ws.auth.no_data_before_auth",
            Evidence::note("a data frame arrived before auth").with_message(frame),
        ),
        None => pass(
            "nhem.ws.auth.no_data_before_auth",
            "no data frame in 500 ms before auth",
        ),
    });
    conn.send_json(&json!({"type": "ping"})).await;
    let answer = conn.next_event(ANSWER).await;
    let still_open = conn
        .send_json(&json!({"type": "auth", "password": ctx.secret}))
        .await
        && matches!(conn.next_of("auth_response", ANSWER).await, Ok(v) if v["success"] == true);
    out.push(match answer {
        Event::Json { value, .. } if value["type"] == "error" && value["error_code"] == "AUTH_REQUIRED" && still_open => {
            pass("nhem.ws.auth.required_first", "AUTH_REQUIRED, and auth still worked afterwards")
        }
        Event::Json { value, .. } if value["type"] == "error" && still_open => case(
            "nhem.ws.auth.required_first",
            Outcome::NonStrict,
            vec![Evidence::note(format!("refused with {} instead of AUTH_REQUIRED", value["error_code"])).with_message(value)],
        ),
        Event::Json { value, .. } if value["type"] == "pong" => {
            fail("nhem.ws.auth.required_first", Evidence::note("a ping was answered before auth").with_message(value))
        }
        other => fail("nhem.ws.auth.required_first", Evidence::note(format!("expected AUTH_REQUIRED and an open connection; got {other:?}, open afterwards: {still_open}"))),
    });
    conn.close().await;
    out
}

async fn auth_timeout(ctx: &Ctx) -> CaseResult {
    let id = "nhem.ws.auth.timeout";
    let Some(mut conn) = connect(ctx).await else {
        return info(id, "not evaluated: no connection");
    };
    let started = std::time::Instant::now();
    let within = ctx.auth_timeout + Duration::from_secs(2);
    let mut error = None;
    loop {
        let left = within.saturating_sub(started.elapsed());
        match conn.next_event(left).await {
            Event::Json { value, .. } if value["type"] == "error" => error = Some(value),
            Event::Closed(frame) => {
                let waited = started.elapsed().as_secs_f64();
                let evidence = Evidence::note(format!(
                    "closed {frame:?} after {waited:.1} s, error first: {}",
                    error.is_some()
                ))
                .with_measured("time_to_close", waited, "s");
                return match (error, frame) {
                    (Some(_), Some((1008, _))) => case(id, Outcome::Pass, vec![evidence]),
                    _ => case(id, Outcome::NonStrict, vec![evidence]),
                };
            }
            Event::Timeout => {
                return fail(
                    id,
                    Evidence::note(format!(
                        "still open {:.1} s after connecting without auth",
                        within.as_secs_f64()
                    )),
                );
            }
            _ => continue,
        }
    }
}
