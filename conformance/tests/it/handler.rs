//! The handler suite against `reference-server handler`: with auth on and every limit
//! declared, the reference server passes all 23 cases; with the seed's defaults (no token,
//! nothing declared) the cases that need a declaration say so and nothing fails. Faults are
//! proven on an independent Node server (`scripts/handler-peer`).

use crate::support::describe;
use conformance::cases::{Ctx, Declared};
use conformance::outcome::{CaseResult, Outcome};
use protocol::schema::SchemaSet;
use reference_server::handler::{HandlerSettings, RunningHandlerServer};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "suite-token";

async fn run_suite(
    adjust: impl FnOnce(&mut HandlerSettings),
    secret: &str,
    declared: Declared,
) -> Vec<CaseResult> {
    let mut settings = HandlerSettings::for_tests();
    adjust(&mut settings);
    let server = RunningHandlerServer::start(settings)
        .await
        .expect("server starts");
    let ctx = Ctx {
        ws_url: format!("{}/", server.ws_base()),
        http_url: None,
        secret: secret.into(),
        schemas: Arc::new(SchemaSet::load(&protocol::handler::HANDLER).expect("schemas")),
        window: Duration::from_secs(1),
        mutate: false,
        auth_timeout: Duration::from_secs(1),
        period: None,
        idle_timeout: None,
        declared,
    };
    let results = conformance::handler::run(&ctx).await;
    server.stop().await;
    results
}

fn outcomes(results: &[CaseResult], outcome: Outcome) -> Vec<&str> {
    results
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.id.as_str())
        .collect()
}

#[tokio::test]
async fn the_reference_server_passes_every_case_with_auth_and_declared_limits() {
    let results = run_suite(
        |s| {
            s.auth_token = Some(TOKEN.into());
            s.heartbeat_interval_ms = 400;
            s.max_connections = 3;
            s.max_payload = 64 * 1024;
            s.required_fields = vec!["sensor_id".into()];
        },
        TOKEN,
        Declared {
            heartbeat_interval: Some(Duration::from_millis(400)),
            max_connections: Some(3),
            max_payload: Some(64 * 1024),
            required_field: Some("sensor_id".into()),
        },
    )
    .await;
    assert_eq!(results.len(), conformance::handler::CASES.len());
    assert_eq!(
        outcomes(&results, Outcome::Pass).len(),
        results.len(),
        "{}",
        describe(&results)
    );
}

#[tokio::test]
async fn with_the_seeds_defaults_undeclared_cases_are_informational_and_none_fails() {
    let results = run_suite(
        |s| s.max_payload = 64 * 1024,
        "",
        Declared {
            max_payload: Some(64 * 1024),
            ..Declared::default()
        },
    )
    .await;
    assert!(
        outcomes(&results, Outcome::Fail).is_empty(),
        "{}",
        describe(&results)
    );
    let mut informational = outcomes(&results, Outcome::Informational);
    informational.sort_unstable();
    assert_eq!(
        informational,
        [
            "handler.ws.auth.bad_token",
            "handler.ws.auth.data_before_auth",
            "handler.ws.data.required_fields",
            "handler.ws.heartbeat.pings",
            "handler.ws.heartbeat.timeout",
            "handler.ws.limits.connections",
        ],
        "{}",
        describe(&results)
    );
}
