//! TLS end to end: the reference server given `--tls-cert/--tls-key` (a certificate made here
//! with rcgen), the suites run over `wss://` and `https://` trusting it as `--ca-cert` would,
//! and the proxy listening on TLS in front of a TLS upstream.
//!
//! The TLS client configuration is per process, so every test here trusts the one
//! certificate of [`CERT`] (made once); other tests in this binary use plain TCP.

use crate::support::{assert_none_failed, describe, run_suite_with};
use conformance::cases::{Ctx, Declared};
use conformance::outcome::Outcome;
use conformance::proxy::{run_on, ProxyConfig};
use conformance::wire::WsConn;
use protocol::schema::SchemaSet;
use reference_server::core::transport::self_signed;
use reference_server::core::TlsArgs;
use reference_server::handler::{HandlerSettings, RunningHandlerServer};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The server's flags and the certificate to trust, made once for this test binary.
static CERT: LazyLock<(TlsArgs, PathBuf, tempfile::TempDir)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir");
    let (args, ca) = self_signed(dir.path()).expect("a certificate");
    conformance::wire::tls::configure(Some(&ca), false).expect("the CA loads");
    (args, ca, dir)
});

fn server_tls() -> TlsArgs {
    CERT.0.clone()
}

#[tokio::test]
async fn the_handler_suite_runs_over_wss_with_a_given_ca() {
    let mut settings = HandlerSettings::for_tests();
    settings.max_payload = 64 * 1024;
    settings.tls = server_tls();
    let server = RunningHandlerServer::start(settings)
        .await
        .expect("server starts");
    assert!(server.ws_base().starts_with("wss://"));
    let url = format!("wss://localhost:{}/", server.addr.port());
    // Untrusted: the built-in roots refuse a self-signed certificate.
    let strict = conformance::wire::tls::client_config(None, false).expect("roots");
    let refused = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(strict)),
    )
    .await;
    assert!(refused.is_err_and(|e| e.to_string().to_lowercase().contains("certificate")));
    // `--insecure` takes it.
    let insecure = conformance::wire::tls::client_config(None, true).expect("a config");
    let taken = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(insecure)),
    )
    .await;
    assert!(taken.is_ok(), "{:?}", taken.err());
    // Plain ws:// to a TLS port gets no WebSocket.
    let plain = WsConn::connect(
        &format!("ws://127.0.0.1:{}/", server.addr.port()),
        Duration::from_secs(3),
    )
    .await;
    assert!(plain.is_err());
    LazyLock::force(&CERT);
    let ctx = Ctx {
        ws_url: url,
        http_url: None,
        secret: String::new(),
        schemas: Arc::new(SchemaSet::load(&protocol::handler::HANDLER).expect("schemas")),
        window: Duration::from_secs(1),
        mutate: false,
        auth_timeout: Duration::from_secs(1),
        period: None,
        idle_timeout: None,
        declared: Declared {
            max_payload: Some(64 * 1024),
            ..Declared::default()
        },
    };
    let results = conformance::handler::run(&ctx).await;
    server.stop().await;
    assert_none_failed(&results);
    let passed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Pass)
        .count();
    assert!(passed >= 15, "{}", describe(&results));
    // A bad CA file is a clear error, not a panic.
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = conformance::wire::tls::client_config(Some(&dir.path().join("none.pem")), false);
    assert!(missing.is_err_and(|e| e.to_string().contains("--ca-cert")));
}

#[tokio::test]
async fn the_nhem_suite_passes_over_https_and_wss() {
    LazyLock::force(&CERT);
    let results = run_suite_with(|settings| settings.tls = server_tls()).await;
    assert_none_failed(&results);
    // The HTTP cases ran (over https), not skipped.
    let http_passed = results
        .iter()
        .filter(|r| r.id.starts_with("nhem.http.") && r.outcome == Outcome::Pass)
        .count();
    assert!(http_passed >= 10, "{}", describe(&results));
}

#[tokio::test]
async fn the_proxy_listens_on_tls_in_front_of_a_tls_server() {
    LazyLock::force(&CERT);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = reference_server::nhem::Settings::for_tests(dir.path().to_owned());
    settings.tls = server_tls();
    let server = reference_server::nhem::RunningServer::start(settings)
        .await
        .expect("server starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = ProxyConfig {
        listen: addr,
        upstream: format!("wss://localhost:{}/", server.ws_addr.port()),
        duration: Duration::from_secs(2),
        tls: server_tls().acceptor().expect("the certificate loads"),
    };
    let proxy = tokio::spawn(run_on(listener, config, crate::support::SCHEMAS.clone()));
    let mut conn = WsConn::connect(
        &format!("wss://localhost:{}/", addr.port()),
        Duration::from_secs(3),
    )
    .await
    .expect("connect through the proxy over TLS");
    crate::support::auth_and_read_frames(&mut conn).await;
    conn.close().await;
    let results = proxy.await.expect("proxy ends");
    server.stop().await;
    assert_none_failed(&results);
    assert!(
        results.iter().any(|r| r.outcome == Outcome::Pass),
        "{}",
        describe(&results)
    );
}

#[tokio::test]
async fn the_client_probe_listens_on_tls() {
    LazyLock::force(&CERT);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = conformance::nhem::probe::ProbeConfig {
        listen: addr,
        duration: Duration::from_secs(2),
        password: "31415".to_owned().into(),
        fps: 60,
        tls: server_tls().acceptor().expect("the certificate loads"),
    };
    let probe = tokio::spawn(conformance::nhem::probe::run_on(listener, config));
    // Plain ws:// to the TLS probe is refused; wss:// with the trusted CA works.
    let plain = WsConn::connect(&format!("ws://{addr}/"), Duration::from_secs(3)).await;
    assert!(plain.is_err());
    let mut conn = WsConn::connect(
        &format!("wss://localhost:{}/", addr.port()),
        Duration::from_secs(3),
    )
    .await
    .expect("connect to the probe over TLS");
    conn.send_json(&json!({"type": "auth", "password": "31415"}))
        .await;
    conn.next_of("auth_response", Duration::from_secs(3))
        .await
        .expect("the probe answers auth over TLS");
    let results = probe.await.expect("probe ends").expect("probe listened");
    let outcome = |id: &str| {
        results
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.outcome)
            .expect("case present")
    };
    assert_eq!(outcome("nhem.client.connects"), Outcome::Pass);
    assert_eq!(outcome("nhem.client.auth_first"), Outcome::Pass);
}
