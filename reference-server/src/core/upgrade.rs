//! The request head of a WebSocket upgrade, read before tungstenite sees it.
//!
//! tungstenite answers only proper upgrades; a wrong path or a plain GET would get a dropped
//! TCP connection. Reading the head first (peeked on plain TCP, so the bytes stay in the
//! socket; read and put back on TLS) lets a profile route by path and query and answer
//! anything else with a real HTTP status.

use super::transport::{ServerStream, TlsConnection};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::either::Either;

/// Largest request head accepted (headers of browsers and client libraries fit easily).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Most header fields a request head may have (HTTP and upgrades alike).
pub const MAX_HEADER_FIELDS: usize = 64;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `Upgrade: websocket` is present.
    pub is_websocket: bool,
    /// `Sec-WebSocket-Key` is present and not empty.
    pub has_key: bool,
    /// `Sec-WebSocket-Version`, if sent.
    pub version: Option<String>,
    /// Every header field as sent (names as written, values trimmed; fields that are not
    /// UTF-8 are left out), for profiles that authenticate on the upgrade.
    pub headers: Vec<(String, String)>,
}

/// An HTTP answer instead of an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
    pub body: String,
    /// Extra response headers, e.g. `Sec-WebSocket-Version: 13` with 426.
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Refusal {
    pub fn new(status: u16, reason: &'static str, body: impl Into<String>) -> Self {
        Refusal {
            status,
            reason,
            body: body.into(),
            headers: Vec::new(),
        }
    }
}

impl RequestHead {
    /// What RFC 6455 §4.2.1 asks of an opening handshake: GET, `Upgrade: websocket`, a
    /// `Sec-WebSocket-Key`, and version 13 (else 426 naming the version this server speaks).
    pub fn check_upgrade(&self) -> Result<(), Refusal> {
        if self.method != "GET" || !self.is_websocket {
            return Err(Refusal::new(
                400,
                "Bad Request",
                "this endpoint speaks WebSocket only (GET with Upgrade: websocket)\n",
            ));
        }
        if !self.has_key {
            return Err(Refusal::new(
                400,
                "Bad Request",
                "a WebSocket upgrade needs a Sec-WebSocket-Key header\n",
            ));
        }
        if self.version.as_deref().map(str::trim) != Some("13") {
            let mut refusal = Refusal::new(
                426,
                "Upgrade Required",
                "this server speaks WebSocket version 13 (Sec-WebSocket-Version: 13)\n",
            );
            refusal.headers.push(("Sec-WebSocket-Version", "13"));
            return Err(refusal);
        }
        Ok(())
    }
}

impl RequestHead {
    /// The first value of header field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_deref()?.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// Why no head could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The peer closed or the read failed.
    Gone,
    /// Not HTTP: answer 400.
    Malformed,
    /// A head over [`MAX_HEAD_BYTES`]: answer 431.
    TooLarge,
    /// Nothing complete arrived in time.
    TimedOut,
}

/// Reads the request head, leaving it to be read again by tungstenite.
pub async fn peek_head(
    stream: &mut ServerStream,
    within: Duration,
) -> Result<RequestHead, HeadError> {
    let read = async {
        match stream {
            Either::Left(tcp) => peek_tcp(tcp).await,
            Either::Right(tls) => read_and_put_back(tls).await,
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or(Err(HeadError::TimedOut))
}

async fn peek_tcp(stream: &TcpStream) -> Result<RequestHead, HeadError> {
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    loop {
        let n = stream.peek(&mut buf).await.map_err(|_| HeadError::Gone)?;
        if n == 0 {
            return Err(HeadError::Gone);
        }
        match parse_head(&buf[..n]) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) if n < buf.len() => {
                // `peek` returns at once while bytes are waiting: give the rest of the head a
                // moment to arrive instead of spinning.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(None) => return Err(HeadError::TooLarge),
            Err(e) => return Err(e),
        }
    }
}

/// TLS has no `peek`: the head is read, then put back in front of the stream.
async fn read_and_put_back(stream: &mut TlsConnection) -> Result<RequestHead, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let room = MAX_HEAD_BYTES - head.len();
        let n = stream
            .inner_mut()
            .read(&mut chunk[..room.min(2048)])
            .await
            .map_err(|_| HeadError::Gone)?;
        if n == 0 {
            return Err(HeadError::Gone);
        }
        head.extend_from_slice(&chunk[..n]);
        match parse_head(&head) {
            Ok(Some(parsed)) => {
                stream.put_back(&head);
                return Ok(parsed);
            }
            Ok(None) if head.len() < MAX_HEAD_BYTES => {}
            Ok(None) => return Err(HeadError::TooLarge),
            Err(e) => return Err(e),
        }
    }
}

/// The request head at the start of `bytes`: `Ok(None)` while it is incomplete. Pure, so the
/// fuzzer can drive it (`fuzz/fuzz_targets/http_request.rs`).
pub fn parse_head(bytes: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADER_FIELDS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => Ok(Some(head_of(&request))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Malformed),
    }
}

fn head_of(request: &httparse::Request<'_, '_>) -> RequestHead {
    let target = request.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (target, None),
    };
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    RequestHead {
        method: request.method.unwrap_or_default().to_owned(),
        path: path.to_owned(),
        query,
        is_websocket: header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        has_key: header("sec-websocket-key").is_some_and(|v| !v.is_empty()),
        version: header("sec-websocket-version").map(str::to_owned),
        headers: request
            .headers
            .iter()
            .filter_map(|h| {
                let value = std::str::from_utf8(h.value).ok()?;
                Some((h.name.to_owned(), value.trim().to_owned()))
            })
            .collect(),
    }
}

/// Reads the head of what should be a WebSocket upgrade. `route` judges the path and query
/// first (e.g. 404 for an unknown path), then RFC 6455's rules apply. Anything refused gets
/// its HTTP answer here and `None` comes back; otherwise the untouched stream and its head.
pub async fn accept_head(
    mut stream: ServerStream,
    within: Duration,
    route: impl FnOnce(&RequestHead) -> Result<(), Refusal>,
) -> Option<(ServerStream, RequestHead)> {
    let head = match peek_head(&mut stream, within).await {
        Ok(head) => head,
        Err(e) => {
            if let Some(refusal) = refusal_for(&e) {
                refuse(stream, &refusal).await;
            }
            return None;
        }
    };
    match route(&head).and_then(|()| head.check_upgrade()) {
        Ok(()) => Some((stream, head)),
        Err(refusal) => {
            refuse(stream, &refusal).await;
            None
        }
    }
}

/// The HTTP answer to a head that could not be read, if one is owed (`None`: the peer left or
/// timed out).
pub fn refusal_for(error: &HeadError) -> Option<Refusal> {
    match error {
        HeadError::Malformed => Some(Refusal::new(400, "Bad Request", "not an HTTP request\n")),
        HeadError::TooLarge => Some(Refusal::new(
            431,
            "Request Header Fields Too Large",
            format!("request headers are limited to {MAX_HEAD_BYTES} bytes and {MAX_HEADER_FIELDS} fields\n"),
        )),
        HeadError::Gone | HeadError::TimedOut => None,
    }
}

/// Sends `refusal` as a plain-text HTTP response and closes.
pub async fn refuse(mut stream: ServerStream, refusal: &Refusal) {
    let Refusal {
        status,
        reason,
        body,
        headers,
    } = refusal;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        // Closing with unread bytes (the rest of an oversize head) would send a reset that can
        // destroy the answer before the client reads it: drain a little first.
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < 1 << 20 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_path_query_and_upgrade() {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut headers);
        let raw =
            b"GET /ws/ecg/stream?token=a%20b&x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n\r\n";
        assert!(request.parse(raw).expect("parses").is_complete());
        let head = head_of(&request);
        assert_eq!(head.path, "/ws/ecg/stream");
        assert!(head.is_websocket);
        assert_eq!(head.query_param("token").as_deref(), Some("a b"));
        assert_eq!(head.query_param("nope"), None);
        assert_eq!(head.header("HOST"), Some("h"));
        assert_eq!(head.header("authorization"), None);
    }
}
