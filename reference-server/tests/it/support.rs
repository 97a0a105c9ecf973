//! A test server and clients whose every received message is checked against the schemas.

use futures_util::{SinkExt, StreamExt};
use protocol::nhem::MessageKind;
use protocol::schema::SchemaSet;
use reference_server::nhem::{RunningServer, Settings};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub static SCHEMAS: LazyLock<SchemaSet> =
    LazyLock::new(|| SchemaSet::load(&protocol::nhem::NHEM).expect("schemas compile"));

/// Asserts `message` is valid against the schema its `type` names; returns it.
pub fn checked(message: Value) -> Value {
    let name = message["type"]
        .as_str()
        .unwrap_or_else(|| panic!("no type: {message}"));
    let kind =
        MessageKind::from_type(name).unwrap_or_else(|| panic!("unknown type {name}: {message}"));
    let violations = SCHEMAS
        .violations(kind.name(), &message)
        .expect("schema exists");
    assert!(
        violations.is_empty(),
        "server sent an invalid {name}: {violations:?}\n{message}"
    );
    message
}

pub struct TestServer {
    pub server: RunningServer,
    pub data_dir: tempfile::TempDir,
}

pub fn settings(data_dir: &tempfile::TempDir) -> Settings {
    Settings::for_tests(data_dir.path().to_owned())
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut s = settings(&data_dir);
        adjust(&mut s);
        let server = RunningServer::start(s).await.expect("server starts");
        TestServer { server, data_dir }
    }

    pub fn http(&self) -> SocketAddr {
        self.server.http_addr
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        request(self.http(), "GET", path, None).await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (u16, Value) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        request(
            self.http(),
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
        .await
    }

    pub async fn ws(&self) -> WsClient {
        WsClient::connect(self.server.ws_addr).await
    }

    /// A client that has authenticated and read `auth_response` and the initial `status`.
    pub async fn authed_ws(&self) -> WsClient {
        let mut client = self.ws().await;
        client
            .send_json(serde_json::json!({"type": "auth", "password": "31415"}))
            .await;
        let response = client.next_json().await;
        assert_eq!(response["type"], "auth_response");
        assert_eq!(response["success"], true);
        let status = client.next_of("status").await;
        assert_eq!(status["reason"], "initial");
        client
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }

    /// Stops the server, runs `between` on its data directory, and starts a new one on it.
    pub async fn restart_with(self, between: impl FnOnce(&std::path::Path)) -> Self {
        let TestServer { server, data_dir } = self;
        server.stop().await;
        between(data_dir.path());
        let server = RunningServer::start(settings(&data_dir))
            .await
            .expect("restarts");
        TestServer { server, data_dir }
    }
}

/// One HTTP/1.1 request; returns the status and the JSON body (validated against its schema)
/// or `Value::String` for bodies that are not `application/json`.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    let reply = raw_request(addr, method, path, body).await;
    let is_json = reply
        .headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        let text = match reply.body {
            Value::String(text) => text,
            other => other.to_string(),
        };
        return (reply.status, Value::String(text));
    }
    assert!(
        reply.is_json,
        "{path}: an application/json body that is not JSON"
    );
    if path != "/openapi.json" {
        checked(reply.body.clone());
    }
    (reply.status, reply.body)
}

/// One request through the tools' HTTP client (`client-io`), with status and headers.
pub async fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> client_io::HttpReply {
    client_io::HttpClient::new(&format!("http://{addr}"))
        .expect("a loopback address is a valid base URL")
        .request(method, path, body)
        .await
        .expect("HTTP response")
}

pub struct WsClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub const WAIT: Duration = Duration::from_secs(5);

/// What the server did next: a JSON message, or a close with its code and reason.
#[derive(Debug)]
pub enum Next {
    Json(Value),
    Closed(Option<CloseFrame>),
}

impl WsClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .expect("WebSocket connects");
        WsClient { ws }
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub async fn next(&mut self) -> Next {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server answers within 5 s");
            match message {
                None => return Next::Closed(None),
                Some(Err(_)) => return Next::Closed(None),
                Some(Ok(Message::Text(t))) => {
                    return Next::Json(checked(
                        serde_json::from_str(t.as_str()).expect("server sends JSON"),
                    ))
                }
                Some(Ok(Message::Close(frame))) => return Next::Closed(frame),
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        match self.next().await {
            Next::Json(v) => v,
            Next::Closed(frame) => panic!("connection closed: {frame:?}"),
        }
    }

    /// The next message of type `ty`, skipping broadcast frames and others.
    pub async fn next_of(&mut self, ty: &str) -> Value {
        loop {
            let message = self.next_json().await;
            if message["type"] == ty {
                return message;
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Next::Closed(frame) = self.next().await {
                return frame.map(|f| u16::from(f.code));
            }
        }
    }
}

/// Sends `request` as raw bytes and returns everything the server answers until it closes
/// (or 3 s pass): for requests no client library would send.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("request written");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// An upgrade request for `path` with `extra` header lines (each ending in CRLF).
pub fn upgrade_request(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n").into_bytes()
}
