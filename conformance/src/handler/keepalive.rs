//! The heartbeat: `heartbeat` → `heartbeat_response`, the server's RFC 6455 pings, and the
//! close of a client that answers none of them.

use super::{Client, ANSWER_WITHIN, CONNECT_WITHIN};
use crate::cases::{fail, info, non_strict, pass, Ctx};
use crate::outcome::{CaseResult, Evidence};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const HEARTBEAT: &str = "handler.ws.heartbeat";
const PINGS: &str = "handler.ws.heartbeat.pings";
const TIMEOUT: &str = "handler.ws.heartbeat.timeout";

pub async fn cases(ctx: &Ctx, seen: &mut Vec<Value>) -> Vec<CaseResult> {
    vec![
        heartbeat(ctx, seen).await,
        pings(ctx, seen).await,
        timeout(ctx).await,
    ]
}

async fn heartbeat(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    let mut client = match Client::open(ctx).await {
        Ok(c) => c,
        Err(e) => return info(HEARTBEAT, format!("cannot open a connection: {e}")),
    };
    let message = json!({"type": "heartbeat", "timestamp": "2024-01-01T12:00:00.000000"});
    let reply = client
        .ask(message, "heartbeat_response", ANSWER_WITHIN)
        .await;
    seen.extend(client.close().await);
    match reply {
        Some(_) => pass(HEARTBEAT, "heartbeat answered"),
        None => fail(
            HEARTBEAT,
            Evidence::note("no heartbeat_response within 2 s"),
        ),
    }
}

async fn pings(ctx: &Ctx, seen: &mut Vec<Value>) -> CaseResult {
    let Some(interval) = ctx.declared.heartbeat_interval else {
        return info(PINGS, "the heartbeat interval is not declared (run with --heartbeat-interval, e.g. 500ms on a test server)");
    };
    let mut client = match Client::open(ctx).await {
        Ok(c) => c,
        Err(e) => return info(PINGS, format!("cannot open a connection: {e}")),
    };
    // Reading answers every ping (tungstenite pongs), so the connection stays up.
    let opened = Instant::now();
    let window = interval * 3 + interval / 2;
    while opened.elapsed() < window {
        let left = window.saturating_sub(opened.elapsed());
        if client.next(left).await.is_none() && opened.elapsed() < window {
            break;
        }
    }
    let pings: Vec<Instant> = client.conn.pings().to_vec();
    seen.extend(client.close().await);
    if pings.len() < 2 {
        return fail(
            PINGS,
            Evidence::note(format!(
                "{} pings in {} ms at a declared interval of {} ms",
                pings.len(),
                window.as_millis(),
                interval.as_millis()
            )),
        );
    }
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
    if mean < interval.mul_f64(0.7) || mean > interval.mul_f64(1.5) {
        return fail(
            PINGS,
            Evidence::note(format!(
                "pings every {} ms on average, declared interval {} ms",
                mean.as_millis(),
                interval.as_millis()
            )),
        );
    }
    pass(
        PINGS,
        format!(
            "{} pings, every {} ms on average",
            pings.len(),
            mean.as_millis()
        ),
    )
}

async fn timeout(ctx: &Ctx) -> CaseResult {
    let Some(interval) = ctx.declared.heartbeat_interval else {
        return info(
            TIMEOUT,
            "the heartbeat interval is not declared (run with --heartbeat-interval)",
        );
    };
    let (low, high) = (interval.mul_f64(1.9), interval.mul_f64(3.1));
    match silent_client(&ctx.ws_url, high + Duration::from_millis(500)).await {
        Err(e) => info(TIMEOUT, format!("cannot run a silent client: {e}")),
        Ok(Silent {
            close: None, pings, ..
        }) => fail(
            TIMEOUT,
            Evidence::note(format!(
                "a client that answered none of {pings} pings was not closed within {} ms",
                (high + Duration::from_millis(500)).as_millis()
            )),
        ),
        Ok(Silent {
            close: Some((after, code, reason)),
            ..
        }) => {
            let ms = after.as_millis();
            if after < low || after > high {
                fail(
                    TIMEOUT,
                    Evidence::note(format!(
                        "closed after {ms} ms ({code} {reason:?}); expected between {} and {} ms",
                        low.as_millis(),
                        high.as_millis()
                    )),
                )
            } else if code != 1000 {
                non_strict(
                    TIMEOUT,
                    format!("closed after {ms} ms with {code} {reason:?} (1000 expected)"),
                )
            } else {
                pass(
                    TIMEOUT,
                    format!(
                        "closed with 1000 {reason:?} after {ms} ms ({:.2}× the interval)",
                        after.as_secs_f64() / interval.as_secs_f64()
                    ),
                )
            }
        }
    }
}

/// What a client that never answers saw: pings, and the close (when, code, reason).
struct Silent {
    pings: usize,
    close: Option<(Duration, u16, String)>,
}

/// A WebSocket client on a bare socket that reads the server's frames and answers nothing:
/// no pong (a library client would answer pings by itself) and no message.
async fn silent_client(url: &str, within: Duration) -> Result<Silent, String> {
    let request = url.into_client_request().map_err(|e| e.to_string())?;
    let uri = request.uri();
    let host = uri
        .host()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut stream =
        tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| "no TCP connection within 5 s".to_owned())?
            .map_err(|e| e.to_string())?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let opened = Instant::now();
    let deadline = opened + within;
    let mut buffer = Vec::new();
    let mut upgraded = false;
    let mut pings = 0;
    loop {
        if !upgraded {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let status = String::from_utf8_lossy(&buffer[..end]).to_string();
                if !status.starts_with("HTTP/1.1 101") {
                    return Err(format!(
                        "the upgrade was refused: {}",
                        status.lines().next().unwrap_or("")
                    ));
                }
                buffer.drain(..end + 4);
                upgraded = true;
            }
        }
        while let Some((opcode, payload, used)) = upgraded.then(|| frame(&buffer)).flatten() {
            if opcode == 0x9 {
                pings += 1;
            } else if opcode == 0x8 {
                let code = payload
                    .get(..2)
                    .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
                let reason =
                    String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).into_owned();
                return Ok(Silent {
                    pings,
                    close: Some((opened.elapsed(), code, reason)),
                });
            }
            buffer.drain(..used);
        }
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk)).await;
        match read {
            Err(_) => return Ok(Silent { pings, close: None }),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Ok(Silent {
                    pings,
                    close: Some((opened.elapsed(), 1006, "no close frame".into())),
                })
            }
            Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One whole unmasked frame at the start of `bytes`: opcode, payload, bytes used.
fn frame(bytes: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&b0, &b1) = (bytes.first()?, bytes.get(1)?);
    let (len, at): (usize, usize) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = bytes.get(at..at.checked_add(len)?)?;
    Some((b0 & 0x0f, payload.to_vec(), at + len))
}

#[cfg(test)]
mod tests {
    #[test]
    fn frames_parse_whole_or_not_at_all() {
        assert_eq!(super::frame(&[0x89, 0x00]), Some((9, vec![], 2)));
        assert_eq!(
            super::frame(&[0x88, 0x02, 0x03, 0xe8, 0x81]),
            Some((8, vec![3, 0xe8], 4))
        );
        assert_eq!(super::frame(&[0x81, 0x05, b'a']), None);
        assert_eq!(super::frame(&[0x81]), None);
    }
}
