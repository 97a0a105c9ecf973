//! No log level prints a password or token: the real binary at `--log trace`, authenticating
//! with a wrong and then the right secret, over real sockets.

use futures_util::{SinkExt, StreamExt};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::Message;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub(crate) async fn wait_ready(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not listen on {port}");
}

/// Runs the binary with `args` at `--log trace`, lets `session` talk to it, stops it and
/// returns everything it logged.
pub(crate) async fn logged_during<F: std::future::Future<Output = ()>>(
    args: &[&str],
    session: F,
) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(args)
        .args(["--log", "trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    let (mut out, mut err) = (
        child.stdout.take().expect("stdout"),
        child.stderr.take().expect("stderr"),
    );
    let collect = tokio::spawn(async move {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let _ = tokio::join!(out.read_to_end(&mut a), err.read_to_end(&mut b));
        a.extend(b);
        String::from_utf8_lossy(&a).into_owned()
    });
    session.await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    collect.await.expect("logs collected")
}

#[tokio::test]
async fn trace_logs_never_show_the_nhem_password() {
    let (http, ws) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("temp dir");
    let (http_s, ws_s) = (http.to_string(), ws.to_string());
    let data_dir = dir.path().to_string_lossy().into_owned();
    let args = [
        "--http-port",
        &http_s,
        "--socket-port",
        &ws_s,
        "--data-dir",
        &data_dir,
        "--password",
        "Right-Pass-7731",
    ];
    let logs = logged_during(&args, async {
        wait_ready(ws).await;
        for password in ["Wrong-Pass-5519", "Right-Pass-7731"] {
            let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{ws}/"))
                .await
                .expect("connects");
            let auth = format!(r#"{{"type":"auth","password":"{password}"}}"#);
            socket.send(Message::Text(auth.into())).await.expect("sent");
            let answer = socket.next().await.expect("an answer").expect("a frame");
            assert!(answer.to_text().expect("text").contains("auth_response"));
        }
    })
    .await;
    assert!(logs.contains("NHEM reference server listening"), "{logs}");
    for secret in ["Wrong-Pass-5519", "Right-Pass-7731"] {
        assert!(!logs.contains(secret), "{secret} was logged:\n{logs}");
    }
}

#[tokio::test]
async fn trace_logs_never_show_the_ecg_token() {
    let port = free_port();
    let port_s = port.to_string();
    let args = [
        "ecg",
        "--port",
        &port_s,
        "--token",
        "Right-Token-2210",
        "--interval-ms",
        "20",
    ];
    let logs = logged_during(&args, async {
        wait_ready(port).await;
        for token in ["Wrong-Token-8841", "Right-Token-2210"] {
            let url = format!("ws://127.0.0.1:{port}/ws/ecg/stream?token={token}");
            let (mut socket, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connects");
            socket
                .send(Message::Text(
                    format!(r#"{{"type":"start_stream","user_id":"{token}"}}"#).into(),
                ))
                .await
                .ok();
            let _ = tokio::time::timeout(Duration::from_millis(200), socket.next()).await;
        }
    })
    .await;
    assert!(logs.contains("ECG reference server listening"), "{logs}");
    for secret in ["Wrong-Token-8841", "Right-Token-2210"] {
        assert!(!logs.contains(secret), "{secret} was logged:\n{logs}");
    }
}
