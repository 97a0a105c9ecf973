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

/// A client that authenticates and then never reads, with a tiny receive buffer.
async fn stalled_client(
    addr: std::net::SocketAddr,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
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
    let _stalled = stalled_client(t.server.ws_addr).await;
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
