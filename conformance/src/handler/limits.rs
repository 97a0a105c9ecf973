//! Limits and bad input: the connection limit, the payload limit, and messages the server
//! cannot accept.

use super::{Client, ANSWER_WITHIN, CONNECT_WITHIN};
use crate::cases::{fail, info, non_strict, pass, Ctx};
use crate::outcome::{CaseResult, Evidence};
use crate::wire::{Event, WsConn};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CONNECTIONS: &str = "handler.ws.limits.connections";
const PAYLOAD: &str = "handler.ws.limits.payload";
const BAD_INPUT: &str = "handler.ws.bad_input";

pub async fn cases(ctx: &Ctx, seen: &mut Vec<Value>) -> Vec<CaseResult> {
    vec![
        bad_input(ctx, seen).await,
        payload(ctx, seen).await,
        connections(ctx, seen).await,
    ]
}

async fn bad_input(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    let mut client = match Client::open(ctx).await {
        Ok(c) => c,
        Err(e) => return info(BAD_INPUT, format!("cannot open a connection: {e}")),
    };
    for (what, text) in [
        ("invalid JSON", "{\"type\": \"data\", nope".to_owned()),
        (
            "an unknown type",
            json!({"type": "conformance_unknown_type"}).to_string(),
        ),
    ] {
        if !client.conn.send_text(&text).await {
            seen.extend(client.received);
            return fail(
                BAD_INPUT,
                Evidence::note(format!("the connection was gone before sending {what}")),
            );
        }
        match client.next(ANSWER_WITHIN).await {
            Some(m) if m["type"] == "error" => {}
            Some(m) => {
                seen.extend(client.close().await);
                return fail(
                    BAD_INPUT,
                    Evidence::note(format!("{what} got no error first")).with_message(m),
                );
            }
            None => {
                seen.extend(client.received);
                return fail(
                    BAD_INPUT,
                    Evidence::note(format!(
                        "{what} got no error within 2 s (or the connection closed)"
                    )),
                );
            }
        }
    }
    // Still open: it answers a heartbeat (or, with no heartbeat_response, does not close
    // within the wait). The heartbeat also keeps a server with a short heartbeat interval from
    // closing a client that went quiet for the wait.
    let open = client.barrier().await.is_some()
        || client
            .conn
            .close_code(Duration::from_millis(300))
            .await
            .is_none();
    seen.extend(client.close().await);
    if !open {
        return fail(
            BAD_INPUT,
            Evidence::note("the connection closed after the errors"),
        );
    }
    pass(
        BAD_INPUT,
        "invalid JSON and an unknown type each got an error; the connection stayed open",
    )
}

async fn payload(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    // Undeclared, the seed's 10 MB would be sent in one write that the server rightly cuts
    // off while it is still going out, which makes the verdict depend on timing.
    let Some(max) = ctx.declared.max_payload else {
        return info(PAYLOAD, "the payload limit is not declared (run with --max-payload BYTES; the seed's is 10485760)");
    };
    let mut client = match Client::open(ctx).await {
        Ok(c) => c,
        Err(e) => return info(PAYLOAD, format!("cannot open a connection: {e}")),
    };
    // {"type":"data","data":{"blob":"…"}}: exactly one byte over the limit.
    let frame = json!({"type": "data", "data": {"blob": ""}}).to_string();
    let text = frame.replace(
        "\"blob\":\"\"",
        &format!("\"blob\":\"{}\"", "x".repeat(max + 1 - frame.len())),
    );
    debug_assert_eq!(text.len(), max + 1);
    let sent = client.conn.send_text(&text).await;
    let closed = client.conn.close_code(Duration::from_secs(5)).await;
    seen.extend(client.received);
    match (sent, closed) {
        (_, Some(Some((1009, _)))) => pass(
            PAYLOAD,
            format!("a {}-byte message was closed with 1009", max + 1),
        ),
        (_, Some(Some((code, reason)))) => non_strict(
            PAYLOAD,
            format!(
                "a {}-byte message was closed with {code} {reason:?} (1009 expected)",
                max + 1
            ),
        ),
        (_, Some(None)) => non_strict(PAYLOAD, "the connection ended without a close frame"),
        (_, None) => fail(
            PAYLOAD,
            Evidence::note(format!(
                "a {}-byte message (limit {max}) did not close the connection within 5 s",
                max + 1
            )),
        ),
    }
}

/// How long leftovers of earlier cases may take to leave the server's count.
const DRAIN: Duration = Duration::from_secs(3);

async fn connections(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    let Some(max) = ctx.declared.max_connections else {
        return info(
            CONNECTIONS,
            "the connection limit is not declared (run with --max-connections N)",
        );
    };
    if max > 1000 {
        return info(
            CONNECTIONS,
            format!("a limit of {max} is more than the suite opens (1000)"),
        );
    }
    let started = Instant::now();
    loop {
        let mut open = Vec::new();
        let mut early_refusal = None;
        for i in 0..max {
            match Client::connect(ctx, ANSWER_WITHIN).await {
                Ok(c) if c.welcome["type"] == "welcome" => open.push(c),
                Ok(c) => {
                    seen.extend(c.close().await);
                    for c in open {
                        seen.extend(c.close().await);
                    }
                    let note = format!("connection {} got no welcome first, so a refusal cannot be told from it (see handler.ws.welcome)", i + 1);
                    return info(CONNECTIONS, note);
                }
                Err(e) => {
                    early_refusal = Some(format!("connection {} of {max}: {e}", i + 1));
                    break;
                }
            }
        }
        if let Some(why) = early_refusal {
            for c in open {
                seen.extend(c.close().await);
            }
            // Connections of earlier cases may still count: wait for them to go.
            if started.elapsed() < DRAIN {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            return fail(
                CONNECTIONS,
                Evidence::note(format!("fewer than {max} connections were served: {why}")),
            );
        }
        let result = match WsConn::connect(&ctx.ws_url, CONNECT_WITHIN).await {
            Err(e) => non_strict(
                CONNECTIONS,
                format!(
                    "connection {} was refused at the upgrade ({e}); 1013 after it is expected",
                    max + 1
                ),
            ),
            Ok(mut extra) => match extra.next_event(ANSWER_WITHIN).await {
                Event::Closed(Some((1013, _))) => pass(
                    CONNECTIONS,
                    format!("connection {} got 1013 and no welcome", max + 1),
                ),
                Event::Closed(Some((code, reason))) => non_strict(
                    CONNECTIONS,
                    format!(
                        "connection {} got {code} {reason:?} (1013 expected)",
                        max + 1
                    ),
                ),
                Event::Json { value, .. } => fail(
                    CONNECTIONS,
                    Evidence::note(format!(
                        "connection {} of a limit of {max} was served",
                        max + 1
                    ))
                    .with_message(value),
                ),
                other => fail(
                    CONNECTIONS,
                    Evidence::note(format!(
                        "connection {}: {other:?}, not a close with 1013",
                        max + 1
                    )),
                ),
            },
        };
        for c in open {
            seen.extend(c.close().await);
        }
        return result;
    }
}
