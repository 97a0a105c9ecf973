//! The proxy forwards and validates both directions; record writes stable, valid transcripts.

use crate::support::SCHEMAS;
use conformance::nhem::record::record;
use conformance::outcome::{CaseResult, Outcome};
use conformance::proxy::{run_on, ProxyConfig};
use conformance::validate::check_message;
use conformance::wire::WsConn;
use reference_server::nhem::faults::Fault;
use reference_server::nhem::{RunningServer, Settings};
use serde_json::json;
use std::time::Duration;

async fn server(faults: &[Fault]) -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::for_tests(dir.path().to_owned());
    settings.faults = faults.to_vec();
    (
        RunningServer::start(settings).await.expect("server starts"),
        dir,
    )
}

fn outcome(cases: &[CaseResult], id: &str) -> Outcome {
    cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .outcome
}

/// A proxy in front of a server, one short client session through it; the proxy's verdicts.
async fn session_through_proxy(faults: &[Fault], bad_client_message: bool) -> Vec<CaseResult> {
    let (server, _dir) = server(faults).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = ProxyConfig {
        listen: addr,
        upstream: format!("ws://{}/", server.ws_addr),
        duration: Duration::from_secs(2),
        tls: Default::default(),
    };
    let proxy = tokio::spawn(run_on(listener, config, SCHEMAS.clone()));
    let mut conn = WsConn::connect(&format!("ws://{addr}/"), Duration::from_secs(3))
        .await
        .expect("connect through the proxy");
    crate::support::auth_and_read_frames(&mut conn).await;
    if bad_client_message {
        conn.send_json(&json!({"type": "ping", "id": 7})).await;
        conn.next_of("error", Duration::from_secs(3))
            .await
            .expect("the server's error comes back");
    }
    conn.close().await;
    let cases = proxy.await.expect("proxy finishes by itself");
    server.stop().await;
    cases
}

#[tokio::test]
async fn proxy_forwards_and_finds_bad_client_messages() {
    let cases = session_through_proxy(&[], true).await;
    assert_eq!(outcome(&cases, "nhem.proxy.upstream"), Outcome::Pass);
    assert_eq!(
        outcome(&cases, "nhem.proxy.server_messages_valid"),
        Outcome::Pass
    );
    assert_eq!(
        outcome(&cases, "nhem.proxy.client_messages_valid"),
        Outcome::Fail
    );
    let evidence = &cases
        .iter()
        .find(|c| c.id == "nhem.proxy.client_messages_valid")
        .expect("case")
        .evidence;
    assert_eq!(evidence[0].rule.as_deref(), Some("type:id"));
    let overhead = cases
        .iter()
        .find(|c| c.id == "nhem.proxy.overhead")
        .expect("case");
    assert!(overhead.evidence[0]
        .measured
        .as_ref()
        .is_some_and(|m| m.value > 0.0));
}

#[tokio::test]
async fn proxy_finds_bad_server_messages() {
    let cases = session_through_proxy(&[Fault::MissingField], false).await;
    assert_eq!(
        outcome(&cases, "nhem.proxy.server_messages_valid"),
        Outcome::Fail
    );
    assert_eq!(
        outcome(&cases, "nhem.proxy.client_messages_valid"),
        Outcome::Pass
    );
}

#[tokio::test]
async fn record_writes_the_same_valid_transcript_every_time() {
    let (server, _dir) = server(&[]).await;
    let url = format!("ws://{}/", server.ws_addr);
    let first = record(&url, "31415", 3).await.expect("recorded");
    let second = record(&url, "31415", 3).await.expect("recorded again");
    server.stop().await;
    assert_eq!(
        first.len(),
        10,
        "auth, auth_response, status, 3 frames, ping, pong, get_status, status"
    );
    for line in &first {
        let findings = check_message(&SCHEMAS, &line["message"], None, line["direction"].as_str());
        assert!(findings.is_empty(), "{line}: {findings:?}");
    }
    // Volatile values are redacted and the session is scripted, so two runs match.
    assert_eq!(first, second, "transcripts are stable across runs");
    assert!(
        !serde_json::to_string(&first)
            .expect("json")
            .contains("31415"),
        "the password is redacted"
    );
}
