//! `record` mode: capture a session as a JSONL transcript that stays the same from run to run.
//!
//! The session is scripted (auth, the initial status, N frames, ping/pong, get_status) and
//! every volatile value is replaced by a fixed, schema-valid placeholder — timestamps by
//! [`REDACTED_TIMESTAMP`], counters and measurements by 0 — so a transcript can be committed,
//! diffed against later runs, and still checked with `conformance validate`.

use crate::wire::WsConn;
use serde_json::{json, Value};
use std::time::Duration;

pub const REDACTED_TIMESTAMP: &str = "2000-01-01T00:00:00.000000Z";

/// Members whose values change from run to run, by message type.
fn volatile(ty: &str) -> &'static [&'static str] {
    match ty {
        "data" => &["frame_count", "current_value", "baseline", "peak_signal"],
        "status" => &["frame_count", "fps", "connected_clients"],
        _ => &[],
    }
}

/// Replaces volatile values with placeholders that keep the message valid.
pub fn redact(mut message: Value) -> Value {
    let ty = message["type"].as_str().unwrap_or_default().to_owned();
    if let Some(object) = message.as_object_mut() {
        if object.contains_key("timestamp") {
            object.insert("timestamp".into(), json!(REDACTED_TIMESTAMP));
        }
        for key in volatile(&ty) {
            if let Some(v) = object.get_mut(*key) {
                *v = if *key == "peak_signal" {
                    Value::Null
                } else {
                    json!(0)
                };
            }
        }
    }
    message
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Wire(#[from] crate::wire::WireError),
    #[error("the server did not {0} within 5 s")]
    NoAnswer(&'static str),
}

/// Runs the scripted session and returns the transcript lines (`{"direction", "message"}`).
pub async fn record(
    ws_url: &str,
    password: &str,
    frames: usize,
) -> Result<Vec<Value>, RecordError> {
    const WAIT: Duration = Duration::from_secs(5);
    let mut conn = WsConn::connect(ws_url, WAIT).await?;
    let mut lines = Vec::new();
    let sent = |lines: &mut Vec<Value>, message: Value| {
        lines.push(json!({"direction": "c2s", "message": message}))
    };
    let got = |lines: &mut Vec<Value>, message: Value| {
        lines.push(json!({"direction": "s2c", "message": redact(message)}))
    };

    let auth = json!({"type": "auth", "password": password});
    conn.send_json(&auth).await;
    sent(
        &mut lines,
        json!({"type": "auth", "password": "<redacted>"}),
    );
    got(
        &mut lines,
        conn.next_of("auth_response", WAIT)
            .await
            .map_err(|_| RecordError::NoAnswer("answer auth"))?,
    );
    if let Ok(status) = conn.next_of("status", Duration::from_secs(1)).await {
        got(&mut lines, status);
    }
    for _ in 0..frames {
        got(
            &mut lines,
            conn.next_of("data", WAIT)
                .await
                .map_err(|_| RecordError::NoAnswer("send data frames"))?,
        );
    }
    let ping = json!({"type": "ping", "id": "record"});
    conn.send_json(&ping).await;
    sent(&mut lines, ping);
    got(
        &mut lines,
        conn.next_of("pong", WAIT)
            .await
            .map_err(|_| RecordError::NoAnswer("answer ping"))?,
    );
    let get_status = json!({"type": "get_status"});
    conn.send_json(&get_status).await;
    sent(&mut lines, get_status);
    got(
        &mut lines,
        conn.next_of("status", WAIT)
            .await
            .map_err(|_| RecordError::NoAnswer("answer get_status"))?,
    );
    conn.close().await;
    let _ = conn.next_event(Duration::from_millis(200)).await;
    Ok(lines)
}

/// The transcript as JSONL text.
pub fn to_jsonl(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}
