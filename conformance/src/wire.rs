//! Talking to a subject over the wire only: a WebSocket client that timestamps what arrives,
//! and a small HTTP/1.1 client. Nothing here knows which server is on the other side.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot connect to {url}: {reason} (is the server running? check --ws / --http)")]
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

/// WebSocket settings for every connection this crate opens or accepts. tungstenite zeroes its
/// whole read buffer before each read: with the default 128 KiB that memset was 57% of the
/// proxy's CPU (perf, 100 clients). NHEM frames are a few hundred bytes.
pub fn small_frames() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Wall-clock time in nanoseconds since the Unix epoch (for one-way latency).
pub fn wall_nanos() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
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

pub struct WsConn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub url: String,
}

impl WsConn {
    pub async fn connect(url: &str, within: Duration) -> Result<Self, WireError> {
        let fail = |reason: String| WireError::Connect {
            url: url.to_owned(),
            reason,
        };
        let (ws, _) = tokio::time::timeout(
            within,
            tokio_tungstenite::connect_async_with_config(url, Some(small_frames()), true),
        )
        .await
        .map_err(|_| fail(format!("no handshake within {within:?}")))?
        .map_err(|e| fail(e.to_string()))?;
        Ok(WsConn {
            ws,
            url: url.to_owned(),
        })
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

/// An HTTP answer: status, headers, and the body as JSON (or a JSON string for other bodies).
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Value,
    pub is_json: bool,
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    base: String,
    authority: String,
}

impl HttpClient {
    pub fn new(base: &str) -> Result<Self, WireError> {
        let bad = |reason: &str| WireError::BadUrl {
            url: base.to_owned(),
            expected: "http://host:port",
            reason: reason.to_owned(),
        };
        let uri: hyper::Uri = base.parse().map_err(|_| bad("cannot parse"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad("only http:// is supported"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?.to_string();
        let authority = if authority.contains(':') {
            authority
        } else {
            format!("{authority}:80")
        };
        Ok(HttpClient {
            base: base.trim_end_matches('/').to_owned(),
            authority,
        })
    }

    pub async fn get(&self, path: &str) -> Result<HttpReply, WireError> {
        self.request("GET", path, None).await
    }

    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<HttpReply, WireError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request(
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
        .await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpReply, WireError> {
        let url = format!("{}{path}", self.base);
        let fail = |reason: String| WireError::Http {
            url: url.clone(),
            reason,
        };
        let exchange = async {
            let stream = TcpStream::connect(&self.authority)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| fail(e.to_string()))?;
            tokio::spawn(conn);
            let mut builder = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", &self.authority);
            let payload = match body {
                Some((content_type, bytes)) => {
                    builder = builder.header("content-type", content_type);
                    bytes
                }
                None => Vec::new(),
            };
            let request = builder
                .body(Full::new(Bytes::from(payload)))
                .map_err(|e| fail(e.to_string()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_bytes();
            let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
            let is_json = parsed.is_some();
            let body = parsed
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            Ok(HttpReply {
                status,
                headers,
                body,
                is_json,
            })
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .map_err(|_| fail("no answer within 10 s".into()))?
    }
}
