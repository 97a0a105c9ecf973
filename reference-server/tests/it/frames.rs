//! RFC 6455 §7.4.1 on both profiles: a frame that breaks the protocol gets the close code the
//! RFC names (1007 invalid UTF-8, 1002 protocol error); it used to be a dropped connection.
//! Frames are written raw, because no client library sends them.

use crate::support::{upgrade_request, TestServer};
use reference_server::ecg::{EcgSettings, RunningEcgServer};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// A masked client frame with `opcode` and `payload`.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// `(case, frame, close code expected)`.
fn violations() -> Vec<(&'static str, Vec<u8>, u16)> {
    vec![
        (
            "invalid UTF-8 in a text frame",
            masked(0x1, &[0x7b, 0xc3, 0x28, 0x7d]),
            1007,
        ),
        ("a 200-byte ping", masked(0x9, &[b'p'; 200]), 1002),
        (
            "an unmasked client frame",
            vec![0x81, 0x02, b'h', b'i'],
            1002,
        ),
    ]
}

/// Upgrades `path`, optionally sends `first` (e.g. auth), then `frame`; returns the close code
/// of the first close frame the server sends, skipping any other frames.
async fn close_code_after(
    addr: SocketAddr,
    path: &str,
    first: Option<Vec<u8>>,
    frame: &[u8],
) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&upgrade_request(path, KEY))
        .await
        .expect("upgrade sent");
    let mut buffer = Vec::new();
    let read = async {
        let mut head_end = None;
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..n]);
            let start = match head_end {
                Some(end) => end,
                None => {
                    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let end = end + 4;
                    assert!(buffer.starts_with(b"HTTP/1.1 101"), "upgrade refused");
                    head_end = Some(end);
                    // RFC 6455 §4.1: a client sends nothing until the handshake is answered.
                    if let Some(first) = &first {
                        stream.write_all(first).await.ok()?;
                    }
                    stream.write_all(frame).await.ok()?;
                    end
                }
            };
            // Walk the server's (unmasked) frames.
            let mut at = start;
            while buffer.len() >= at + 2 {
                let (opcode, len7) = (buffer[at] & 0x0f, (buffer[at + 1] & 0x7f) as usize);
                let (len, header) = match len7 {
                    126 if buffer.len() >= at + 4 => (
                        u16::from_be_bytes([buffer[at + 2], buffer[at + 3]]) as usize,
                        4,
                    ),
                    126 => break,
                    127 => panic!("no server frame here is that large"),
                    n => (n, 2),
                };
                if buffer.len() < at + header + len {
                    break;
                }
                if opcode == 0x8 {
                    let payload = &buffer[at + header..at + header + len];
                    return Some(u16::from_be_bytes([payload[0], payload[1]]));
                }
                at += header + len;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn nhem_closes_protocol_violations_with_their_codes_before_and_after_auth() {
    let t = TestServer::start().await;
    let auth = masked(0x1, br#"{"type":"auth","password":"31415"}"#);
    for (case, frame, expected) in violations() {
        for first in [None, Some(auth.clone())] {
            let authed = first.is_some();
            let code = close_code_after(t.server.ws_addr, "/", first, &frame).await;
            assert_eq!(code, Some(expected), "{case} (authenticated: {authed})");
        }
    }
    t.stop().await;
}

#[tokio::test]
async fn ecg_closes_protocol_violations_with_their_codes() {
    let server = RunningEcgServer::start(EcgSettings::for_tests())
        .await
        .expect("starts");
    for (case, frame, expected) in violations() {
        let code = close_code_after(
            server.addr,
            "/ws/ecg/stream?token=ecg-demo-token",
            None,
            &frame,
        )
        .await;
        assert_eq!(code, Some(expected), "{case}");
    }
    server.stop().await;
}
