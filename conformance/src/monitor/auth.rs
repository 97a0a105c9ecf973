//! The greeting and the refused keys.

use super::{connect, ANSWER_WITHIN, CLIENT_ID};
use crate::cases::{fail, info, non_strict, pass, Ctx};
use crate::outcome::{CaseResult, Evidence};
use crate::wire::Event;
use protocol::monitor::Endpoint;
use serde_json::Value;

pub async fn cases(ctx: &Ctx) -> Vec<CaseResult> {
    let wrong = format!("{}-wrong", ctx.secret);
    let (greeting, bad, missing) = tokio::join!(
        greeting(ctx),
        refused(ctx, "monitor.ws.auth.bad_key", Some(&wrong)),
        refused(ctx, "monitor.ws.auth.missing_key", None),
    );
    vec![greeting, bad, missing]
}

async fn greeting(ctx: &Ctx) -> CaseResult {
    let id = "monitor.ws.connection.greeting";
    let mut conn = match connect(ctx, Endpoint::Main, Some(&ctx.secret), Some(CLIENT_ID)).await {
        Ok(conn) => conn,
        Err(e) => return fail(id, Evidence::note(format!("the upgrade failed: {e}"))),
    };
    let first = match conn.next_event(ANSWER_WITHIN).await {
        Event::Json { value, .. } => value,
        other => {
            return fail(
                id,
                Evidence::note(format!("no message within {ANSWER_WITHIN:?}: {other:?}")),
            )
        }
    };
    conn.close().await;
    let data = &first["data"];
    if first["type"] != "connection" || data["status"] != "connected" {
        return fail(
            id,
            Evidence::note("the first message is not connection/connected").with_message(first),
        );
    }
    match data["client_id"].as_str() {
        Some(CLIENT_ID) => pass(id, format!("connected as {CLIENT_ID}")),
        Some(other) => fail(
            id,
            Evidence::note(format!(
                "client_id is {other:?}, not the X-Client-ID {CLIENT_ID:?}"
            ))
            .with_message(first),
        ),
        None => fail(id, Evidence::note("no client_id").with_message(first)),
    }
}

/// Whether `message` is one of the seed's two refusal shapes.
fn is_refusal(message: &Value) -> bool {
    let data = &message["data"];
    (message["type"] == "connection" && data["status"] == "error")
        || (message["type"] == "error" && data["code"] == "AUTHENTICATION_FAILED")
}

async fn refused(ctx: &Ctx, id: &'static str, key: Option<&str>) -> CaseResult {
    let mut conn = match connect(ctx, Endpoint::Main, key, None).await {
        Ok(conn) => conn,
        Err(e) => {
            let text = e.to_string();
            return if text.contains("401") || text.contains("403") {
                non_strict(
                    id,
                    format!("refused in HTTP instead of a message and 1008: {text}"),
                )
            } else {
                fail(id, Evidence::note(format!("the upgrade failed: {text}")))
            };
        }
    };
    let mut refusals = 0;
    loop {
        match conn.next_event(ANSWER_WITHIN).await {
            Event::Json { value, .. } if is_refusal(&value) => refusals += 1,
            Event::Json { value, .. } if value["type"] == "connection" => {
                return if key.is_none() && value["data"]["status"] == "connected" {
                    conn.close().await;
                    info(
                        id,
                        "connected without a key: the server allows anonymous access",
                    )
                } else {
                    fail(
                        id,
                        Evidence::note("served with a wrong key").with_message(value),
                    )
                };
            }
            Event::Json { value, .. } => {
                return fail(
                    id,
                    Evidence::note("a message other than a refusal arrived").with_message(value),
                )
            }
            Event::Closed(Some((1008, reason))) => {
                return pass(
                    id,
                    format!("{refusals} refusal message(s), then 1008 {reason:?}"),
                )
            }
            Event::Closed(Some((code, reason))) => {
                return non_strict(
                    id,
                    format!(
                    "{refusals} refusal message(s), then close {code} {reason:?} (decided: 1008)"
                ),
                )
            }
            Event::Closed(None) => {
                return non_strict(id, "the connection ended without a close frame")
            }
            Event::Timeout => {
                return fail(
                    id,
                    Evidence::note(format!(
                        "still open {ANSWER_WITHIN:?} after {refusals} refusal message(s)"
                    )),
                )
            }
            _ => {}
        }
    }
}
