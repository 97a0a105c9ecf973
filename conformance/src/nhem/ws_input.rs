//! Requests and bad input on authenticated connections.

use super::{all_valid, case, fail, info, pass, unknown_error_code, Ctx};
use crate::outcome::{CaseResult, Evidence, Outcome};
use crate::wire::{Event, WsConn};
use serde_json::{json, Value};
use std::time::Duration;

const ANSWER: Duration = Duration::from_secs(3);

const IDS: [&str; 12] = [
    "nhem.ws.status.schema",
    "nhem.ws.ping.pong",
    "nhem.ws.ping.id_echo",
    "nhem.ws.get_status",
    "nhem.ws.rfc6455_ping",
    "nhem.ws.bad_json.error_open",
    "nhem.ws.unknown_type.error_open",
    "nhem.ws.missing_type.error",
    "nhem.ws.wrong_field_type.error",
    "nhem.ws.extra_field.error",
    "nhem.ws.binary_frame.error",
    "nhem.ws.error.schema",
];

/// An authenticated connection that remembers every status and error it saw.
struct Session {
    conn: WsConn,
    /// The profile whose error codes are known (see `unknown_error_code`).
    profile: &'static str,
    statuses: Vec<Value>,
    errors: Vec<Value>,
}

impl Session {
    async fn open(ctx: &Ctx) -> Option<Session> {
        let mut conn = WsConn::connect(&ctx.ws_url, ANSWER).await.ok()?;
        conn.send_json(&json!({"type": "auth", "password": ctx.secret}))
            .await;
        let response = conn.next_of("auth_response", ANSWER).await.ok()?;
        (response["success"] == true).then_some(Session {
            conn,
            profile: ctx.schemas.profile(),
            statuses: Vec::new(),
            errors: Vec::new(),
        })
    }

    /// The next message that is not a broadcast frame (or what ended the wait).
    async fn answer(&mut self) -> Event {
        // One deadline for the whole wait: broadcast frames keep coming and must not extend it.
        let deadline = std::time::Instant::now() + ANSWER;
        loop {
            let event = self
                .conn
                .next_event(deadline.saturating_duration_since(std::time::Instant::now()))
                .await;
            if let Event::Json { value, .. } = &event {
                match value["type"].as_str() {
                    Some("data") => continue,
                    Some("status") if value["reason"] == "initial" => {
                        self.statuses.push(value.clone());
                        continue;
                    }
                    Some("status") => self.statuses.push(value.clone()),
                    Some("error") => self.errors.push(value.clone()),
                    _ => {}
                }
            }
            return event;
        }
    }

    /// Whether the connection still answers a ping.
    async fn still_open(&mut self) -> bool {
        if !self
            .conn
            .send_json(&json!({"type": "ping", "id": "open?"}))
            .await
        {
            return false;
        }
        loop {
            match self.answer().await {
                Event::Json { value, .. } if value["type"] == "pong" => return true,
                Event::Json { .. } | Event::Pong => continue,
                _ => return false,
            }
        }
    }

    /// Sends bad input; pass if the expected error code comes back and the connection stays.
    async fn expect_error(&mut self, id: &'static str, input: Input, code: &str) -> CaseResult {
        let sent = match &input {
            Input::Text(t) => self.conn.send_text(t).await,
            Input::Binary(b) => self.conn.send_binary(b.clone()).await,
        };
        let answer = if sent {
            self.answer().await
        } else {
            Event::Closed(None)
        };
        let open = self.still_open().await;
        let shown = match &input {
            Input::Text(t) => t.chars().take(80).collect::<String>(),
            Input::Binary(b) => format!("<{} binary bytes>", b.len()),
        };
        match answer {
            Event::Json { value, .. } if value["type"] == "error" && open => {
                if let Some(unknown) = unknown_error_code(self.profile, &value) {
                    case(
                        id,
                        Outcome::NonStrict,
                        vec![Evidence::note(format!(
                            "{shown} → {unknown}, a code the profile does not list (expected {})",
                            if code.is_empty() {
                                "one of its codes"
                            } else {
                                code
                            }
                        ))
                        .with_message(value)],
                    )
                } else if code.is_empty() || value["error_code"] == code {
                    pass(
                        id,
                        format!(
                            "{shown} → {} and the connection stayed open",
                            value["error_code"]
                        ),
                    )
                } else {
                    case(
                        id,
                        Outcome::NonStrict,
                        vec![Evidence::note(format!(
                            "{shown} → {} (expected {code})",
                            value["error_code"]
                        ))
                        .with_message(value)],
                    )
                }
            }
            Event::Json { value, .. } if value["type"] == "error" => fail(
                id,
                Evidence::note(format!("{shown} → error, but then the connection closed"))
                    .with_message(value),
            ),
            other => fail(
                id,
                Evidence::note(format!(
                    "{shown} → no error ({other:?}); connection open afterwards: {open}"
                )),
            ),
        }
    }
}

enum Input {
    Text(String),
    Binary(Vec<u8>),
}

fn text(value: Value) -> Input {
    Input::Text(value.to_string())
}

pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let Some(mut s) = Session::open(ctx).await else {
        let mut out: Vec<_> = IDS
            .iter()
            .map(|id| info(id, "not evaluated: could not authenticate"))
            .collect();
        out.extend(isolated(ctx).await);
        return out;
    };
    let mut out = Vec::new();

    s.conn.send_json(&json!({"type": "ping", "id": "c1"})).await;
    match s.answer().await {
        Event::Json { value, .. } if value["type"] == "pong" => {
            out.push(pass("nhem.ws.ping.pong", "pong"));
            out.push(if value["id"] == "c1" {
                pass("nhem.ws.ping.id_echo", "id c1 echoed")
            } else {
                case(
                    "nhem.ws.ping.id_echo",
                    Outcome::NonStrict,
                    vec![Evidence::note("the pong does not echo the ping id").with_message(value)],
                )
            });
        }
        other => {
            out.push(fail(
                "nhem.ws.ping.pong",
                Evidence::note(format!("no pong: {other:?}")),
            ));
            out.push(info("nhem.ws.ping.id_echo", "not evaluated: no pong"));
        }
    }

    s.conn.send_json(&json!({"type": "get_status"})).await;
    out.push(match s.answer().await {
        Event::Json { value, .. } if value["type"] == "status" && value["reason"] == "request" => {
            pass("nhem.ws.get_status", "status with reason request")
        }
        Event::Json { value, .. } if value["type"] == "status" => case(
            "nhem.ws.get_status",
            Outcome::NonStrict,
            vec![Evidence::note("status without reason request").with_message(value)],
        ),
        other => fail(
            "nhem.ws.get_status",
            Evidence::note(format!("no status: {other:?}")),
        ),
    });

    s.conn.send_ping(b"nhem").await;
    let mut got_pong = false;
    for _ in 0..3 {
        match s.answer().await {
            Event::Pong => {
                got_pong = true;
                break;
            }
            Event::Json { .. } => continue,
            _ => break,
        }
    }
    out.push(if got_pong {
        pass("nhem.ws.rfc6455_ping", "pong frame")
    } else {
        fail(
            "nhem.ws.rfc6455_ping",
            Evidence::note("no pong frame within 3 s"),
        )
    });

    let matrix: [(&'static str, Input, &str); 6] = [
        (
            "nhem.ws.bad_json.error_open",
            Input::Text("{\"type\": ".into()),
            "INVALID_JSON",
        ),
        (
            "nhem.ws.unknown_type.error_open",
            text(json!({"type": "nhem_conformance_unknown"})),
            "UNKNOWN_MESSAGE_TYPE",
        ),
        (
            "nhem.ws.missing_type.error",
            text(json!({"id": "x"})),
            "VALIDATION_ERROR",
        ),
        (
            "nhem.ws.wrong_field_type.error",
            text(json!({"type": "ping", "id": 5})),
            "VALIDATION_ERROR",
        ),
        (
            "nhem.ws.extra_field.error",
            text(json!({"type": "ping", "nhem_extra": true})),
            "VALIDATION_ERROR",
        ),
        (
            "nhem.ws.binary_frame.error",
            Input::Binary(vec![0x7b, 0x7d]),
            "",
        ),
    ];
    for (id, input, code) in matrix {
        out.push(s.expect_error(id, input, code).await);
    }
    s.conn.close().await;
    out.push(all_valid(
        ctx,
        "nhem.ws.status.schema",
        "status",
        &s.statuses,
    ));
    out.push(all_valid(ctx, "nhem.ws.error.schema", "error", &s.errors));
    out.extend(isolated(ctx).await);
    out
}

/// Cases that end their connection.
async fn isolated(ctx: &Ctx) -> Vec<CaseResult> {
    let mut out = Vec::new();
    let id = "nhem.ws.oversize.payload_too_large";
    out.push(match Session::open(ctx).await {
        None => info(id, "not evaluated: could not authenticate"),
        Some(mut s) => {
            let huge = json!({"type": "ping", "id": "x".repeat(1 << 20)}).to_string();
            s.conn.send_text(&huge).await;
            let mut error = None;
            let deadline = std::time::Instant::now() + ANSWER;
            let closed = loop {
                match s
                    .conn
                    .next_event(deadline.saturating_duration_since(std::time::Instant::now()))
                    .await
                {
                    Event::Json { value, .. } if value["type"] == "error" => error = Some(value),
                    Event::Json { .. } | Event::Pong | Event::Text(_) | Event::Binary(_) => {}
                    Event::Closed(frame) => break Some(frame),
                    Event::Timeout => break None,
                }
            };
            let code = error.as_ref().map(|e| e["error_code"].clone());
            let note = format!("1 MiB message → error {code:?}, close {closed:?}");
            match (code, closed) {
                (_, Some(Some((1009, _)))) => pass(id, note),
                (Some(c), _) if c == "PAYLOAD_TOO_LARGE" => case(
                    id,
                    Outcome::NonStrict,
                    vec![Evidence::note(format!("{note}: no 1009 close"))],
                ),
                _ => case(
                    id,
                    Outcome::NonStrict,
                    vec![Evidence::note(format!(
                        "{note}: neither PAYLOAD_TOO_LARGE nor close 1009"
                    ))],
                ),
            }
        }
    });
    let id = "nhem.ws.close.clean";
    out.push(match Session::open(ctx).await {
        None => info(id, "not evaluated: could not authenticate"),
        Some(mut s) => {
            s.conn.close().await;
            match s.conn.close_code(ANSWER).await {
                Some(_) => pass(id, "the close handshake completed"),
                None => fail(id, Evidence::note("no close frame back within 3 s")),
            }
        }
    });
    out
}
