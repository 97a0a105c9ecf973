//! A WebSocket client that timestamps what arrives. Nothing here knows which server or which
//! protocol is on the other side.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(
        "cannot connect to {url}: {reason} ({})",
        crate::tls::connect_hint(reason)
    )]
    Connect { url: String, reason: String },
    #[error("{url} is not a valid {expected} URL: {reason}")]
    BadUrl {
        url: String,
        expected: &'static str,
        reason: String,
    },
    #[error("HTTP request to {url} failed: {reason}")]
    Http { url: String, reason: String },
}

/// WebSocket settings for every client connection the tools open (and the connections the
/// conformance proxy and probe accept). tungstenite zeroes its whole read buffer before each
/// read: with the default 128 KiB that memset was 57% of the proxy's CPU (perf, 100 clients);
/// frames here are a few hundred bytes.
pub fn small_frames() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

pub use crate::clock::wall_nanos;

/// The upgrade request for `url` with `headers` added (names and values must be valid HTTP).
pub fn upgrade_request(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    for (name, value) in headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name:?}: {e}"))?;
        let value = HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?;
        request.headers_mut().append(name, value);
    }
    Ok(request)
}

/// What arrived, when.
#[derive(Debug, Clone)]
pub enum Event {
    Json {
        value: Value,
        at: Instant,
        wall_ns: i128,
    },
    /// A text frame that is not JSON.
    Text(String),
    Binary(usize),
    /// An RFC 6455 pong frame.
    Pong,
    /// The server closed (code and reason when it sent a close frame).
    Closed(Option<(u16, String)>),
    Timeout,
}

/// Pings remembered per connection (a cadence needs a few; a flood must not grow memory).
const MAX_PINGS_KEPT: usize = 10_000;

/// Opens a WebSocket (`ws://`, or `wss://` with this process's TLS configuration, see
/// [`crate::tls`]) with small frames and TCP_NODELAY.
pub async fn connect(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<
    (
        WebSocketStream<MaybeTlsStream<TcpStream>>,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    // Boxed: with rustls the handshake future is large, and cases that join many connections
    // in one future would otherwise overflow a test thread's stack in debug builds.
    Box::pin(tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(small_frames()),
        true,
        Some(tokio_tungstenite::Connector::Rustls(crate::tls::config())),
    ))
    .await
}

pub struct WsConn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub url: String,
    /// When each RFC 6455 ping arrived (tungstenite answers them while the connection is
    /// read), for cases that judge a server's keepalive.
    ping_times: Vec<Instant>,
}

impl WsConn {
    pub async fn connect(url: &str, within: Duration) -> Result<Self, WireError> {
        Self::connect_with_headers(url, &[], within).await
    }

    /// Connects with extra request headers on the upgrade (e.g. `Authorization`). A refused
    /// upgrade's error names its HTTP status (`HTTP error: 401 Unauthorized`).
    pub async fn connect_with_headers(
        url: &str,
        headers: &[(&str, &str)],
        within: Duration,
    ) -> Result<Self, WireError> {
        let fail = |reason: String| WireError::Connect {
            url: url.to_owned(),
            reason,
        };
        let request = upgrade_request(url, headers).map_err(fail)?;
        let (ws, _) = tokio::time::timeout(within, connect(request))
            .await
            .map_err(|_| fail(format!("no handshake within {within:?}")))?
            .map_err(|e| fail(e.to_string()))?;
        Ok(WsConn {
            ws,
            url: url.to_owned(),
            ping_times: Vec::new(),
        })
    }

    /// Connects with `SO_RCVBUF` set to `recv_buffer` bytes before the handshake, so that a
    /// reader that stops reading soon blocks the server's writes (isolation cases).
    pub async fn connect_with_recv_buffer(
        url: &str,
        within: Duration,
        recv_buffer: u32,
    ) -> Result<Self, WireError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let fail = |reason: String| WireError::Connect {
            url: url.to_owned(),
            reason,
        };
        let request = url.into_client_request().map_err(|e| fail(e.to_string()))?;
        let host = request
            .uri()
            .host()
            .unwrap_or("127.0.0.1")
            .trim_matches(['[', ']'])
            .to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let connect = async {
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| fail(e.to_string()))?
                .next()
                .ok_or_else(|| fail(format!("{host} has no address")))?;
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()
            } else {
                tokio::net::TcpSocket::new_v6()
            }
            .map_err(|e| fail(e.to_string()))?;
            socket
                .set_recv_buffer_size(recv_buffer)
                .map_err(|e| fail(e.to_string()))?;
            let stream = socket
                .connect(addr)
                .await
                .map_err(|e| fail(e.to_string()))?;
            tokio_tungstenite::client_async_with_config(
                request,
                MaybeTlsStream::Plain(stream),
                Some(small_frames()),
            )
            .await
            .map_err(|e| fail(e.to_string()))
        };
        let (ws, _) = tokio::time::timeout(within, connect)
            .await
            .map_err(|_| fail(format!("no handshake within {within:?}")))??;
        Ok(WsConn {
            ws,
            url: url.to_owned(),
            ping_times: Vec::new(),
        })
    }

    /// When each ping from the server arrived, in order (only while the connection was read).
    pub fn pings(&self) -> &[Instant] {
        &self.ping_times
    }

    pub async fn send_json(&mut self, value: &Value) -> bool {
        self.send_text(&value.to_string()).await
    }

    /// `false` when the connection is already gone.
    pub async fn send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::Text(text.into())).await.is_ok()
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> bool {
        self.ws.send(Message::Binary(bytes.into())).await.is_ok()
    }

    pub async fn send_ping(&mut self, payload: &[u8]) -> bool {
        self.ws
            .send(Message::Ping(Bytes::copy_from_slice(payload)))
            .await
            .is_ok()
    }

    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }

    /// The next event within `within`.
    pub async fn next_event(&mut self, within: Duration) -> Event {
        let deadline = Instant::now() + within;
        loop {
            let Ok(next) = tokio::time::timeout_at(deadline.into(), self.ws.next()).await else {
                return Event::Timeout;
            };
            let at = Instant::now();
            return match next {
                None | Some(Err(_)) => Event::Closed(None),
                Some(Ok(Message::Text(t))) => match serde_json::from_str(t.as_str()) {
                    Ok(value) => Event::Json {
                        value,
                        at,
                        wall_ns: wall_nanos(),
                    },
                    Err(_) => Event::Text(t.as_str().to_owned()),
                },
                Some(Ok(Message::Binary(b))) => Event::Binary(b.len()),
                Some(Ok(Message::Close(frame))) => {
                    Event::Closed(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
                }
                Some(Ok(Message::Pong(_))) => Event::Pong,
                Some(Ok(Message::Ping(_))) => {
                    if self.ping_times.len() < MAX_PINGS_KEPT {
                        self.ping_times.push(at);
                    }
                    continue;
                }
                Some(Ok(_)) => continue,
            };
        }
    }

    /// The next JSON message of type `ty` within `within`, skipping others (e.g. `data`).
    /// Returns the event that ended the wait if it was not such a message.
    pub async fn next_of(&mut self, ty: &str, within: Duration) -> Result<Value, Event> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Event::Json { value, .. } if value["type"] == ty => return Ok(value),
                Event::Json { .. } | Event::Text(_) | Event::Binary(_) | Event::Pong => continue,
                other => return Err(other),
            }
        }
    }

    /// Reads until the server closes or `within` passes; the close code if one came.
    pub async fn close_code(&mut self, within: Duration) -> Option<Option<(u16, String)>> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Event::Closed(frame) => return Some(frame),
                Event::Timeout => return None,
                _ => continue,
            }
        }
    }
}
