//! `reference-server handler` over real sockets: welcome and handshake, auth (gate, refusal
//! and its close), data with insertId, requests and RPC, pub/sub without self-echo, server
//! streams on their cadence, heartbeat and its timeout, limits and bad input. Every message
//! is classified as server → client and validated by its kind's schema.

use client_io::ws::{Event, WsConn};
use protocol::handler::{classify, HANDLER};
use protocol::schema::SchemaSet;
use protocol::Direction;
use reference_server::handler::{HandlerSettings, RunningHandlerServer};
use serde_json::{json, Value};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

static SCHEMAS: LazyLock<SchemaSet> =
    LazyLock::new(|| SchemaSet::load(&HANDLER).expect("schemas compile"));

async fn start(adjust: impl FnOnce(&mut HandlerSettings)) -> RunningHandlerServer {
    let mut settings = HandlerSettings::for_tests();
    adjust(&mut settings);
    RunningHandlerServer::start(settings)
        .await
        .expect("server starts")
}

fn checked(message: Value) -> Value {
    let kind =
        classify(Direction::ServerToClient, &message).unwrap_or_else(|e| panic!("{message}: {e}"));
    assert!(
        SCHEMAS.is_valid(kind, &message),
        "{message} breaks {kind}: {:?}",
        SCHEMAS.violations(kind, &message)
    );
    message
}

async fn next_json(conn: &mut WsConn) -> Value {
    match conn.next_event(WAIT).await {
        Event::Json { value, .. } => checked(value),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Connects and reads the `welcome`.
async fn connect(server: &RunningHandlerServer, path: &str) -> (WsConn, Value) {
    let url = format!("{}{path}", server.ws_base());
    let mut conn = WsConn::connect(&url, WAIT).await.expect("upgrade");
    let welcome = next_json(&mut conn).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (conn, welcome)
}

/// Sends `message` and returns the next message.
async fn ask(conn: &mut WsConn, message: Value) -> Value {
    assert!(conn.send_json(&message).await, "send {message}");
    next_json(conn).await
}

/// Everything before the `heartbeat_response` that answers a heartbeat sent now (messages
/// are handled in order, so it is a barrier).
async fn until_barrier(conn: &mut WsConn) -> Vec<Value> {
    assert!(conn.send_json(&json!({"type": "heartbeat"})).await);
    let mut before = Vec::new();
    loop {
        let message = next_json(conn).await;
        if message["type"] == "heartbeat_response" {
            return before;
        }
        before.push(message);
    }
}

#[tokio::test]
async fn welcome_handshake_and_data_with_increasing_insert_ids() {
    let server = start(|_| {}).await;
    let (mut a, welcome) = connect(&server, "/").await;
    let (_b, other) = connect(&server, "/any/path").await;
    assert_ne!(welcome["clientId"], other["clientId"]);
    assert_eq!(welcome["authRequired"], false);
    assert_eq!(welcome["serverCapabilities"]["rpc"], true);
    let hs = ask(&mut a, json!({"type": "handshake", "clientType": "microcontroller", "capabilities": ["sensor_data"], "version": "1.0.0"})).await;
    assert_eq!(
        (hs["type"].as_str(), &hs["clientId"]),
        (Some("handshake_response"), &welcome["clientId"])
    );
    assert_eq!(hs["serverVersion"], "2.0.0");
    let auth = ask(&mut a, json!({"type": "auth", "token": "anything"})).await;
    assert_eq!(
        (auth["success"].as_bool(), auth["message"].as_str()),
        (Some(true), Some("Authentication not required"))
    );
    let mut last = 0;
    for message in [
        json!({"type": "data", "dataType": "sensor", "data": {"temperature": 25.5}, "requestId": "d1"}),
        json!({"type": "sensor_data", "temperature": 25.0, "humidity": 60}),
        json!({"type": "data", "data": {"x": 1}}),
    ] {
        let reply = ask(&mut a, message.clone()).await;
        assert_eq!(
            (reply["type"].as_str(), reply["success"].as_bool()),
            (Some("data_response"), Some(true)),
            "{reply}"
        );
        let id = reply["insertId"].as_u64().expect("insertId");
        assert!(id > last, "{id} after {last}");
        last = id;
        assert_eq!(reply.get("requestId"), message.get("requestId"));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_required_field_missing_or_blank_fails_validation() {
    let server = start(|s| s.required_fields = vec!["sensor_id".into()]).await;
    let (mut conn, _) = connect(&server, "/").await;
    for (message, ok) in [
        (json!({"type": "data", "data": {"sensor_id": "s1"}}), true),
        (json!({"type": "data", "data": {"sensor_id": "  "}}), false),
        (json!({"type": "data", "data": {}}), false),
        (json!({"type": "sensor_data", "sensor_id": "ESP32"}), true),
        (json!({"type": "sensor_data", "temperature": 1}), false),
    ] {
        let reply = ask(&mut conn, message.clone()).await;
        assert_eq!(reply["success"].as_bool(), Some(ok), "{message} → {reply}");
        if !ok {
            assert_eq!(reply["message"], "Data validation failed");
            assert!(reply.get("insertId").is_none());
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn auth_gates_everything_but_the_session_messages_and_a_bad_token_closes_with_1008() {
    let server = start(|s| s.auth_token = Some("secret-token".into())).await;
    let (mut conn, welcome) = connect(&server, "/").await;
    assert_eq!(welcome["authRequired"], true);
    // Pipelined like the seed's clients: handshake, then auth, without waiting.
    let refused = ask(&mut conn, json!({"type": "data", "data": {"a": 1}})).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("AUTH_REQUIRED"))
    );
    let pong = ask(&mut conn, json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    let ok = ask(&mut conn, json!({"type": "auth", "token": "secret-token"})).await;
    assert_eq!(ok["success"], true);
    let stored = ask(&mut conn, json!({"type": "data", "data": {"a": 1}})).await;
    assert_eq!(stored["success"], true);
    // A wrong token after a good one also closes.
    let bad = ask(&mut conn, json!({"type": "auth", "token": "wrong"})).await;
    assert_eq!(
        (bad["success"].as_bool(), bad["message"].as_str()),
        (Some(false), Some("Invalid authentication token"))
    );
    let sent = Instant::now();
    assert!(conn.send_json(&json!({"type": "ping"})).await);
    // Nothing is answered in that second; then 1008.
    match conn.next_event(WAIT).await {
        Event::Closed(Some((code, reason))) => {
            assert_eq!((code, reason.as_str()), (1008, "Authentication failed"));
        }
        other => panic!("expected the close, got {other:?}"),
    }
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn requests_and_rpc_are_answered_with_their_ids() {
    let server = start(|_| {}).await;
    let (mut conn, _) = connect(&server, "/").await;
    let weather = ask(&mut conn, json!({"type": "request", "requestId": "req_123", "endpoint": "get_weather", "data": {"city": "New York"}})).await;
    assert_eq!(weather["requestId"], "req_123");
    assert_eq!(
        weather["data"],
        json!({"temperature": 22, "condition": "sunny"})
    );
    let unknown = ask(
        &mut conn,
        json!({"type": "request", "requestId": "r2", "endpoint": "nope"}),
    )
    .await;
    assert_eq!(
        (unknown["success"].as_bool(), unknown["error"].as_str()),
        (Some(false), Some("Unknown endpoint: nope"))
    );
    let average = ask(&mut conn, json!({"type": "rpc_call", "requestId": "rpc_456", "method": "calculateAverage", "params": {"values": [10, 20, 30, 40, 50]}})).await;
    assert_eq!(
        (average["requestId"].as_str(), &average["data"]),
        (Some("rpc_456"), &json!(30))
    );
    let missing = ask(
        &mut conn,
        json!({"type": "rpc_call", "requestId": "r3", "method": "nope"}),
    )
    .await;
    assert_eq!(
        (missing["success"].as_bool(), missing["error"].as_str()),
        (Some(false), Some("Method nope not found"))
    );
    let info = ask(
        &mut conn,
        json!({"type": "rpc_call", "requestId": "r4", "method": "server.info"}),
    )
    .await;
    assert_eq!(info["data"]["version"], "2.0.0");
    server.stop().await;
}

#[tokio::test]
async fn publishes_reach_other_subscribers_only_and_stop_after_unsubscribe() {
    let server = start(|_| {}).await;
    let (mut publisher, _) = connect(&server, "/").await;
    let (mut subscriber, _) = connect(&server, "/").await;
    for conn in [&mut publisher, &mut subscriber] {
        let ack = ask(
            conn,
            json!({"type": "subscribe", "topic": "temperature-alerts"}),
        )
        .await;
        assert_eq!(
            (ack["type"].as_str(), ack["topic"].as_str()),
            (Some("subscribe_response"), Some("temperature-alerts"))
        );
    }
    let data =
        json!({"message": "High temperature detected!", "value": 35, "nested": [1, {"a": null}]});
    let ack = ask(
        &mut publisher,
        json!({"type": "publish", "topic": "temperature-alerts", "data": data}),
    )
    .await;
    assert_eq!(ack["type"], "publish_response");
    let got = next_json(&mut subscriber).await;
    assert_eq!(
        (got["type"].as_str(), got["topic"].as_str(), &got["data"]),
        (Some("publish"), Some("temperature-alerts"), &data)
    );
    assert!(
        until_barrier(&mut publisher).await.is_empty(),
        "the publisher got its own publish"
    );
    let topics = ask(
        &mut publisher,
        json!({"type": "rpc_call", "requestId": "t", "method": "pubsub.topics"}),
    )
    .await;
    assert_eq!(topics["data"], json!(["temperature-alerts"]));
    let ack = ask(
        &mut subscriber,
        json!({"type": "unsubscribe", "topic": "temperature-alerts"}),
    )
    .await;
    assert_eq!(ack["type"], "unsubscribe_response");
    ask(
        &mut publisher,
        json!({"type": "publish", "topic": "temperature-alerts", "data": 1}),
    )
    .await;
    assert!(until_barrier(&mut publisher).await.is_empty());
    assert!(
        until_barrier(&mut subscriber).await.is_empty(),
        "a publish after unsubscribe"
    );
    // The publisher's own subscription goes when it disconnects.
    drop(publisher);
    let deadline = Instant::now() + WAIT;
    loop {
        let topics = ask(
            &mut subscriber,
            json!({"type": "rpc_call", "requestId": "t2", "method": "pubsub.topics"}),
        )
        .await;
        if topics["data"] == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed subscriber was not cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn server_streams_count_from_zero_on_their_cadence_and_client_streams_are_acknowledged() {
    let server = start(|_| {}).await;
    let (mut conn, _) = connect(&server, "/").await;
    let reply = ask(&mut conn, json!({"type": "rpc_call", "requestId": "s", "method": "streams.start", "params": {"intervalMs": 20, "durationMs": 200, "streamId": "s1"}})).await;
    assert_eq!(
        (reply["type"].as_str(), &reply["data"]),
        (Some("rpc_response"), &json!({"streamId": "s1"}))
    );
    let start = next_json(&mut conn).await;
    assert_eq!(
        (start["type"].as_str(), start["streamType"].as_str()),
        (Some("stream_start"), Some("sensor_data"))
    );
    let mut sequence = Vec::new();
    loop {
        let message = next_json(&mut conn).await;
        match message["type"].as_str() {
            Some("stream_data") => {
                sequence.push(message["sequenceNumber"].as_u64().expect("number"))
            }
            Some("stream_end") => break,
            other => panic!("{other:?} in a stream"),
        }
    }
    assert_eq!(sequence, (0..10).collect::<Vec<_>>());
    let ack = ask(
        &mut conn,
        json!({"type": "stream_start", "streamId": "video_stream_1", "streamType": "video"}),
    )
    .await;
    assert_eq!(
        (ack["type"].as_str(), ack["streamId"].as_str()),
        (Some("stream_start_response"), Some("video_stream_1"))
    );
    assert!(conn.send_json(&json!({"type": "stream_data", "streamId": "video_stream_1", "data": "AAEC", "sequenceNumber": 1})).await);
    let unknown = ask(
        &mut conn,
        json!({"type": "stream_data", "streamId": "nope", "data": 1, "sequenceNumber": 0}),
    )
    .await;
    assert_eq!(
        (unknown["code"].as_str(), unknown["message"].as_str()),
        (Some("UNKNOWN_STREAM"), Some("Unknown stream: nope"))
    );
    let end = ask(
        &mut conn,
        json!({"type": "stream_end", "streamId": "video_stream_1"}),
    )
    .await;
    assert_eq!(
        (end["type"].as_str(), end["success"].as_bool()),
        (Some("stream_end_response"), Some(true))
    );
    server.stop().await;
}

#[tokio::test]
async fn pings_every_interval_and_a_silent_client_is_closed_after_two() {
    let server = start(|s| s.heartbeat_interval_ms = 200).await;
    let (mut answering, _) = connect(&server, "/").await;
    let (mut silent, _) = connect(&server, "/").await;
    let opened = Instant::now();
    // Reading answers pings (tungstenite pongs automatically): this one stays.
    assert_eq!(answering.close_code(Duration::from_millis(700)).await, None);
    // This one read nothing, so it answered no ping.
    match silent.close_code(WAIT).await {
        Some(Some((code, reason))) => {
            assert_eq!((code, reason.as_str()), (1000, "Heartbeat timeout"))
        }
        other => panic!("{other:?}"),
    }
    let closed = opened.elapsed();
    assert!(closed >= Duration::from_millis(380), "{closed:?}");
    let hb = ask(
        &mut answering,
        json!({"type": "heartbeat", "timestamp": "2024-01-01T12:00:00"}),
    )
    .await;
    assert_eq!(hb["type"], "heartbeat_response");
    server.stop().await;
}

#[tokio::test]
async fn limits_close_with_1013_and_1009_and_bad_input_keeps_the_connection() {
    let server = start(|s| {
        s.max_connections = 2;
        s.max_payload = 64 * 1024;
    })
    .await;
    let (mut a, _) = connect(&server, "/").await;
    let (_b, _) = connect(&server, "/").await;
    let mut third = WsConn::connect(&server.ws_base(), WAIT)
        .await
        .expect("upgrade");
    match third.next_event(WAIT).await {
        Event::Closed(Some((code, reason))) => {
            assert_eq!((code, reason.as_str()), (1013, "Server overloaded"))
        }
        other => panic!("expected 1013 before any welcome, got {other:?}"),
    }
    let invalid = ask(&mut a, json!("x")).await;
    assert_eq!(invalid["code"], "INVALID_JSON");
    assert!(a.send_text("{nope").await);
    assert_eq!(next_json(&mut a).await["message"], "Invalid message format");
    let unknown = ask(&mut a, json!({"type": "nope"})).await;
    assert_eq!(
        (unknown["code"].as_str(), unknown["message"].as_str()),
        (
            Some("UNKNOWN_MESSAGE_TYPE"),
            Some("Unknown message type: nope")
        )
    );
    let untyped = ask(&mut a, json!({"topic": "x"})).await;
    assert_eq!(untyped["message"], "Unknown message type: undefined");
    let invalid = ask(&mut a, json!({"type": "subscribe", "topic": 5})).await;
    assert_eq!(invalid["code"], "VALIDATION_ERROR");
    assert_eq!(ask(&mut a, json!({"type": "ping"})).await["type"], "pong");
    let big = json!({"type": "data", "data": {"blob": "x".repeat(70 * 1024)}});
    assert!(a.send_json(&big).await);
    match a.close_code(WAIT).await {
        Some(Some((code, _))) => assert_eq!(code, 1009),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_with_1001() {
    let server = start(|_| {}).await;
    let (mut conn, _) = connect(&server, "/").await;
    let stopping = tokio::spawn(server.stop());
    match conn.close_code(WAIT).await {
        Some(Some((code, _))) => assert_eq!(code, 1001),
        other => panic!("{other:?}"),
    }
    stopping.await.expect("stops");
}

#[tokio::test]
async fn a_reply_or_publish_larger_than_the_backlog_bound_still_goes_out() {
    let server = start(|_| {}).await;
    let (mut a, _) = connect(&server, "/").await;
    let (mut b, _) = connect(&server, "/").await;
    // 300 KB: over the 256 KiB bound on unread replies, under the 10 MB payload limit.
    let blob = "x".repeat(300_000);
    let echo = ask(
        &mut a,
        json!({"type": "request", "requestId": "big", "endpoint": "echo", "data": blob}),
    )
    .await;
    assert_eq!(echo["data"].as_str().map(str::len), Some(300_000));
    ask(&mut b, json!({"type": "subscribe", "topic": "big"})).await;
    ask(
        &mut a,
        json!({"type": "publish", "topic": "big", "data": blob}),
    )
    .await;
    let got = next_json(&mut b).await;
    assert_eq!(
        (got["type"].as_str(), got["data"].as_str().map(str::len)),
        (Some("publish"), Some(300_000))
    );
    server.stop().await;
}

#[tokio::test]
async fn one_connection_cannot_grow_the_server_without_bound() {
    let server = start(|_| {}).await;
    let (mut conn, _) = connect(&server, "/").await;
    for i in 0..16 {
        let reply = ask(&mut conn, json!({"type": "rpc_call", "requestId": format!("s{i}"), "method": "streams.start", "params": {"intervalMs": 60000, "durationMs": 600000}})).await;
        assert_eq!(reply["success"], true, "{reply}");
        assert_eq!(next_json(&mut conn).await["type"], "stream_start");
        assert_eq!(next_json(&mut conn).await["type"], "stream_data");
    }
    let refused = ask(
        &mut conn,
        json!({"type": "rpc_call", "requestId": "s16", "method": "streams.start"}),
    )
    .await;
    assert_eq!(refused["success"], false, "{refused}");
    assert!(refused["error"]
        .as_str()
        .is_some_and(|e| e.contains("at most 16")));
    for i in 0..100 {
        let ack = ask(
            &mut conn,
            json!({"type": "stream_start", "streamId": format!("c{i}"), "streamType": "video"}),
        )
        .await;
        assert_eq!(ack["success"], true);
    }
    let ack = ask(
        &mut conn,
        json!({"type": "stream_start", "streamId": "c100", "streamType": "video"}),
    )
    .await;
    assert_eq!(ack["success"], false, "the 101st client stream is refused");
    server.stop().await;
}

#[tokio::test]
async fn an_auth_without_a_usable_token_is_a_failed_auth_and_unknown_types_wait_for_auth() {
    let server = start(|s| s.auth_token = Some("secret-token".into())).await;
    let (mut conn, _) = connect(&server, "/").await;
    let unknown = ask(&mut conn, json!({"type": "nope"})).await;
    assert_eq!(unknown["code"], "AUTH_REQUIRED");
    let refused = ask(&mut conn, json!({"type": "auth", "token": 42})).await;
    assert_eq!(
        (refused["type"].as_str(), refused["success"].as_bool()),
        (Some("auth_response"), Some(false))
    );
    match conn.next_event(WAIT).await {
        Event::Closed(Some((code, _))) => assert_eq!(code, 1008),
        other => panic!("expected the close, got {other:?}"),
    }
    server.stop().await;
}
