//! The monitor suite against `reference-server monitor`: a correct server passes every case,
//! and each injected fault fails exactly the case that judges its rule.

use crate::support::{describe, ids_with};
use conformance::cases::Ctx;
use conformance::outcome::{CaseResult, Outcome};
use protocol::schema::SchemaSet;
use reference_server::monitor::{MonitorFault, MonitorSettings, RunningMonitorServer};
use std::sync::Arc;
use std::time::Duration;

const INTERVAL_MS: u64 = 50;
const KEY: &str = "suite-key";

/// Fast cadences: a 2 s cycle puts a raised, escalated and resolved CPU alert in every window.
async fn run_monitor_suite(faults: &[MonitorFault], idle: Option<Duration>) -> Vec<CaseResult> {
    let mut settings = MonitorSettings::for_tests();
    settings.api_keys = vec![KEY.into()];
    settings.performance_interval_ms = INTERVAL_MS;
    settings.cycle_s = 2.0;
    settings.status_interval_s = 0.3;
    settings.custom_interval_s = 0.25;
    if let Some(idle) = idle {
        settings.idle_timeout_s = idle.as_secs_f64();
    }
    settings.faults = faults.to_vec();
    let server = RunningMonitorServer::start(settings)
        .await
        .expect("server starts");
    let ctx = Ctx {
        ws_url: server.ws_base(),
        http_url: None,
        secret: KEY.into(),
        schemas: Arc::new(SchemaSet::load(&protocol::monitor::MONITOR).expect("schemas")),
        window: Duration::from_millis(2500),
        mutate: false,
        auth_timeout: Duration::from_secs(1),
        period: Some(Duration::from_millis(INTERVAL_MS)),
        idle_timeout: idle,
        declared: Default::default(),
    };
    let results = conformance::monitor::run(&ctx).await;
    server.stop().await;
    results
}

#[tokio::test]
async fn the_reference_server_passes_every_case() {
    // The longest silence of the other cases is the 4 s capture: the idle timeout is above it.
    let results = run_monitor_suite(&[], Some(Duration::from_secs(5))).await;
    assert_eq!(results.len(), conformance::monitor::CASES.len());
    let not_passed: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| r.id.as_str())
        .collect();
    assert!(not_passed.is_empty(), "{}", describe(&results));
}

async fn caught_by(fault: MonitorFault, expected: &str) {
    let results = run_monitor_suite(&[fault], None).await;
    assert_eq!(
        ids_with(&results, Outcome::Fail),
        vec![expected.to_owned()],
        "{fault:?} should fail exactly {expected}\n{}",
        describe(&results)
    );
}

#[tokio::test]
async fn a_wrong_key_accepted_fails_the_bad_key_case() {
    caught_by(MonitorFault::AcceptWrongKey, "monitor.ws.auth.bad_key").await;
}

#[tokio::test]
async fn an_ignored_client_id_fails_the_greeting() {
    caught_by(
        MonitorFault::IgnoreClientId,
        "monitor.ws.connection.greeting",
    )
    .await;
}

#[tokio::test]
async fn a_repeated_pong_id_fails_unique_ids() {
    caught_by(MonitorFault::RepeatPongId, "monitor.ws.envelope.unique_ids").await;
}

#[tokio::test]
async fn an_extra_status_member_fails_the_schema_case() {
    caught_by(MonitorFault::StatusExtraField, "monitor.ws.envelope.schema").await;
}

#[tokio::test]
async fn no_pong_fails_the_ping_case() {
    caught_by(MonitorFault::NoPong, "monitor.ws.ping.pong").await;
}

#[tokio::test]
async fn alerts_on_the_performance_endpoint_fail_isolation() {
    caught_by(MonitorFault::LeakAlerts, "monitor.ws.endpoint.isolation").await;
}

#[tokio::test]
async fn ignored_filters_fail_the_filter_case() {
    caught_by(MonitorFault::IgnoreFilters, "monitor.ws.filters").await;
}

#[tokio::test]
async fn a_reraised_alert_fails_the_lifecycle() {
    caught_by(MonitorFault::ReraiseAlert, "monitor.ws.alert.lifecycle").await;
}

#[tokio::test]
async fn no_rate_limit_fails_the_rate_limit_case() {
    caught_by(MonitorFault::NoRateLimit, "monitor.ws.rate_limit").await;
}

#[tokio::test]
async fn closing_on_bad_input_fails_the_bad_input_case() {
    caught_by(MonitorFault::CloseOnBadInput, "monitor.ws.bad_input").await;
}

/// `record` writes a transcript that `validate` accepts in both directions.
#[tokio::test]
async fn a_recorded_session_validates() {
    let mut settings = MonitorSettings::for_tests();
    settings.performance_interval_ms = INTERVAL_MS;
    let server = RunningMonitorServer::start(settings)
        .await
        .expect("server starts");
    let lines = conformance::monitor::record(&server.ws_base(), "your-api-key", 3)
        .await
        .expect("records");
    server.stop().await;
    assert_eq!(
        lines.len(),
        1 + 2 + 4,
        "greeting, two sent, pong and three more"
    );
    assert_eq!(lines[0]["message"]["data"]["client_id"], "conformance-1");
    let schemas = SchemaSet::load(&protocol::monitor::MONITOR).expect("schemas");
    for line in &lines {
        let findings = conformance::validate::check_message(
            &schemas,
            &line["message"],
            None,
            line["direction"].as_str(),
        );
        assert!(findings.is_empty(), "{line}: {findings:?}");
    }
}
