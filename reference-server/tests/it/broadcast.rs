//! The broadcast under load: a client that never reads must not delay the others, and is
//! closed when it stays behind.

use crate::support::{TestServer, WsClient};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;

/// Counts data frames for `seconds`, asserting frame_count only ever increases.
async fn count_frames(mut client: WsClient, seconds: f64) -> u64 {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let (mut frames, mut last) = (0u64, None::<u64>);
    while Instant::now() < end {
        let message = client.next_json().await;
        if message["type"] != "data" {
            continue;
        }
        let n = message["frame_count"].as_u64().expect("frame_count");
        assert!(
            last.is_none_or(|l| n > l),
            "frame_count went from {last:?} to {n}"
        );
        last = Some(n);
        frames += 1;
    }
    frames
}

/// A client that authenticates and then never reads (with `receive_buffer` as its SO_RCVBUF,
/// or the kernel's self-tuning one).
async fn stalled_client(
    addr: std::net::SocketAddr,
    receive_buffer: Option<u32>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).expect("receive buffer");
    }
    let stream = socket.connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream)
        .await
        .expect("handshake");
    use futures_util::SinkExt;
    ws.send(
        json!({"type": "auth", "password": "31415"})
            .to_string()
            .into(),
    )
    .await
    .expect("auth");
    ws
}

#[tokio::test]
async fn a_stalled_client_does_not_delay_the_others_and_is_closed() {
    let t = TestServer::start_with(|s| {
        s.fps = 120;
        s.socket_send_buffer = 8192;
        s.slow_client_ms = 500;
    })
    .await;
    let _stalled = stalled_client(t.server.ws_addr, Some(4096)).await;
    let mut readers = Vec::new();
    for _ in 0..3 {
        readers.push(t.authed_ws().await);
    }
    let seconds = 3.0;
    let counts =
        futures_util::future::join_all(readers.into_iter().map(|c| count_frames(c, seconds))).await;
    let expected = 120.0 * seconds;
    for count in &counts {
        assert!(
            *count as f64 >= 0.95 * expected,
            "a reader got {count} of ~{expected} frames: {counts:?}"
        );
    }
    let metrics = &t.server.state.metrics;
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        metrics.stream.slow_client_disconnects_total.load(Relaxed),
        1,
        "the stalled client is closed"
    );
    t.stop().await;
}

#[tokio::test]
async fn frames_arrive_at_the_configured_rate() {
    let t = TestServer::start().await;
    let client = t.authed_ws().await;
    let frames = count_frames(client, 2.0).await;
    assert!(
        (110..=130).contains(&frames),
        "{frames} frames in 2 s at 60 FPS"
    );
    t.stop().await;
}

/// With default settings, a client that stops reading is closed: its kernel's receive buffer
/// grows and accepts frames for minutes (no server write ever blocks), so the server pings it
/// and closes it when the ping goes unanswered. Before, it was still served after 40 s.
#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_default_settings() {
    use futures_util::StreamExt;
    use std::sync::atomic::Ordering::Relaxed;
    use tokio_tungstenite::tungstenite::Message;
    let t = TestServer::start().await;
    let mut ws = stalled_client(t.server.ws_addr, None).await;
    let started = Instant::now();
    let metrics = t.server.state.metrics.stream.clone();
    // Interval (5 s) + budget (2 s) by default; the bound leaves room for a loaded machine.
    while metrics.slow_client_disconnects_total.load(Relaxed) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a client that stopped reading was still served after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Reading now, the client finds the frames its kernel kept, then the reason it was closed.
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.expect("a close code"),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("ping"), "{}", close.reason);
    t.stop().await;
}

/// The other side of the ping policy: a client that reads answers every ping (its library
/// does it) and keeps its stream, however many pings it is sent.
#[tokio::test]
async fn a_reading_client_answers_pings_and_keeps_its_stream() {
    use std::sync::atomic::Ordering::Relaxed;
    let t = TestServer::start_with(|s| {
        // A ping is checked one budget after it is sent: one ping per 600 ms here, a budget
        // a reading client meets even on a loaded CI machine.
        s.ws_ping_interval_ms = 50;
        s.slow_client_ms = 600;
    })
    .await;
    let client = t.authed_ws().await;
    let frames = count_frames(client, 3.0).await;
    assert!(frames >= 150, "{frames} frames in 3 s at 60 FPS");
    let metrics = &t.server.state.metrics.stream;
    let pings = metrics.pings_sent_total.load(Relaxed);
    assert!(
        pings >= 4,
        "only {pings} pings in 2 s, one due every 300 ms"
    );
    assert_eq!(metrics.slow_client_disconnects_total.load(Relaxed), 0);
    t.stop().await;
}
