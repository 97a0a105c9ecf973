//! The ECG suite against `reference-server ecg`: a correct server passes, and each injected
//! fault fails exactly the case that judges its rule.

use crate::support::{describe, ids_with};
use conformance::cases::Ctx;
use conformance::outcome::{CaseResult, Outcome};
use protocol::schema::SchemaSet;
use reference_server::ecg::{EcgFault, EcgSettings, RunningEcgServer};
use std::sync::Arc;
use std::time::Duration;

/// A short interval keeps the 50-interval cadence window near one second.
const INTERVAL_MS: u64 = 20;

async fn run_ecg_suite(faults: &[EcgFault]) -> Vec<CaseResult> {
    let mut settings = EcgSettings::for_tests();
    settings.interval_ms = INTERVAL_MS;
    settings.token = "test-token".into();
    settings.faults = faults.to_vec();
    let server = RunningEcgServer::start(settings)
        .await
        .expect("server starts");
    let ctx = Ctx {
        ws_url: server.ws_base(),
        http_url: None,
        secret: "test-token".into(),
        schemas: Arc::new(SchemaSet::load(&protocol::ecg::ECG).expect("schemas compile")),
        window: Duration::from_millis(500),
        mutate: false,
        auth_timeout: Duration::from_secs(1),
        idle_timeout: None,
        declared: Default::default(),
        period: Some(Duration::from_millis(INTERVAL_MS)),
    };
    let results = conformance::ecg::run(&ctx).await;
    server.stop().await;
    results
}

#[tokio::test]
async fn the_reference_server_passes_every_case() {
    let results = run_ecg_suite(&[]).await;
    assert_eq!(results.len(), conformance::ecg::CASES.len());
    let not_passed: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        not_passed,
        ["ecg.ws.stream.first_frame", "ecg.ws.stream.points_stable"],
        "only the informational cases may be other than pass\n{}",
        describe(&results)
    );
}

async fn caught_by(fault: EcgFault, expected: &str) {
    let results = run_ecg_suite(&[fault]).await;
    assert_eq!(
        ids_with(&results, Outcome::Fail),
        vec![expected.to_owned()],
        "{fault:?} should fail exactly {expected}\n{}",
        describe(&results)
    );
}

#[tokio::test]
async fn an_extra_member_fails_the_schema_case() {
    caught_by(EcgFault::FrameExtraField, "ecg.ws.stream.schema").await;
}

#[tokio::test]
async fn a_repeated_timestamp_fails_the_timestamp_case() {
    caught_by(EcgFault::TimestampRepeats, "ecg.ws.stream.timestamp").await;
}

#[tokio::test]
async fn a_slow_stream_fails_the_cadence_case() {
    caught_by(EcgFault::SlowCadence, "ecg.ws.stream.cadence").await;
}

#[tokio::test]
async fn a_wrong_token_accepted_fails_the_bad_token_case() {
    caught_by(EcgFault::AcceptWrongToken, "ecg.ws.auth.bad_token").await;
}

#[tokio::test]
async fn a_reply_to_the_client_fails_the_ignored_case() {
    caught_by(EcgFault::ReplyToClient, "ecg.ws.client_message_ignored").await;
}

/// `record`, `validate` and `proxy` speak ECG: frames have no `type`, so the profile
/// classifies them by direction.
#[tokio::test]
async fn record_validate_and_proxy_work_for_ecg() {
    use conformance::proxy::{run_on, ProxyConfig};
    use conformance::validate::check_message;
    use conformance::wire::{Event, WsConn};

    let mut settings = EcgSettings::for_tests();
    settings.interval_ms = INTERVAL_MS;
    let server = RunningEcgServer::start(settings)
        .await
        .expect("server starts");
    let schemas = Arc::new(SchemaSet::load(&protocol::ecg::ECG).expect("schemas compile"));

    let first = conformance::ecg::record(&server.ws_base(), "ecg-demo-token", 3)
        .await
        .expect("records");
    let again = conformance::ecg::record(&server.ws_base(), "ecg-demo-token", 3)
        .await
        .expect("records");
    assert_eq!(first.len(), 4, "start_stream and three frames");
    assert_eq!(first, again, "redacted transcripts are the same run to run");
    assert_eq!(
        first[1]["message"]["timestamp"],
        conformance::record::REDACTED_TIMESTAMP
    );
    for line in &first {
        let findings = check_message(&schemas, &line["message"], None, line["direction"].as_str());
        assert!(findings.is_empty(), "{line}: {findings:?}");
    }
    // A frame sent by a client is refused in the words of the profile.
    let wrong_way = check_message(&schemas, &first[1]["message"], None, Some("c2s"));
    assert_eq!(wrong_way[0].0, "required:type");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = ProxyConfig {
        listen: addr,
        upstream: format!("{}/ws/ecg/stream?token=ecg-demo-token", server.ws_base()),
        duration: Duration::from_secs(1),
        tls: Default::default(),
    };
    let proxy = tokio::spawn(run_on(listener, config, schemas));
    let mut conn = WsConn::connect(&format!("ws://{addr}/"), Duration::from_secs(3))
        .await
        .expect("connect through the proxy");
    conn.send_json(&serde_json::json!({"type": "start_stream", "user_id": "7"}))
        .await;
    for _ in 0..5 {
        assert!(matches!(
            conn.next_event(Duration::from_secs(2)).await,
            Event::Json { .. }
        ));
    }
    conn.close().await;
    let cases = proxy.await.expect("proxy ends by itself");
    server.stop().await;
    let outcome = |id: &str| cases.iter().find(|c| c.id == id).map(|c| c.outcome);
    assert_eq!(outcome("ecg.proxy.upstream"), Some(Outcome::Pass));
    assert_eq!(
        outcome("ecg.proxy.server_messages_valid"),
        Some(Outcome::Pass)
    );
    assert_eq!(
        outcome("ecg.proxy.client_messages_valid"),
        Some(Outcome::Pass)
    );
}
