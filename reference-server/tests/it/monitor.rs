//! `reference-server monitor` over real sockets: auth on the upgrade, the envelope, endpoint
//! isolation, filtered fan-out, the alert lifecycle, request_data, rate limit, bad input,
//! idle timeout, connection limit and shutdown. Every message is validated by its schema.

use client_io::ws::{Event, WsConn};
use protocol::schema::SchemaSet;
use reference_server::monitor::{MonitorSettings, RunningMonitorServer};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::Duration;

const KEY: &str = "test-key";
const WAIT: Duration = Duration::from_secs(5);

static SCHEMAS: LazyLock<SchemaSet> =
    LazyLock::new(|| SchemaSet::load(&protocol::monitor::MONITOR).expect("schemas compile"));

/// Fast cadences: a 2 s cycle raises and resolves alerts within the test.
fn fast() -> MonitorSettings {
    let mut s = MonitorSettings::for_tests();
    s.api_keys = vec![KEY.into()];
    s.performance_interval_ms = 20;
    s.cycle_s = 2.0;
    s.status_interval_s = 0.25;
    s.custom_interval_s = 0.2;
    s
}

async fn start(adjust: impl FnOnce(&mut MonitorSettings)) -> RunningMonitorServer {
    let mut settings = fast();
    adjust(&mut settings);
    RunningMonitorServer::start(settings)
        .await
        .expect("server starts")
}

fn checked(message: Value) -> Value {
    let kind = message["type"].as_str().unwrap_or("?").to_owned();
    assert!(
        SCHEMAS.is_valid(&kind, &message),
        "{message} breaks {kind}: {:?}",
        SCHEMAS.violations(&kind, &message)
    );
    message
}

async fn connect(server: &RunningMonitorServer, path: &str, headers: &[(&str, &str)]) -> WsConn {
    let url = format!("{}{path}", server.ws_base());
    WsConn::connect_with_headers(&url, headers, WAIT)
        .await
        .expect("upgrade")
}

const BEARER: (&str, &str) = ("Authorization", "Bearer test-key");

/// Connects with the key and reads the `connection` greeting.
async fn authed(server: &RunningMonitorServer, path: &str) -> WsConn {
    let mut conn = connect(server, path, &[BEARER]).await;
    let greeting = next_json(&mut conn).await;
    assert_eq!(greeting["data"]["status"], "connected", "{greeting}");
    conn
}

async fn next_json(conn: &mut WsConn) -> Value {
    match conn.next_event(WAIT).await {
        Event::Json { value, .. } => checked(value),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Every message for `within`, each validated.
async fn collect(conn: &mut WsConn, within: Duration) -> Vec<Value> {
    let deadline = std::time::Instant::now() + within;
    let mut messages = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match conn.next_event(left).await {
            Event::Json { value, .. } => messages.push(checked(value)),
            Event::Timeout => return messages,
            other => panic!("the stream ended: {other:?}"),
        }
    }
}

/// Sends `ping` with `id` and reads until its `pong`, returning what came before it.
async fn barrier(conn: &mut WsConn, id: &str) -> Vec<Value> {
    assert!(conn.send_json(&json!({"type": "ping", "id": id})).await);
    let mut before = Vec::new();
    loop {
        let message = next_json(conn).await;
        if message["type"] == "pong" {
            assert_eq!(message["meta"]["request_id"], id);
            return before;
        }
        before.push(message);
    }
}

fn of_type<'a>(messages: &'a [Value], ty: &str) -> Vec<&'a Value> {
    messages.iter().filter(|m| m["type"] == ty).collect()
}

#[tokio::test]
async fn the_main_endpoint_greets_streams_every_family_with_unique_ids() {
    let server = start(|_| {}).await;
    let mut conn = connect(&server, "/ws", &[BEARER, ("X-Client-ID", "dash-1")]).await;
    let greeting = next_json(&mut conn).await;
    assert_eq!(greeting["type"], "connection");
    assert_eq!(greeting["data"]["client_id"], "dash-1");
    let messages = collect(&mut conn, Duration::from_millis(2300)).await;
    let families: HashSet<&str> = messages.iter().filter_map(|m| m["type"].as_str()).collect();
    for family in ["performance", "alert", "status", "config", "system"] {
        assert!(families.contains(family), "no {family} in {families:?}");
    }
    let mut ids: Vec<&str> = messages.iter().filter_map(|m| m["id"].as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "an id repeated on one connection");
    let system = messages
        .iter()
        .filter(|m| m["type"] == "performance" && m["data"]["cpu_percent"].is_number())
        .count();
    assert!(
        (80..=125).contains(&system),
        "{system} system samples in 2.3 s at 20 ms"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_client_id_is_replaced_by_a_generated_one() {
    let server = start(|_| {}).await;
    let mut conn = connect(
        &server,
        "/ws/status",
        &[BEARER, ("X-Client-ID", "no spaces!")],
    )
    .await;
    let greeting = next_json(&mut conn).await;
    let id = greeting["data"]["client_id"].as_str().expect("a client id");
    assert!(id.starts_with("client_"), "{id}");
    server.stop().await;
}

#[tokio::test]
async fn each_endpoint_carries_only_its_family() {
    let server = start(|_| {}).await;
    for (path, family) in [
        ("/ws/performance", "performance"),
        ("/ws/alerts", "alert"),
        ("/ws/status", "status"),
    ] {
        let mut conn = authed(&server, path).await;
        let messages = collect(&mut conn, Duration::from_millis(1200)).await;
        assert!(!messages.is_empty(), "{path} sent nothing");
        let others: Vec<_> = messages.iter().filter(|m| m["type"] != family).collect();
        assert!(others.is_empty(), "{path} carried {others:?}");
    }
    server.stop().await;
}

/// Reads to the close; the messages before it and the close frame.
async fn until_close(conn: &mut WsConn) -> (Vec<Value>, Option<(u16, String)>) {
    let mut messages = Vec::new();
    loop {
        match conn.next_event(WAIT).await {
            Event::Json { value, .. } => messages.push(checked(value)),
            Event::Closed(frame) => return (messages, frame),
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_wrong_or_missing_key_gets_both_shapes_then_1008() {
    let server = start(|_| {}).await;
    for headers in [
        vec![("Authorization", "Bearer wrong")],
        vec![],
        vec![("Authorization", "Basic dGVzdC1rZXk=")],
    ] {
        let mut conn = connect(&server, "/ws", &headers).await;
        let (messages, close) = until_close(&mut conn).await;
        assert_eq!(messages.len(), 2, "{headers:?}: {messages:?}");
        assert_eq!(messages[0]["data"]["error_code"], "AUTH_FAILED");
        assert_eq!(messages[1]["data"]["code"], "AUTHENTICATION_FAILED");
        assert_eq!(close, Some((1008, "AUTH_FAILED".to_owned())), "{headers:?}");
    }
    let mut lower = connect(&server, "/ws", &[("authorization", "bearer test-key")]).await;
    assert_eq!(next_json(&mut lower).await["data"]["status"], "connected");
    server.stop().await;
}

#[tokio::test]
async fn anonymous_access_serves_no_key_but_still_refuses_a_wrong_one() {
    let server = start(|s| s.allow_anonymous = true).await;
    let mut anonymous = connect(&server, "/ws", &[]).await;
    assert_eq!(
        next_json(&mut anonymous).await["data"]["status"],
        "connected"
    );
    let mut wrong = connect(&server, "/ws", &[("Authorization", "Bearer nope")]).await;
    let (_, close) = until_close(&mut wrong).await;
    assert_eq!(close.map(|c| c.0), Some(1008));
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let server = start(|_| {}).await;
    let url = format!("{}/ws/other", server.ws_base());
    let error = WsConn::connect_with_headers(&url, &[BEARER], WAIT)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("404"), "{error}");
    server.stop().await;
}

/// Alerts as `(alert_id, status, type, level)`.
fn alerts(messages: &[Value]) -> Vec<(String, String, String, String)> {
    of_type(messages, "alert")
        .into_iter()
        .map(|m| {
            let d = &m["data"];
            let s = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
            (s("alert_id"), s("status"), s("type"), s("level"))
        })
        .collect()
}

#[tokio::test]
async fn filters_deliver_exactly_the_matching_alerts_and_unsubscribe_mutes() {
    let server = start(|_| {}).await;
    let mut everything = authed(&server, "/ws").await;
    let mut filtered = authed(&server, "/ws").await;
    // The unfiltered client's window starts first and ends last, so it sees every event the
    // filtered one could.
    barrier(&mut everything, "s0").await;
    let subscribe = json!({"type": "subscribe", "data": {"events": ["alert.cpu"], "filters": {"level": ["critical"]}}});
    assert!(filtered.send_json(&subscribe).await);
    barrier(&mut filtered, "s1").await;
    let (seen_all, seen_filtered) = tokio::join!(
        collect(&mut everything, Duration::from_millis(4200)),
        collect(&mut filtered, Duration::from_millis(4000)),
    );
    let expected: Vec<_> = alerts(&seen_all)
        .into_iter()
        .filter(|(_, _, ty, level)| ty == "cpu" && level == "critical")
        .collect();
    let got = alerts(&seen_filtered);
    assert!(got.len() >= 2, "a raise and a resolve per cycle: {got:?}");
    assert!(
        got.iter().all(|a| expected.contains(a)),
        "{got:?} not all in {expected:?}"
    );
    assert!(expected.len() >= got.len());
    assert!(
        of_type(&seen_filtered, "performance").len() > 100,
        "performance is never named, so it stays"
    );
    let unsubscribe = json!({"type": "unsubscribe", "data": {"events": ["alert.cpu"]}});
    assert!(filtered.send_json(&unsubscribe).await);
    barrier(&mut filtered, "u1").await;
    let after = collect(&mut filtered, Duration::from_millis(2200)).await;
    assert_eq!(
        alerts(&after),
        vec![],
        "an explicit family with no entries is muted"
    );
    server.stop().await;
}

#[tokio::test]
async fn alerts_escalate_and_resolve_and_no_id_is_raised_twice() {
    let server = start(|_| {}).await;
    let mut conn = authed(&server, "/ws/alerts").await;
    let seen = alerts(&collect(&mut conn, Duration::from_millis(4200)).await);
    let mut active = HashSet::new();
    let mut resolved = HashSet::new();
    for (id, status, _, _) in &seen {
        match status.as_str() {
            "active" => assert!(active.insert(id.clone()), "{id} raised twice: {seen:?}"),
            _ => assert!(resolved.insert(id.clone()), "{id} resolved twice"),
        }
    }
    let levels: HashSet<_> = seen.iter().map(|a| (a.2.as_str(), a.3.as_str())).collect();
    for wanted in [
        ("cpu", "warning"),
        ("cpu", "critical"),
        ("memory", "warning"),
        ("memory", "critical"),
    ] {
        assert!(levels.contains(&wanted), "{wanted:?} missing from {seen:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn request_data_answers_with_history_where_performance_is_carried() {
    let server = start(|_| {}).await;
    let mut conn = authed(&server, "/ws/performance").await;
    collect(&mut conn, Duration::from_millis(300)).await;
    let request = json!({"type": "request_data", "id": "r1", "data": {"metrics": ["cpu_percent", "network_io"], "history_minutes": 1}});
    assert!(conn.send_json(&request).await);
    let reply = loop {
        let message = next_json(&mut conn).await;
        if message["meta"]["reply_to"] == "request_data" {
            break message;
        }
    };
    assert_eq!(reply["meta"]["request_id"], "r1");
    assert!(reply["data"]["cpu_percent"].is_number() && reply["data"]["memory_percent"].is_null());
    let points = reply["data"]["history"]["cpu_percent"]
        .as_array()
        .expect("history");
    assert!(
        points.len() >= 10,
        "{} points after 300 ms at 20 ms",
        points.len()
    );
    let mut alerts = authed(&server, "/ws/alerts").await;
    assert!(
        alerts
            .send_json(&json!({"type": "request_data", "data": {}}))
            .await
    );
    let error = next_of(&mut alerts, "error").await;
    assert_eq!(error["data"]["code"], "VALIDATION_ERROR");
    server.stop().await;
}

async fn next_of(conn: &mut WsConn, ty: &str) -> Value {
    checked(
        conn.next_of(ty, WAIT)
            .await
            .expect("a message of that type"),
    )
}

#[tokio::test]
async fn bad_input_gets_its_code_and_the_connection_stays_open() {
    let server = start(|_| {}).await;
    let mut conn = authed(&server, "/ws/status").await;
    for (input, code) in [
        ("{not json", "INVALID_JSON"),
        (r#"{"type":"performance"}"#, "UNKNOWN_MESSAGE_TYPE"),
        (
            r#"{"type":"subscribe","data":{"events":[]}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type":"subscribe","data":{"events":["metrics.cpu"]}}"#,
            "VALIDATION_ERROR",
        ),
        (
            r#"{"type":"subscribe","data":{"events":["alert.cpu"]}}"#,
            "VALIDATION_ERROR",
        ),
    ] {
        assert!(conn.send_text(input).await);
        let error = next_of(&mut conn, "error").await;
        assert_eq!(error["data"]["code"], code, "{input}: {error}");
    }
    barrier(&mut conn, "still-open").await;
    server.stop().await;
}

#[tokio::test]
async fn the_rate_limit_answers_once_per_window_and_keeps_the_connection() {
    let server = start(|s| {
        s.rate_limit = 5;
        s.performance_interval_ms = 1000;
    })
    .await;
    let mut conn = authed(&server, "/ws/status").await;
    for i in 0..8 {
        assert!(
            conn.send_json(&json!({"type": "ping", "id": format!("p{i}")}))
                .await
        );
    }
    let mut pongs = 0;
    let error = loop {
        let message = next_json(&mut conn).await;
        match message["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => break message,
            _ => {}
        }
    };
    assert_eq!(pongs, 5);
    assert_eq!(error["data"]["code"], "RATE_LIMIT_EXCEEDED");
    let retry = error["data"]["retry_after"].as_u64().expect("an integer");
    assert!((50_000..=60_000).contains(&retry), "{retry}");
    // The two after it are dropped silently; the connection stays open.
    assert!(conn.send_ping(b"alive").await);
    loop {
        match conn.next_event(WAIT).await {
            Event::Pong => break,
            Event::Json { value, .. } => assert_eq!(value["type"], "status", "{value}"),
            other => panic!("{other:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn an_idle_client_is_closed_with_1000_heartbeat_timeout() {
    let server = start(|s| s.idle_timeout_s = 0.4).await;
    let mut conn = authed(&server, "/ws/alerts").await;
    let started = std::time::Instant::now();
    let (_, close) = until_close(&mut conn).await;
    assert_eq!(close, Some((1000, "heartbeat timeout".to_owned())));
    assert!(started.elapsed() >= Duration::from_millis(350));
    server.stop().await;
}

#[tokio::test]
async fn over_the_limit_gets_connection_failed_and_1013_and_shutdown_1001() {
    let server = start(|s| s.max_connections = 1).await;
    let mut first = authed(&server, "/ws/status").await;
    let mut second = connect(&server, "/ws/status", &[BEARER]).await;
    let (messages, close) = until_close(&mut second).await;
    assert_eq!(messages[0]["data"]["code"], "CONNECTION_FAILED");
    assert_eq!(messages[0]["data"]["retry_after"], 5000);
    assert_eq!(close.map(|c| c.0), Some(1013));
    let stopping = tokio::spawn(server.stop());
    let (_, close) = until_close(&mut first).await;
    assert_eq!(close.map(|c| c.0), Some(1001));
    stopping.await.expect("stops");
}
