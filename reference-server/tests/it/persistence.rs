//! Configuration survives restarts, `kill -9`, and interrupted writes.

use crate::support::{request, settings, TestServer};
use reference_server::nhem::store::ConfigStore;
use reference_server::nhem::RunningServer;
use std::process::{Command, Stdio};
use std::time::Duration;

const PW: (&str, &str) = ("password", "31415");

#[tokio::test]
async fn config_and_roi_survive_a_restart() {
    let t = TestServer::start().await;
    t.post_form(
        "/config",
        &[("key", "detection.refractory_ms"), ("value", "400"), PW],
    )
    .await;
    t.post_form(
        "/roi",
        &[("x1", "1"), ("y1", "2"), ("x2", "30"), ("y2", "40"), PW],
    )
    .await;
    let t = t.restart_with(|_| {}).await;
    let (_, config) = t.get("/config?section=detection").await;
    assert_eq!(config["data"]["config"]["detection"]["refractory_ms"], 400);
    let (_, roi) = t.get("/roi").await;
    assert_eq!(
        (roi["data"]["x1"].as_u64(), roi["data"]["y2"].as_u64()),
        (Some(1), Some(40))
    );
    t.stop().await;
}

#[tokio::test]
async fn a_torn_temporary_file_never_replaces_the_saved_config() {
    let t = TestServer::start().await;
    t.post_form(
        "/config",
        &[("key", "detection.threshold"), ("value", "11"), PW],
    )
    .await;
    // A crash between write and rename leaves a partial temporary file behind.
    let t = t
        .restart_with(|dir| {
            std::fs::write(
                dir.join(".config.json.tmp-99999"),
                b"{\"version\": 1, \"detec",
            )
            .expect("write")
        })
        .await;
    let (_, config) = t.get("/config?section=detection").await;
    assert_eq!(config["data"]["config"]["detection"]["threshold"], 11.0);
    t.stop().await;
}

#[tokio::test]
async fn a_corrupt_config_file_stops_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(ConfigStore::FILE_NAME), b"{oops").expect("write");
    let err = RunningServer::start(settings(&dir))
        .await
        .err()
        .expect("refuses to start");
    let message = err.to_string();
    assert!(
        message.contains("config.json") && message.contains("move it away"),
        "{message}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn config_survives_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spawn = |http: u16, ws: u16| {
        Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .args([
                "--http-port",
                &http.to_string(),
                "--socket-port",
                &ws.to_string(),
                "--log",
                "warn",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server binary starts")
    };
    let wait_ready = |addr: std::net::SocketAddr| async move {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not start listening on {addr}");
    };
    let (http, ws) = (free_port(), free_port());
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], http).into();
    let mut child = spawn(http, ws);
    wait_ready(addr).await;
    let body = b"key=detection.warmup_frames&value=42&password=31415".to_vec();
    let (status, _) = request(
        addr,
        "POST",
        "/config",
        Some(("application/x-www-form-urlencoded", body)),
    )
    .await;
    assert_eq!(status, 200);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let (http, ws) = (free_port(), free_port());
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], http).into();
    let mut child = spawn(http, ws);
    wait_ready(addr).await;
    let (_, config) = request(addr, "GET", "/config?section=detection", None).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(config["data"]["config"]["detection"]["warmup_frames"], 42);
}
