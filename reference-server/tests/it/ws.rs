//! The WebSocket protocol: auth flows, every message type, and the bad-input matrix.

use crate::support::{Next, TestServer, WsClient};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn auth_then_data_ping_and_status() {
    let t = TestServer::start().await;
    let mut client = t.authed_ws().await;
    let first = client.next_of("data").await;
    let second = client.next_of("data").await;
    assert!(second["frame_count"].as_u64() > first["frame_count"].as_u64());
    assert_eq!(first["status"], "running");

    client
        .send_json(json!({"type": "ping", "id": "hb-7"}))
        .await;
    let pong = client.next_of("pong").await;
    assert_eq!(pong["id"], "hb-7");
    client.send_json(json!({"type": "get_status"})).await;
    let status = client.next_of("status").await;
    assert_eq!(status["reason"], "request");
    assert_eq!(status["connected_clients"], 1);

    let (code, _) = t
        .post_form(
            "/control",
            &[("command", "pause_detection"), ("password", "31415")],
        )
        .await;
    assert_eq!(code, 200);
    let status = client.next_of("status").await;
    assert_eq!(
        (status["reason"].as_str(), status["status"].as_str()),
        (Some("control"), Some("paused"))
    );
    let (code, _) = t
        .post_form(
            "/config",
            &[
                ("key", "detection.threshold"),
                ("value", "10"),
                ("password", "31415"),
            ],
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(client.next_of("status").await["reason"], "config");
    t.stop().await;
}

#[tokio::test]
async fn wrong_password_gets_a_refusal_and_close_1008() {
    let t = TestServer::start().await;
    let mut client = t.ws().await;
    client
        .send_json(json!({"type": "auth", "password": "wrong"}))
        .await;
    let response = client.next_json().await;
    assert_eq!(
        (response["type"].as_str(), response["success"].as_bool()),
        (Some("auth_response"), Some(false))
    );
    assert_eq!(client.close_code().await, Some(1008));
    t.stop().await;
}

#[tokio::test]
async fn no_auth_in_time_gets_an_error_and_close_1008() {
    let t = TestServer::start_with(|s| s.auth_timeout_ms = 300).await;
    let mut client = t.ws().await;
    let error = client.next_json().await;
    assert_eq!(error["error_code"], "AUTH_TIMEOUT");
    assert_eq!(client.close_code().await, Some(1008));
    t.stop().await;
}

#[tokio::test]
async fn messages_before_auth_are_refused_but_the_connection_stays() {
    let t = TestServer::start().await;
    let mut client = t.ws().await;
    client.send_json(json!({"type": "ping"})).await;
    assert_eq!(client.next_json().await["error_code"], "AUTH_REQUIRED");
    client.send_text("{not json").await;
    assert_eq!(client.next_json().await["error_code"], "INVALID_JSON");
    client
        .send_json(json!({"type": "auth", "password": "31415"}))
        .await;
    assert_eq!(client.next_json().await["success"], true);
    t.stop().await;
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_connection_stays_open() {
    let t = TestServer::start().await;
    let mut client = t.authed_ws().await;
    let matrix = [
        ("{\"type\": ", "INVALID_JSON", ""),
        ("[1, 2]", "VALIDATION_ERROR", "type:"),
        (
            "{\"password\": \"31415\"}",
            "VALIDATION_ERROR",
            "required:type",
        ),
        (
            "{\"type\": \"subscribe\"}",
            "UNKNOWN_MESSAGE_TYPE",
            "enum:type",
        ),
        (
            "{\"type\": \"data\", \"frame_count\": 1}",
            "UNKNOWN_MESSAGE_TYPE",
            "enum:type",
        ),
        (
            "{\"type\": \"ping\", \"id\": 5}",
            "VALIDATION_ERROR",
            "type:id",
        ),
        (
            "{\"type\": \"ping\", \"extra\": true}",
            "VALIDATION_ERROR",
            "additional:extra",
        ),
        (
            "{\"type\": \"ping\", \"id\": \"\"}",
            "VALIDATION_ERROR",
            "length:id",
        ),
        (
            "{\"type\": \"auth\", \"password\": \"31415\"}",
            "INVALID_STATE",
            "",
        ),
    ];
    for (input, code, rule) in matrix {
        client.send_text(input).await;
        let error = client.next_of("error").await;
        assert_eq!(error["error_code"], code, "{input}: {error}");
        if !rule.is_empty() {
            assert_eq!(error["details"]["constraint"], rule, "{input}: {error}");
        }
    }
    // Still open and still served.
    client.send_json(json!({"type": "ping"})).await;
    client.next_of("pong").await;
    t.stop().await;
}

#[tokio::test]
async fn oversize_messages_get_payload_too_large_and_close_1009() {
    let t = TestServer::start_with(|s| s.max_message_bytes = 1024).await;
    let mut client = t.authed_ws().await;
    client
        .send_json(json!({"type": "ping", "id": "x".repeat(4000)}))
        .await;
    let error = client.next_of("error").await;
    assert_eq!(error["error_code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(client.close_code().await, Some(1009));
    t.stop().await;
}

#[tokio::test]
async fn shutdown_closes_clients_with_1001() {
    let t = TestServer::start().await;
    let mut client = t.authed_ws().await;
    let stopping = tokio::spawn(t.server.stop());
    assert_eq!(client.close_code().await, Some(1001));
    stopping.await.expect("server stops");
}

#[tokio::test]
async fn connections_over_the_limit_are_refused() {
    let t = TestServer::start_with(|s| s.max_connections = 1).await;
    let _first = t.authed_ws().await;
    let mut second = t.ws().await;
    match second.next().await {
        Next::Json(error) => assert_eq!(error["error_code"], "TOO_MANY_CONNECTIONS"),
        other => panic!("expected an error first, got {other:?}"),
    }
    assert_eq!(second.close_code().await, Some(1013));
    t.stop().await;
}

/// serde_json keeps the last of two equal members, so a wrong password followed by the right
/// one used to authenticate. Every client message with a member named twice is refused.
#[tokio::test]
async fn a_member_named_twice_is_refused_not_last_wins() {
    let t = TestServer::start().await;
    let mut client = t.ws().await;
    client
        .send_text(r#"{"type":"auth","password":"wrong","password":"31415"}"#)
        .await;
    let error = client.next_json().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error_code"], "VALIDATION_ERROR", "{error}");
    // Still unauthenticated: a proper auth is needed and works.
    client
        .send_json(json!({"type": "auth", "password": "31415"}))
        .await;
    assert_eq!(client.next_of("auth_response").await["success"], true);
    t.stop().await;
}

/// A client that floods pings and never reads: once its socket buffers are full, its replies
/// wait in the server, and they used to wait without bound (6 → 96 MiB in 2.3 s). They are
/// now bounded per connection and the flooder is closed, before auth as after.
#[tokio::test]
async fn a_flood_of_unread_replies_is_bounded_and_closed() {
    use std::sync::atomic::Ordering::Relaxed;
    use tokio::io::AsyncWriteExt;
    let t = TestServer::start_with(|s| s.socket_send_buffer = 16 * 1024).await;
    let metrics = t.server.state.metrics.stream.clone();
    for authenticate in [false, true] {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let mut stream = socket.connect(t.server.ws_addr).await.expect("connects");
        let (mut ws, _) =
            tokio_tungstenite::client_async(format!("ws://{}/", t.server.ws_addr), &mut stream)
                .await
                .expect("upgrade");
        if authenticate {
            use futures_util::SinkExt;
            ws.send(tokio_tungstenite::tungstenite::Message::Text(
                r#"{"type":"auth","password":"31415"}"#.into(),
            ))
            .await
            .expect("auth sent");
        }
        drop(ws);
        // Raw masked text frames of {"type":"ping"}, written without ever reading.
        let payload = br#"{"type":"ping"}"#;
        let mut frame = vec![0x81, 0x80 | payload.len() as u8, 1, 2, 3, 4];
        frame.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]),
        );
        let flood: Vec<u8> = frame
            .iter()
            .copied()
            .cycle()
            .take(frame.len() * 20_000)
            .collect();
        let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                if stream.write_all(&flood).await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the server kept reading a client that never reads (auth: {authenticate})"
        );
    }
    let high_water = metrics.reply_queue_high_water_bytes.load(Relaxed) as usize;
    assert!(
        high_water <= reference_server::core::MAX_QUEUED_REPLY_BYTES,
        "{high_water} bytes of replies waited for one connection"
    );
    assert_eq!(metrics.reply_overflows_total.load(Relaxed), 2);
    t.stop().await;
}

/// Failed authentications are limited per address: over the budget, auth messages are refused
/// with RATE_LIMITED without being checked (the right password included), until `retry_after`.
/// It used to check 3,600 wrong passwords a second.
#[tokio::test]
async fn failed_authentications_are_throttled_per_address() {
    let t = TestServer::start_with(|s| s.ws_auth_failures_per_s = 1.0).await;
    let attempt = |password: &'static str| {
        let addr = t.server.ws_addr;
        async move {
            let mut client = WsClient::connect(addr).await;
            client
                .send_json(json!({"type": "auth", "password": password}))
                .await;
            let answer = client.next_json().await;
            (answer, client)
        }
    };
    // A burst of two (twice the rate), each closed after its one attempt.
    for _ in 0..2 {
        let (answer, mut client) = attempt("wrong").await;
        assert_eq!(answer["type"], "auth_response");
        assert_eq!(answer["success"], false);
        assert_eq!(client.close_code().await, Some(1008));
    }
    let mut retry_after = 0.0;
    for password in ["wrong", "31415"] {
        let (answer, mut client) = attempt(password).await;
        assert_eq!(answer["type"], "error", "{password}: {answer}");
        assert_eq!(answer["error_code"], "RATE_LIMITED");
        retry_after = answer["retry_after"].as_f64().expect("retry_after");
        assert!(retry_after > 0.0 && retry_after <= 1.0, "{retry_after}");
        assert_eq!(client.close_code().await, Some(1008));
    }
    tokio::time::sleep(Duration::from_secs_f64(retry_after + 0.05)).await;
    let (answer, _) = attempt("31415").await;
    assert_eq!(answer["type"], "auth_response");
    assert_eq!(answer["success"], true, "{answer}");
    t.stop().await;
}

/// An auth whose password is a number is refused without quoting the number back.
#[tokio::test]
async fn a_password_of_the_wrong_type_is_not_echoed() {
    let t = TestServer::start().await;
    let mut client = WsClient::connect(t.server.ws_addr).await;
    client
        .send_text(r#"{"type":"auth","password":271828}"#)
        .await;
    let error = client.next_json().await;
    assert_eq!(error["error_code"], "VALIDATION_ERROR", "{error}");
    assert!(!error.to_string().contains("271828"), "{error}");
    t.stop().await;
}
