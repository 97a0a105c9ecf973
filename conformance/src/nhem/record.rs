//! NHEM's recorded session: auth, the initial status, N frames, ping/pong, get_status.

use crate::record::{RecordError, Transcript};
use crate::wire::WsConn;
use serde_json::{json, Value};
use std::time::Duration;

/// Runs the scripted session and returns the transcript lines (`{"direction", "message"}`).
pub async fn record(
    ws_url: &str,
    password: &str,
    frames: usize,
) -> Result<Vec<Value>, RecordError> {
    const WAIT: Duration = Duration::from_secs(5);
    let mut conn = WsConn::connect(ws_url, WAIT).await?;
    let mut t = Transcript::new(&protocol::nhem::NHEM);

    let auth = json!({"type": "auth", "password": password});
    conn.send_json(&auth).await;
    t.sent(json!({"type": "auth", "password": "<redacted>"}));
    t.got(
        conn.next_of("auth_response", WAIT)
            .await
            .map_err(|_| RecordError::NoAnswer("answer auth"))?,
    );
    if let Ok(status) = conn.next_of("status", Duration::from_secs(1)).await {
        t.got(status);
    }
    for _ in 0..frames {
        t.got(
            conn.next_of("data", WAIT)
                .await
                .map_err(|_| RecordError::NoAnswer("send data frames"))?,
        );
    }
    let ping = json!({"type": "ping", "id": "record"});
    conn.send_json(&ping).await;
    t.sent(ping);
    t.got(
        conn.next_of("pong", WAIT)
            .await
            .map_err(|_| RecordError::NoAnswer("answer ping"))?,
    );
    let get_status = json!({"type": "get_status"});
    conn.send_json(&get_status).await;
    t.sent(get_status);
    t.got(
        conn.next_of("status", WAIT)
            .await
            .map_err(|_| RecordError::NoAnswer("answer get_status"))?,
    );
    conn.close().await;
    let _ = conn.next_event(Duration::from_millis(200)).await;
    Ok(t.lines)
}
