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
async fn a_leftover_temporary_file_is_removed_and_the_saved_config_stands() {
    let t = TestServer::start().await;
    t.post_form(
        "/config",
        &[("key", "detection.threshold"), ("value", "11"), PW],
    )
    .await;
    // A crash between write and rename leaves a partial temporary file behind.
    let leftover = std::cell::RefCell::new(None);
    let t = t
        .restart_with(|dir| {
            let path = dir.join(".config.json.tmp-99999");
            std::fs::write(&path, b"{\"version\": 1, \"detec").expect("write");
            *leftover.borrow_mut() = Some(path);
        })
        .await;
    let leftover = leftover.into_inner().expect("written");
    assert!(!leftover.exists(), "{} was left behind", leftover.display());
    let (_, config) = t.get("/config?section=detection").await;
    assert_eq!(config["data"]["config"]["detection"]["threshold"], 11.0);
    t.stop().await;
}

/// A save takes long on a slow disk; frames must not wait for it (the save used to hold the
/// state lock that the producer takes every tick).
#[tokio::test]
async fn a_slow_disk_delays_the_change_not_the_frames() {
    let t = TestServer::start_with(|s| s.store_write_delay_ms = 1000).await;
    let mut client = t.authed_ws().await;
    client.next_of("data").await;
    let mut frames_during_save = 0;
    let (status, _) = {
        let post = t.post_form(
            "/config",
            &[("key", "detection.refractory_ms"), ("value", "321"), PW],
        );
        tokio::pin!(post);
        loop {
            tokio::select! {
                answer = &mut post => break answer,
                message = client.next_json() => if message["type"] == "data" { frames_during_save += 1 },
            }
        }
    };
    assert_eq!(status, 200);
    // ~60 frames are due during a 1 s save; a blocked producer sends none.
    assert!(
        frames_during_save >= 30,
        "{frames_during_save} frames during a 1 s save"
    );
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

fn spawn_server(dir: &std::path::Path, http: u16, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["--http-port", &http.to_string()])
        .args(["--socket-port", &free_port().to_string()])
        .args(["--log", "warn"])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server binary starts")
}

async fn wait_ready(addr: std::net::SocketAddr) {
    // Up to 30 s: a cold binary on a loaded 2-core CI machine can take seconds to bind.
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not start listening on {addr}");
}

async fn post_warmup(addr: std::net::SocketAddr, value: u32) -> u16 {
    let body = format!("key=detection.warmup_frames&value={value}&password=31415").into_bytes();
    let form = Some(("application/x-www-form-urlencoded", body));
    request(addr, "POST", "/config", form).await.0
}

/// Starts the binary on `dir`, reads `detection.warmup_frames`, and kills it.
async fn warmup_after_restart(dir: &std::path::Path) -> serde_json::Value {
    let http = free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], http).into();
    let mut child = spawn_server(dir, http, &[]);
    wait_ready(addr).await;
    let (_, config) = request(addr, "GET", "/config?section=detection", None).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    config["data"]["config"]["detection"]["warmup_frames"].clone()
}

/// An acknowledged change survives `kill -9`.
#[tokio::test]
async fn config_survives_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], http).into();
    let mut child = spawn_server(dir.path(), http, &[]);
    wait_ready(addr).await;
    assert_eq!(post_warmup(addr, 42).await, 200);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(warmup_after_restart(dir.path()).await, 42);
}

/// `kill -9` in the middle of a save (its temporary file written, not yet renamed): the
/// restart finds the previous configuration whole, and no leftover file.
#[tokio::test]
async fn kill_9_during_a_save_keeps_the_previous_config_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], http).into();
    let slow_disk = ["--store-write-delay-ms", "30000"];
    let mut child = spawn_server(dir.path(), http, &slow_disk);
    wait_ready(addr).await;
    let slow_save = tokio::spawn(post_warmup(addr, 77));
    let temp_file = || {
        std::fs::read_dir(dir.path())
            .expect("data dir")
            .flatten()
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".config.json.tmp-")
            })
    };
    let mut polls = 0;
    while !temp_file() {
        assert!(polls < 200, "no save started within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
        polls += 1;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    slow_save.abort();
    // The default (nothing was ever saved) stands: not 77, not a torn file.
    assert_eq!(warmup_after_restart(dir.path()).await, 30);
    assert!(
        !temp_file(),
        "the interrupted save's temporary file was left behind"
    );
}
