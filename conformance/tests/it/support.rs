//! Starting reference servers (optionally with faults) and running the suite against them.

use conformance::cases::Ctx;
use conformance::nhem as suite;
use conformance::outcome::{CaseResult, Outcome};
use protocol::schema::SchemaSet;
use reference_server::nhem::faults::Fault;
use reference_server::nhem::{RunningServer, Settings};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

pub static SCHEMAS: LazyLock<Arc<SchemaSet>> =
    LazyLock::new(|| Arc::new(SchemaSet::load(&protocol::nhem::NHEM).expect("schemas compile")));

/// Runs the whole server suite against a reference server started with `faults`.
pub async fn run_suite_against(faults: &[Fault]) -> Vec<CaseResult> {
    run_suite_with(|settings| settings.faults = faults.to_vec()).await
}

/// Runs the whole server suite against a reference server with settings changed by `change`
/// (with `tls` set, over https:// and wss://, the host named `localhost`).
pub async fn run_suite_with(change: impl FnOnce(&mut Settings)) -> Vec<CaseResult> {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::for_tests(data_dir.path().to_owned());
    settings.auth_timeout_ms = 1000;
    // The suite posts a dozen changes in a row; rate limiting has its own server test.
    settings.control_rate_per_s = 1000.0;
    change(&mut settings);
    let (http, ws) = match settings.tls.tls_cert {
        Some(_) => ("https", "wss"),
        None => ("http", "ws"),
    };
    let server = RunningServer::start(settings).await.expect("server starts");
    let ctx = Ctx {
        ws_url: format!("{ws}://localhost:{}/", server.ws_addr.port()),
        http_url: Some(format!("{http}://localhost:{}", server.http_addr.port())),
        secret: "31415".into(),
        schemas: SCHEMAS.clone(),
        window: Duration::from_secs(2),
        mutate: true,
        auth_timeout: Duration::from_secs(1),
        idle_timeout: None,
        declared: Default::default(),
        period: None,
    };
    let results = suite::run(&ctx).await;
    server.stop().await;
    results
}

pub fn ids_with(results: &[CaseResult], outcome: Outcome) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.id.clone())
        .collect()
}

pub fn describe(results: &[CaseResult]) -> String {
    results
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| {
            format!(
                "{} {}: {}",
                r.outcome.as_str(),
                r.id,
                r.evidence
                    .first()
                    .map(|e| e.note.as_str())
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Panics, naming the others, if any case failed.
pub fn assert_none_failed(results: &[CaseResult]) {
    let failed = ids_with(results, Outcome::Fail);
    assert!(failed.is_empty(), "{failed:?}\n{}", describe(results));
}

/// Authenticates an NHEM connection with the default password and reads 20 broadcast frames.
pub async fn auth_and_read_frames(conn: &mut conformance::wire::WsConn) {
    conn.send_json(&serde_json::json!({"type": "auth", "password": "31415"}))
        .await;
    assert_eq!(
        conn.next_of("auth_response", Duration::from_secs(3))
            .await
            .expect("auth_response")["success"],
        true
    );
    for _ in 0..20 {
        conn.next_of("data", Duration::from_secs(3))
            .await
            .expect("frames flow through the proxy");
    }
}
