//! The binary's log lines: no ANSI colour codes when the output is not a terminal (a file, a
//! pipe, a container's log), and one JSON object per line with `--log-format json`.

use crate::secrets::logged_during;

/// Starts the NHEM binary with `extra` flags, lets one WebSocket client connect and leave.
async fn nhem_logs(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_string_lossy().into_owned();
    let mut args = vec![
        "--http-port",
        "0",
        "--socket-port",
        "0",
        "--data-dir",
        &data,
    ];
    args.extend_from_slice(extra);
    logged_during(&args, |ports| async move {
        let ws = ports[1];
        let _ = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{ws}/")).await;
    })
    .await
}

#[tokio::test]
async fn piped_logs_carry_no_colour_codes() {
    let logs = nhem_logs(&[]).await;
    assert!(logs.contains("INFO"), "nothing was logged: {logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escape codes in piped logs: {logs:?}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let logs = nhem_logs(&["--log-format", "json"]).await;
    let mut messages = Vec::new();
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        assert!(value["level"].is_string(), "{line}");
        assert!(value["timestamp"].is_string(), "{line}");
        assert!(value["fields"].is_object(), "{line}");
        messages.push(
            value["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert!(
        messages.iter().any(|m| m.contains("listening")),
        "the startup line is missing: {logs}"
    );
}
