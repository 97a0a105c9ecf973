//! Every HTTP route, and the bad-input matrix of the REST API.

use crate::support::{raw_request, request, TestServer};
use serde_json::Value;

const PW: (&str, &str) = ("password", "31415");

/// Form fields, the expected HTTP status and the expected `error_code`.
type FormCase<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);

fn code(body: &Value) -> &str {
    body["error_code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn read_routes_answer_with_their_message_types() {
    let t = TestServer::start().await;
    for (path, ty) in [
        ("/health", "health"),
        ("/status", "system_status"),
        ("/config", "config"),
        ("/roi", "roi"),
    ] {
        let (status, body) = t.get(path).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (200, Some(ty)),
            "{path}: {body}"
        );
    }
    // Frames start at once; wait until there is history for count=5.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, body) = t.get("/data/realtime?count=5").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["series"].as_array().map(Vec::len), Some(5));
    let (status, body) = t.get("/config?section=detection").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["section"], "detection");
    assert!(body["data"]["config"]["detection"]["threshold"].is_number());
    t.stop().await;
}

#[tokio::test]
async fn openapi_is_served_bundled_and_metrics_as_prometheus_text() {
    let t = TestServer::start().await;
    let (status, doc) = t.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["schemas"]["realtime_data"].is_object());
    assert!(
        !doc.to_string().contains(".json#"),
        "no file references left"
    );
    let (status, metrics) = t.get("/metrics").await;
    assert_eq!(status, 200);
    let text = metrics.as_str().expect("text");
    for name in [
        "nhem_ws_clients ",
        "nhem_frames_sent_total ",
        "nhem_frames_skipped_total ",
        "nhem_broadcast_seconds_total ",
        "nhem_fps_measured ",
        "nhem_pings_sent_total ",
        "nhem_reply_overflows_total ",
        "nhem_runtime_alive_tasks ",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    t.stop().await;
}

#[tokio::test]
async fn control_changes_state_and_refuses_bad_requests() {
    let t = TestServer::start().await;
    let (status, body) = t
        .post_form("/control", &[("command", "pause_detection"), PW])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["data"]["status"].as_str(),
            body["data"]["previous_status"].as_str()
        ),
        (Some("paused"), Some("running"))
    );
    let (_, status_body) = t.get("/status").await;
    assert_eq!(status_body["data"]["status"], "paused");

    let matrix: &[FormCase] = &[
        (
            &[("command", "start_detection"), ("password", "wrong")],
            401,
            "AUTH_FAILED",
        ),
        (&[("command", "start_detection")], 401, "AUTH_REQUIRED"),
        (&[("command", "self_destruct"), PW], 400, "INVALID_COMMAND"),
        (&[PW], 400, "INVALID_COMMAND"),
    ];
    for (fields, expected_status, expected_code) in matrix {
        let (status, body) = t.post_form("/control", fields).await;
        assert_eq!(
            (status, code(&body)),
            (*expected_status, *expected_code),
            "{fields:?}: {body}"
        );
    }
    assert!(!serde_json::to_string(
        &t.post_form(
            "/control",
            &[("command", "x"), ("password", "secret-guess")]
        )
        .await
        .1
    )
    .expect("json")
    .contains("secret-guess"));

    let (status, _) = t
        .post_form("/control", &[("command", "stop_detection"), PW])
        .await;
    assert_eq!(status, 200);
    let (status, body) = t
        .post_form("/control", &[("command", "resume_detection"), PW])
        .await;
    assert_eq!((status, code(&body)), (400, "INVALID_STATE"), "{body}");
    t.stop().await;
}

#[tokio::test]
async fn realtime_count_outside_1_to_1000_is_a_400() {
    let t = TestServer::start().await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for bad in ["0", "1001", "-1", "abc", "1.5", ""] {
        let (status, body) = t.get(&format!("/data/realtime?count={bad}")).await;
        assert_eq!(
            (status, code(&body)),
            (400, "VALIDATION_ERROR"),
            "count={bad}: {body}"
        );
        assert_eq!(body["details"]["parameter"], "count");
    }
    for ok in ["1", "1000"] {
        let (status, _) = t.get(&format!("/data/realtime?count={ok}")).await;
        assert_eq!(status, 200, "count={ok}");
    }
    t.stop().await;
}

#[tokio::test]
async fn stopped_server_has_no_realtime_data_yet() {
    let t = TestServer::start_with(|s| s.start_stopped = true).await;
    let (status, body) = t.get("/data/realtime").await;
    assert_eq!(
        (status, code(&body)),
        (503, "SERVICE_UNAVAILABLE"),
        "{body}"
    );
    t.stop().await;
}

#[tokio::test]
async fn config_and_roi_are_validated() {
    // Many changes in a row: lift the rate limit, which has its own test.
    let t = TestServer::start_with(|s| s.control_rate_per_s = 1000.0).await;
    let (status, body) = t
        .post_form(
            "/config",
            &[("key", "detection.threshold"), ("value", "9.5"), PW],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["data"]["value"].as_f64(),
            body["data"]["previous_value"].as_f64()
        ),
        (Some(9.5), Some(4.0))
    );

    let config_matrix: &[(&str, &str, u16, &str)] = &[
        ("detection.threshold", "abc", 400, "VALIDATION_ERROR"),
        ("detection.threshold", "300", 400, "VALIDATION_ERROR"),
        ("detection.hysteresis", "50", 400, "VALIDATION_ERROR"),
        ("detection.refractory_ms", "1.5", 400, "VALIDATION_ERROR"),
        ("detection.nope", "1", 404, "NOT_FOUND"),
        ("detection.eval", "1", 400, "VALIDATION_ERROR"),
        ("detection.__import__", "1", 400, "VALIDATION_ERROR"),
        ("broadcast.fps", "30", 400, "VALIDATION_ERROR"),
    ];
    for (key, value, expected_status, expected_code) in config_matrix {
        let (status, body) = t
            .post_form("/config", &[("key", key), ("value", value), PW])
            .await;
        assert_eq!(
            (status, code(&body)),
            (*expected_status, *expected_code),
            "{key}={value}: {body}"
        );
    }
    let (status, body) = t.get("/config?section=nope").await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));

    let (status, body) = t
        .post_form(
            "/roi",
            &[("x1", "10"), ("y1", "20"), ("x2", "74"), ("y2", "84"), PW],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["previous"]["x1"], 288);
    let roi_matrix: &[[&str; 4]] = &[
        ["10", "20", "10", "84"],  // empty
        ["50", "20", "10", "84"],  // inverted
        ["0", "0", "641", "100"],  // outside the 640-wide frame
        ["-1", "0", "10", "10"],   // negative
        ["a", "0", "10", "10"],    // not a number
        ["0", "0", "10001", "10"], // beyond the seed's bounds
    ];
    for [x1, y1, x2, y2] in roi_matrix {
        let (status, body) = t
            .post_form(
                "/roi",
                &[("x1", x1), ("y1", y1), ("x2", x2), ("y2", y2), PW],
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (400, "VALIDATION_ERROR"),
            "{x1},{y1},{x2},{y2}: {body}"
        );
    }
    let (status, body) = t
        .post_form("/roi", &[("x1", "1"), ("y1", "1"), ("x2", "5"), PW])
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "VALIDATION_ERROR"),
        "missing y2: {body}"
    );
    t.stop().await;
}

#[tokio::test]
async fn unknown_routes_methods_oversize_bodies_and_floods_are_refused() {
    let t = TestServer::start_with(|s| s.control_rate_per_s = 2.0).await;
    let (status, body) = t.get("/nope").await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));
    let reply = raw_request(t.http(), "DELETE", "/roi", None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply
            .headers
            .get("allow")
            .map(|v| v.to_str().unwrap_or_default()),
        Some("GET, POST")
    );

    let big = format!("password=31415&command={}", "x".repeat(20_000));
    let (status, body) = request(
        t.http(),
        "POST",
        "/control",
        Some(("application/x-www-form-urlencoded", big.into_bytes())),
    )
    .await;
    assert_eq!((status, code(&body)), (413, "PAYLOAD_TOO_LARGE"), "{body}");

    // Burst of 4 at 2/s (the oversize request above used one token), then 429.
    let mut last = (0, Value::Null);
    for _ in 0..6 {
        last = t
            .post_form("/control", &[("command", "start_detection"), PW])
            .await;
    }
    assert_eq!((last.0, code(&last.1)), (429, "RATE_LIMITED"), "{}", last.1);
    assert!(last.1["retry_after"].as_f64().is_some_and(|s| s > 0.0));
    let reply = raw_request(
        t.http(),
        "POST",
        "/control",
        Some((
            "application/x-www-form-urlencoded",
            b"command=start_detection&password=31415".to_vec(),
        )),
    )
    .await;
    assert!(reply.headers.get("retry-after").is_some());
    t.stop().await;
}

/// A form field named twice is refused: the first used to count, the JSON body's last.
#[tokio::test]
async fn a_field_named_twice_is_refused_in_forms_queries_and_json() {
    let t = TestServer::start().await;
    let (status, body) = t
        .post_form(
            "/control",
            &[
                ("command", "pause_detection"),
                ("password", "31415"),
                ("password", "wrong"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("VALIDATION_ERROR")),
        "{body}"
    );
    let (status, body) = t.get("/data/realtime?count=1&count=2").await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("VALIDATION_ERROR")),
        "{body}"
    );
    let (status, body) = request(
        t.http(),
        "POST",
        "/control",
        Some((
            "application/json",
            br#"{"command":"pause_detection","password":"wrong","password":"31415"}"#.to_vec(),
        )),
    )
    .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("VALIDATION_ERROR")),
        "{body}"
    );
    // Nothing was paused by any of them.
    assert_eq!(t.get("/status").await.1["data"]["status"], "running");
    t.stop().await;
}

/// `GET /` is the live dashboard: one HTML page, served by the binary, that knows the
/// WebSocket's port and uses only this server (no external script, style or font).
#[tokio::test]
async fn the_root_serves_the_dashboard_with_the_websocket_port() {
    let t = TestServer::start().await;
    let reply = crate::support::raw_request(t.http(), "GET", "/", None).await;
    assert_eq!(reply.status, 200);
    let content_type = reply.headers.get("content-type").expect("a content type");
    assert_eq!(content_type.to_str().ok(), Some("text/html; charset=utf-8"));
    let Value::String(page) = reply.body else {
        panic!("an HTML body")
    };
    let port = t.server.ws_addr.port();
    assert!(
        page.contains(&format!("const WS_PORT = {port};")),
        "the port is filled in"
    );
    assert!(!page.contains("{{"), "no placeholder left");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from elsewhere"
    );
    let (status, text) = t.get("/routes").await;
    assert_eq!(status, 200);
    assert!(text.as_str().is_some_and(|t| t.contains("/health")));
    t.stop().await;
}
