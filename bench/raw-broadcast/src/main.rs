//! The floor for server CPU per delivered frame: after a normal WebSocket handshake and auth,
//! each tick builds one frame, frames it as a WebSocket text message *once*, and each client
//! task does one `write_all` of those bytes on its raw TCP stream. No queues policy, no
//! metrics, no slow-client handling: the reference server is measured against this.
//!
//!     raw-broadcast PORT [FPS] [SECONDS]

use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// A server-to-client (unmasked) text frame holding `payload`.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n < 65_536 => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

fn rfc3339_micros(at: SystemTime) -> String {
    let us = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as i64;
    let (secs, micros) = (us.div_euclid(1_000_000), us.rem_euclid(1_000_000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(30415);
    let fps: u64 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(60);
    let seconds: u64 = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(3600);
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("port is free");
    let (tx, _) = broadcast::channel::<Arc<Vec<u8>>>(16);
    let producer = tx.clone();
    tokio::spawn(async move {
        let (t0, wall0) = (Instant::now(), SystemTime::now());
        for k in 0..seconds * fps {
            let offset = Duration::from_nanos(k * 1_000_000_000 / fps);
            tokio::time::sleep_until((t0 + offset).into()).await;
            let json = format!(
                r#"{{"type":"data","timestamp":"{}","frame_count":{k},"current_value":127.45,"peak_signal":0,"baseline":120.0,"status":"running"}}"#,
                rfc3339_micros(wall0 + offset)
            );
            let _ = producer.send(Arc::new(text_frame(json.as_bytes())));
        }
        std::process::exit(0);
    });
    println!("listening ws://127.0.0.1:{port}/ fps={fps}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut rx = tx.subscribe();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            // Auth: accept the first message whatever it says (this is a floor, not a server).
            let _ = ws.next().await;
            let ok =
                r#"{"type":"auth_response","success":true,"message":"Authentication successful"}"#;
            if ws.send(Message::Text(ok.into())).await.is_err() {
                return;
            }
            let mut tcp = ws.into_inner();
            loop {
                match rx.recv().await {
                    Ok(frame) => {
                        if tcp.write_all(&frame).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}
