//! The request head of a WebSocket upgrade, read before tungstenite sees it.
//!
//! tungstenite answers only proper upgrades; a wrong path or a plain GET would get a dropped
//! TCP connection. Peeking at the head (the bytes stay in the socket for tungstenite) lets a
//! profile route by path and query and answer anything else with a real HTTP status.

use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Largest request head accepted (headers of browsers and client libraries fit easily).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// `Upgrade: websocket` is present.
    pub is_websocket: bool,
}

impl RequestHead {
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
    /// Not HTTP, or a head over [`MAX_HEAD_BYTES`]: answer 400.
    Malformed,
    /// Nothing complete arrived in time.
    TimedOut,
}

/// Peeks at the request head without consuming it.
pub async fn peek_head(stream: &TcpStream, within: Duration) -> Result<RequestHead, HeadError> {
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let read = async {
        loop {
            let n = stream.peek(&mut buf).await.map_err(|_| HeadError::Gone)?;
            if n == 0 {
                return Err(HeadError::Gone);
            }
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buf[..n]) {
                Ok(httparse::Status::Complete(_)) => return Ok(head_of(&request)),
                Ok(httparse::Status::Partial) if n < buf.len() => {
                    // `peek` returns at once while bytes are waiting: give the rest of the
                    // head a moment to arrive instead of spinning.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                _ => return Err(HeadError::Malformed),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or(Err(HeadError::TimedOut))
}

fn head_of(request: &httparse::Request<'_, '_>) -> RequestHead {
    let target = request.path.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (target, None),
    };
    let is_websocket = request.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("upgrade")
            && std::str::from_utf8(h.value)
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
    });
    RequestHead {
        method: request.method.unwrap_or_default().to_owned(),
        path: path.to_owned(),
        query,
        is_websocket,
    }
}

/// Answers with a small plain-text HTTP response and closes.
pub async fn reply(mut stream: TcpStream, status: u16, reason: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
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
    }
}
