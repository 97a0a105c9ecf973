//! The RetroBoard suite against `reference-server retroboard`, over both Engine.IO transports:
//! a correct server passes every case (fault by fault against a broken server is
//! `scripts/retroboard-peer`, on the Flask-SocketIO peer).

use crate::support::{describe, ids_with};
use conformance::cases::Ctx;
use conformance::outcome::{CaseResult, Outcome};
use protocol::schema::SchemaSet;
use reference_server::retroboard::{RetroBoardSettings, RunningRetroBoardServer};
use std::sync::Arc;
use std::time::Duration;

async fn run_retroboard_suite(change: impl FnOnce(&mut RetroBoardSettings)) -> Vec<CaseResult> {
    let mut settings = RetroBoardSettings::for_tests();
    // Short Engine.IO timers, so that the ping cases run (the defaults would take 85 s).
    settings.ping_interval_s = 1.0;
    settings.ping_timeout_s = 2.0;
    change(&mut settings);
    let server = RunningRetroBoardServer::start(settings)
        .await
        .expect("server starts");
    let ctx = Ctx {
        ws_url: server.ws_base(),
        http_url: Some(server.http_base()),
        secret: String::new(),
        schemas: Arc::new(
            SchemaSet::load(&protocol::retroboard::RETROBOARD).expect("schemas compile"),
        ),
        window: Duration::from_millis(500),
        mutate: true,
        auth_timeout: Duration::from_secs(1),
        idle_timeout: None,
        declared: Default::default(),
        period: None,
    };
    let results = conformance::retroboard::run(&ctx).await;
    server.stop().await;
    results
}

#[tokio::test]
async fn the_reference_server_passes_every_case_on_both_transports() {
    let results = run_retroboard_suite(|_| {}).await;
    assert_eq!(results.len(), conformance::retroboard::CASES.len());
    let not_passed: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| r.id.as_str())
        .collect();
    // The open packets announce the shortened timers, which the cases judge non-strict.
    assert_eq!(
        not_passed,
        [
            "retroboard.eio.open.polling",
            "retroboard.eio.open.websocket"
        ],
        "{}",
        describe(&results)
    );
    assert_eq!(
        ids_with(&results, Outcome::NonStrict).len(),
        2,
        "{}",
        describe(&results)
    );
}

#[tokio::test]
async fn without_mutation_the_command_cases_are_skipped_not_failed() {
    let mut settings = RetroBoardSettings::for_tests();
    settings.ping_interval_s = 1.0;
    settings.ping_timeout_s = 2.0;
    let server = RunningRetroBoardServer::start(settings)
        .await
        .expect("server starts");
    let ctx = Ctx {
        ws_url: server.ws_base(),
        http_url: None,
        secret: String::new(),
        schemas: Arc::new(
            SchemaSet::load(&protocol::retroboard::RETROBOARD).expect("schemas compile"),
        ),
        window: Duration::from_millis(500),
        mutate: false,
        auth_timeout: Duration::from_secs(1),
        idle_timeout: None,
        declared: Default::default(),
        period: None,
    };
    let results = conformance::retroboard::run(&ctx).await;
    server.stop().await;
    let informational = ids_with(&results, Outcome::Informational);
    assert_eq!(informational.len(), 8, "{}", describe(&results));
    assert!(informational.iter().all(|id| id.contains(".rest.")
        || id.ends_with("state.resync")
        || id.ends_with("carousel.rotation")));
    assert!(
        ids_with(&results, Outcome::Fail).is_empty(),
        "{}",
        describe(&results)
    );
}
