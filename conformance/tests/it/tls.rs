//! `wss://` targets: the handler suite through a TLS front (rustls, a certificate made here
//! with rcgen) to `reference-server handler`, trusted with the CA given as `--ca-cert` would
//! give it. (It sets the process's TLS configuration: other tests then also trust this CA.)

use conformance::cases::{Ctx, Declared};
use conformance::outcome::Outcome;
use protocol::schema::SchemaSet;
use reference_server::handler::{HandlerSettings, RunningHandlerServer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Terminates TLS on a loopback port and forwards the plain bytes to `backend`.
async fn tls_front(backend: std::net::SocketAddr) -> (std::net::SocketAddr, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("a certificate");
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (addr, pem)
}

#[tokio::test]
async fn the_handler_suite_runs_over_wss_with_a_given_ca() {
    let mut settings = HandlerSettings::for_tests();
    settings.max_payload = 64 * 1024;
    let server = RunningHandlerServer::start(settings)
        .await
        .expect("server starts");
    let (front, pem) = tls_front(server.addr).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).expect("written");
    // Untrusted first: the built-in roots refuse a self-signed certificate.
    let strict = conformance::wire::tls::client_config(None, false).expect("roots");
    let refused = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://localhost:{}/", front.port()),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(strict)),
    )
    .await;
    assert!(refused.is_err_and(|e| e.to_string().to_lowercase().contains("certificate")));
    // `--insecure` takes it.
    let insecure = conformance::wire::tls::client_config(None, true).expect("a config");
    let taken = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://localhost:{}/", front.port()),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(insecure)),
    )
    .await;
    assert!(taken.is_ok(), "{:?}", taken.err());
    conformance::wire::tls::configure(Some(&ca), false).expect("the CA loads");
    let ctx = Ctx {
        ws_url: format!("wss://localhost:{}/", front.port()),
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
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .map(|r| r.id.as_str())
        .collect();
    assert!(failed.is_empty(), "{}", crate::support::describe(&results));
    let passed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Pass)
        .count();
    assert!(passed >= 15, "{}", crate::support::describe(&results));
    // A bad CA file is a clear error, not a panic.
    let missing = conformance::wire::tls::client_config(Some(&dir.path().join("none.pem")), false);
    assert!(missing.is_err_and(|e| e.to_string().contains("--ca-cert")));
}
