//! No log level prints a password or token: the real binary at `--log trace`, authenticating
//! with a wrong and then the right secret, over real sockets.

use futures_util::{SinkExt, StreamExt};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long the binary may take to log that it listens (a cold, loaded CI machine).
const STARTUP_WITHIN: Duration = Duration::from_secs(60);

/// Forwards every line of `pipe` to `lines`.
fn forward_lines(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    lines: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
}

/// The loopback ports a startup line names, in order, each once.
fn ports_in(line: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    for (i, _) in line.match_indices("127.0.0.1:") {
        let digits: String = line[i + "127.0.0.1:".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(port) = digits.parse::<u16>() {
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    ports
}

/// Runs the binary with `args` (whose ports are 0) at `--log trace`, waits for its startup
/// line, lets `session` talk to it on the ports that line names (in order: NHEM's HTTP then
/// WebSocket port), stops it and returns everything it logged. Port 0 and the logged port,
/// not a port picked beforehand: another test could take a picked port before the server
/// binds it.
pub(crate) async fn logged_during<F, S>(args: &[&str], session: S) -> String
where
    S: FnOnce(Vec<u16>) -> F,
    F: std::future::Future<Output = ()>,
{
    let mut child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(args)
        .args(["--log", "trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    let (sender, mut lines) = mpsc::unbounded_channel();
    forward_lines(child.stdout.take().expect("stdout"), sender.clone());
    forward_lines(child.stderr.take().expect("stderr"), sender);
    let mut logs = String::new();
    let ports = tokio::time::timeout(STARTUP_WITHIN, async {
        while let Some(line) = lines.recv().await {
            logs.push_str(&line);
            logs.push('\n');
            let ports = ports_in(&line);
            if line.contains("listening") && !ports.is_empty() {
                return ports;
            }
        }
        Vec::new()
    })
    .await
    .unwrap_or_default();
    assert!(
        !ports.is_empty(),
        "the server logged no listening line with its ports:\n{logs}"
    );
    session(ports).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    while let Some(line) = lines.recv().await {
        logs.push_str(&line);
        logs.push('\n');
    }
    logs
}

#[tokio::test]
async fn trace_logs_never_show_the_nhem_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_string_lossy().into_owned();
    let args = [
        "--http-port",
        "0",
        "--socket-port",
        "0",
        "--data-dir",
        &data_dir,
        "--password",
        "Right-Pass-7731",
    ];
    let logs = logged_during(&args, |ports| async move {
        let ws = ports[1];
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
    let args = [
        "ecg",
        "--port",
        "0",
        "--token",
        "Right-Token-2210",
        "--interval-ms",
        "20",
    ];
    let logs = logged_during(&args, |ports| async move {
        let port = ports[0];
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
