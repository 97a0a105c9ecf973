//! RFC 6455 §4.2.1 on both profiles' WebSocket ports: what is not a proper opening handshake
//! gets an HTTP status (it used to be a dropped TCP connection), over real sockets.

use crate::support::{raw_exchange, upgrade_request, TestServer};
use reference_server::ecg::{EcgSettings, RunningEcgServer};
use std::net::SocketAddr;

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// `(request, expected status line start, text the answer must contain)` for a path.
fn improper(path: &str) -> Vec<(Vec<u8>, &'static str, &'static str)> {
    vec![
        (
            upgrade_request(path, "Sec-WebSocket-Version: 13\r\n"),
            "HTTP/1.1 400",
            "Sec-WebSocket-Key",
        ),
        (
            upgrade_request(path, &format!("{KEY}Sec-WebSocket-Version: 8\r\n")),
            "HTTP/1.1 426",
            "Sec-WebSocket-Version: 13",
        ),
        (
            upgrade_request(path, KEY),
            "HTTP/1.1 426",
            "Sec-WebSocket-Version: 13",
        ),
        (
            format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes(),
            "HTTP/1.1 400",
            "WebSocket only",
        ),
        (
            upgrade_request(
                path,
                &format!(
                    "{KEY}Sec-WebSocket-Version: 13\r\nX-Filler: {}\r\n",
                    "a".repeat(100_000)
                ),
            ),
            "HTTP/1.1 431",
            "limited to",
        ),
        (
            b"\x16\x03\x01 not http at all\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
            "not an HTTP request",
        ),
    ]
}

async fn check(addr: SocketAddr, path: &str) {
    for (request, status, needle) in improper(path) {
        let answer = raw_exchange(addr, &request).await;
        let shown = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
        assert!(answer.starts_with(status), "{shown:?} got {answer:?}");
        assert!(answer.contains(needle), "{shown:?} got {answer:?}");
    }
    let good = raw_exchange(
        addr,
        &upgrade_request(path, &format!("{KEY}Sec-WebSocket-Version: 13\r\n")),
    )
    .await;
    assert!(good.starts_with("HTTP/1.1 101"), "{good:?}");
}

#[tokio::test]
async fn nhem_answers_improper_upgrades_in_http() {
    let t = TestServer::start().await;
    check(t.server.ws_addr, "/").await;
    t.stop().await;
}

#[tokio::test]
async fn ecg_answers_improper_upgrades_and_unknown_paths_in_http() {
    let server = RunningEcgServer::start(EcgSettings::for_tests())
        .await
        .expect("starts");
    check(server.addr, "/ws/ecg/stream?token=ecg-demo-token").await;
    let unknown = raw_exchange(server.addr, &upgrade_request("/nope", KEY)).await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown:?}");
    server.stop().await;
}
