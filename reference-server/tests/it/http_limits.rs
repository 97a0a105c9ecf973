//! The HTTP port's limits, over real sockets: a request head, a body and an idle keep-alive
//! connection each have a deadline, and a body or head too large is refused without waiting.

use crate::support::TestServer;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far above the deadlines the tests set (300 ms), far below "kept forever".
const CUT_WITHIN: Duration = Duration::from_secs(10);

/// Writes `bytes` and reads until the server closes; `None` if it has not within `CUT_WITHIN`.
async fn answer_until_closed(addr: SocketAddr, bytes: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("request written");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(CUT_WITHIN, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_before_it_arrives() {
    let t = TestServer::start().await;
    // 1 GB declared, 11 bytes sent: the answer must not wait for the rest.
    let request = b"POST /config HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000000\r\n\r\npassword=31";
    let answer = answer_until_closed(t.http(), request)
        .await
        .expect("the server answered and closed instead of waiting for 1 GB");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
    t.stop().await;
}

#[tokio::test]
async fn a_header_line_of_100_kb_is_431() {
    let t = TestServer::start().await;
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let answer = answer_until_closed(t.http(), request.as_bytes())
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    t.stop().await;
}

#[tokio::test]
async fn idle_connections_slow_heads_and_stalled_bodies_are_cut() {
    let t = TestServer::start_with(|s| {
        s.http_header_timeout_ms = 300;
        s.http_body_timeout_ms = 300;
    })
    .await;
    let addr = t.http();
    let started = Instant::now();

    let idle = answer_until_closed(addr, b"").await;
    assert_eq!(
        idle.as_deref(),
        Some(""),
        "a connection that never sends is closed"
    );

    let half_head = answer_until_closed(addr, b"GET /health HTTP/1.1\r\nHost: t\r\n").await;
    assert!(half_head.is_some(), "a half-sent request head is cut");

    let form =
        "POST /control HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n";
    for (name, request) in [
        (
            "a short body",
            format!("{form}Content-Length: 100\r\n\r\npassword=3"),
        ),
        (
            "a stalled chunked body",
            format!("{form}Transfer-Encoding: chunked\r\n\r\n5\r\npassw\r\n"),
        ),
    ] {
        let answer = answer_until_closed(addr, request.as_bytes())
            .await
            .unwrap_or_else(|| panic!("{name} was held open"));
        assert!(answer.starts_with("HTTP/1.1 408"), "{name}: {answer}");
        assert!(answer.contains("REQUEST_TIMEOUT"), "{name}: {answer}");
    }

    // A keep-alive connection is answered, then closed once it idles past the deadline.
    let kept_alive = answer_until_closed(addr, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(kept_alive.starts_with("HTTP/1.1 200"), "{kept_alive}");

    // Five cuts in sequence, each due after 300 ms: far from the 10 s bound per case.
    assert!(
        started.elapsed() < CUT_WITHIN * 2,
        "took {:?}",
        started.elapsed()
    );
    t.stop().await;
}
