//! A Socket.IO v5 client over Engine.IO v4, on both transports, for tools that judge or load a
//! server: [`SioWs`] on the WebSocket transport (direct, or upgraded from polling) and
//! [`SioPolling`] on HTTP long-polling. The packets are `protocol::socketio`'s; this module
//! only moves them and timestamps what arrives.
//!
//! Unlike a library client it hides nothing: pings can be left unanswered, raw packets sent,
//! and every packet is reported, so a case can see the order and timing of the wire.

use crate::http::HttpClient;
use crate::ws::WireError;
use futures_util::{SinkExt, StreamExt};
use protocol::socketio::{EioData, EioPacket, SioKind, SioPacket};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The Engine.IO path.
pub const PATH: &str = "/socket.io/";

/// What arrived (or happened), and when.
#[derive(Debug, Clone, PartialEq)]
pub enum SioEvent {
    /// `0{…}`: the handshake object.
    Open(Value),
    /// `40{"sid"}` (or `40/ns,{…}`): the namespace was joined.
    Connected {
        namespace: String,
        data: Value,
    },
    /// `44…`: the namespace was refused.
    ConnectError {
        namespace: String,
        data: Value,
    },
    /// `42[name, args…]`.
    Event {
        name: String,
        args: Vec<Value>,
        at: Instant,
    },
    /// `41`: the server left the namespace.
    Disconnect,
    /// `2` (answered with `3` unless the client was told not to).
    Ping(Instant),
    /// `3probe` during an upgrade.
    ProbePong,
    Noop,
    /// `1`: Engine.IO close.
    Close,
    /// A packet this client does not act on (ack, binary, …), as text.
    Other(String),
    /// Bytes that are not a packet.
    Malformed(String),
    /// The transport closed: the WebSocket close frame's code and reason when one came.
    Closed(Option<(u16, String)>),
    Timeout,
}

impl SioEvent {
    fn from_packet(packet: EioPacket, at: Instant) -> SioEvent {
        match packet {
            EioPacket::Open(json) => match serde_json::from_str(&json) {
                Ok(value) => SioEvent::Open(value),
                Err(e) => SioEvent::Malformed(format!("open packet is not JSON: {e}")),
            },
            EioPacket::Close => SioEvent::Close,
            EioPacket::Ping(None) => SioEvent::Ping(at),
            EioPacket::Pong(Some(p)) if p == "probe" => SioEvent::ProbePong,
            EioPacket::Noop => SioEvent::Noop,
            EioPacket::Message(EioData::Text(text)) => match SioPacket::decode(&text) {
                Ok(sio) => Self::from_sio(sio, at),
                Err(e) => SioEvent::Malformed(format!("{e}: {}", preview(&text))),
            },
            other => SioEvent::Other(other.to_text().unwrap_or_else(|| "binary".into())),
        }
    }

    fn from_sio(packet: SioPacket, at: Instant) -> SioEvent {
        if let Some((name, args)) = packet.event_parts() {
            return SioEvent::Event {
                name: name.to_owned(),
                args: args.to_vec(),
                at,
            };
        }
        let data = packet.data.clone().unwrap_or(Value::Null);
        match packet.kind {
            SioKind::Connect => SioEvent::Connected {
                namespace: packet.namespace,
                data,
            },
            SioKind::ConnectError => SioEvent::ConnectError {
                namespace: packet.namespace,
                data,
            },
            SioKind::Disconnect => SioEvent::Disconnect,
            _ => SioEvent::Other(packet.encode()),
        }
    }

    /// The event's name and first argument (`null` when it has none).
    pub fn as_event(&self) -> Option<(&str, &Value)> {
        match self {
            SioEvent::Event { name, args, .. } => {
                Some((name, args.first().unwrap_or(&Value::Null)))
            }
            _ => None,
        }
    }
}

fn preview(text: &str) -> String {
    text.chars().take(120).collect()
}

/// `ws://host:port` (or `http://…`, or either with a path) → the Engine.IO URL on the
/// WebSocket transport, optionally upgrading session `sid`.
pub fn websocket_url(base: &str, sid: Option<&str>) -> String {
    let base = base.trim_end_matches('/');
    let base = base.strip_suffix("/socket.io").unwrap_or(base);
    let base = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        base.to_owned()
    };
    match sid {
        Some(sid) => format!("{base}{PATH}?EIO=4&transport=websocket&sid={sid}"),
        None => format!("{base}{PATH}?EIO=4&transport=websocket"),
    }
}

/// `ws://host:port` or `http://host:port` → `http(s)://host:port`.
pub fn http_base(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = base.strip_suffix("/socket.io").unwrap_or(base);
    if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        base.to_owned()
    }
}

/// A Socket.IO session on the WebSocket transport.
pub struct SioWs {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Answer `2` with `3` as it is read (on by default; off to test the ping timeout).
    pub answer_pings: bool,
}

impl SioWs {
    /// Opens a direct WebSocket session; the open packet is the first event to read.
    pub async fn connect(base: &str, within: Duration) -> Result<SioWs, WireError> {
        Self::connect_url(&websocket_url(base, None), within).await
    }

    /// Opens the WebSocket at `url` as it is (a test may send EIO=3, a wrong path, …).
    pub async fn connect_url(url: &str, within: Duration) -> Result<SioWs, WireError> {
        let fail = |reason: String| WireError::Connect {
            url: url.to_owned(),
            reason,
        };
        let request = crate::ws::upgrade_request(url, &[]).map_err(fail)?;
        let (ws, _) = tokio::time::timeout(within, crate::ws::connect(request))
            .await
            .map_err(|_| fail(format!("no handshake within {within:?}")))?
            .map_err(|e| fail(e.to_string()))?;
        Ok(SioWs {
            ws,
            answer_pings: true,
        })
    }

    /// Opens a direct session and joins `/`: the open packet and the CONNECT answer are read,
    /// and every event that came before the answer is kept in `early` (Flask-SocketIO sends
    /// the connect handler's events first).
    pub async fn join(base: &str, within: Duration) -> Result<Joined, JoinError> {
        let deadline = Instant::now() + within;
        let mut ws = SioWs::connect(base, within)
            .await
            .map_err(JoinError::Wire)?;
        let (open, opened_at) = match ws.next(left(deadline)).await {
            SioEvent::Open(open) => (open, Instant::now()),
            other => return Err(JoinError::Unexpected("the open packet", other)),
        };
        ws.send_sio(&SioPacket {
            kind: SioKind::Connect,
            namespace: "/".into(),
            attachments: 0,
            ack_id: None,
            data: None,
        })
        .await;
        let (mut early, mut pings) = (Vec::new(), Vec::new());
        loop {
            match ws.next(left(deadline)).await {
                SioEvent::Connected { data, .. } => {
                    return Ok(Joined {
                        ws,
                        open,
                        opened_at,
                        connected: data,
                        early,
                        pings,
                    })
                }
                event @ SioEvent::Event { .. } => early.push(event),
                SioEvent::Ping(at) => pings.push(at),
                SioEvent::Noop => {}
                other => return Err(JoinError::Unexpected("40{sid}", other)),
            }
        }
    }

    pub async fn send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::text(text)).await.is_ok()
    }

    pub async fn send_eio(&mut self, packet: &EioPacket) -> bool {
        match packet.to_text() {
            Some(text) => self.send_text(&text).await,
            None => false,
        }
    }

    pub async fn send_sio(&mut self, packet: &SioPacket) -> bool {
        self.send_eio(&EioPacket::Message(EioData::Text(packet.encode())))
            .await
    }

    /// Emits `name` with `args` on `/`.
    pub async fn emit(&mut self, name: &str, args: Vec<Value>) -> bool {
        self.send_sio(&SioPacket::event(name, args)).await
    }

    /// The next packet (or transport event) within `within`.
    pub async fn next(&mut self, within: Duration) -> SioEvent {
        let deadline = Instant::now() + within;
        loop {
            let Ok(next) = tokio::time::timeout_at(deadline.into(), self.ws.next()).await else {
                return SioEvent::Timeout;
            };
            let at = Instant::now();
            let event = match next {
                None | Some(Err(_)) => SioEvent::Closed(None),
                Some(Ok(Message::Text(text))) => match EioPacket::from_text(text.as_str()) {
                    Ok(packet) => SioEvent::from_packet(packet, at),
                    Err(e) => SioEvent::Malformed(format!("{e}: {}", preview(text.as_str()))),
                },
                Some(Ok(Message::Binary(b))) => {
                    SioEvent::Other(format!("{} binary bytes", b.len()))
                }
                Some(Ok(Message::Close(frame))) => SioEvent::Closed(
                    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                ),
                Some(Ok(_)) => continue,
            };
            if matches!(event, SioEvent::Ping(_)) && self.answer_pings {
                self.send_eio(&EioPacket::Pong(None)).await;
            }
            return event;
        }
    }

    /// Reads until event `name` arrives; its first argument. The events read past are
    /// returned in `skipped` order through `seen`.
    pub async fn next_event_named(
        &mut self,
        name: &str,
        within: Duration,
        seen: &mut Vec<SioEvent>,
    ) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            match self.next(left(deadline)).await {
                SioEvent::Event {
                    name: got, args, ..
                } if got == name => return Some(args.into_iter().next().unwrap_or(Value::Null)),
                SioEvent::Timeout => return None,
                closed @ SioEvent::Closed(_) => {
                    seen.push(closed);
                    return None;
                }
                other => seen.push(other),
            }
        }
    }

    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

/// A session that has joined `/`.
pub struct Joined {
    pub ws: SioWs,
    /// The open packet's object.
    pub open: Value,
    /// When the open packet was read (the server's ping timer starts about then).
    pub opened_at: Instant,
    /// The CONNECT answer's data (`{"sid": …}`).
    pub connected: Value,
    /// Events that arrived before the CONNECT answer.
    pub early: Vec<SioEvent>,
    /// When the pings read (and answered) before the CONNECT answer arrived.
    pub pings: Vec<Instant>,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Wire(WireError),
    #[error("expected {0}, got {1:?}")]
    Unexpected(&'static str, SioEvent),
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// A Socket.IO session on HTTP long-polling. Once read from, a background task keeps one GET
/// outstanding at a time (a second concurrent GET is a protocol error) and answers pings; what
/// it reads waits in a queue, so a case may stop reading without breaking the session.
pub struct SioPolling {
    http: HttpClient,
    pub sid: String,
    pub open: Value,
    /// Packets of the handshake's payload after the open packet.
    first: Vec<EioPacket>,
    events: Option<tokio::sync::mpsc::UnboundedReceiver<SioEvent>>,
    poller: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SioPolling {
    fn drop(&mut self) {
        if let Some(poller) = &self.poller {
            poller.abort();
        }
    }
}

/// The status and body of a refused polling request.
#[derive(Debug, thiserror::Error)]
pub enum PollingError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("{0}")]
    Protocol(String),
}

impl SioPolling {
    /// The handshake: `GET /socket.io/?EIO=4&transport=polling` and its open packet.
    pub async fn open(base: &str) -> Result<SioPolling, PollingError> {
        let http = HttpClient::new(&http_base(base))?;
        let reply = http.get(&format!("{PATH}?EIO=4&transport=polling")).await?;
        if reply.status != 200 {
            return Err(PollingError::Status {
                status: reply.status,
                body: preview(&reply.text),
            });
        }
        let packets = protocol::socketio::decode_payload(&reply.text)
            .map_err(|e| PollingError::Protocol(format!("{e}: {}", preview(&reply.text))))?;
        let mut packets = packets.into_iter();
        let Some(EioPacket::Open(json)) = packets.next() else {
            return Err(PollingError::Protocol(format!(
                "the first packet is not an open packet: {}",
                preview(&reply.text)
            )));
        };
        let open: Value = serde_json::from_str(&json)
            .map_err(|e| PollingError::Protocol(format!("open packet is not JSON: {e}")))?;
        let sid = open["sid"]
            .as_str()
            .ok_or_else(|| PollingError::Protocol("the open packet has no sid".into()))?
            .to_owned();
        Ok(SioPolling {
            http,
            sid,
            open,
            first: packets.collect(),
            events: None,
            poller: None,
        })
    }

    fn path(sid: &str) -> String {
        format!("{PATH}?EIO=4&transport=polling&sid={sid}")
    }

    /// POSTs `packets` as one payload.
    pub async fn send(&self, packets: &[EioPacket]) -> Result<(), PollingError> {
        post(&self.http, &self.sid, packets).await
    }

    pub async fn send_sio(&self, packet: &SioPacket) -> Result<(), PollingError> {
        self.send(&[EioPacket::Message(EioData::Text(packet.encode()))])
            .await
    }

    pub async fn emit(&self, name: &str, args: Vec<Value>) -> Result<(), PollingError> {
        self.send_sio(&SioPacket::event(name, args)).await
    }

    /// The next packet within `within` (the first call starts the poller).
    pub async fn next(&mut self, within: Duration) -> SioEvent {
        if self.events.is_none() {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let now = Instant::now();
            for packet in self.first.drain(..) {
                let _ = tx.send(SioEvent::from_packet(packet, now));
            }
            // A GET waits at most pingInterval for data; allow that and some.
            let interval = self.open["pingInterval"].as_u64().unwrap_or(25_000);
            let hold = Duration::from_millis(interval) + Duration::from_secs(10);
            self.poller = Some(tokio::spawn(poll(
                self.http.clone(),
                self.sid.clone(),
                hold,
                tx,
            )));
            self.events = Some(rx);
        }
        let Some(events) = self.events.as_mut() else {
            return SioEvent::Timeout;
        };
        match tokio::time::timeout(within, events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => SioEvent::Closed(None),
            Err(_) => SioEvent::Timeout,
        }
    }

    /// Joins `/`: sends `40`, reads until `40{sid}`; the events before it are returned.
    pub async fn join(&mut self, within: Duration) -> Result<(Value, Vec<SioEvent>), JoinError> {
        let deadline = Instant::now() + within;
        let connect = SioPacket {
            kind: SioKind::Connect,
            namespace: "/".into(),
            attachments: 0,
            ack_id: None,
            data: None,
        };
        if let Err(e) = self.send_sio(&connect).await {
            return Err(JoinError::Unexpected(
                "the CONNECT to be accepted",
                SioEvent::Malformed(e.to_string()),
            ));
        }
        let mut early = Vec::new();
        loop {
            match self.next(left(deadline)).await {
                SioEvent::Connected { data, .. } => return Ok((data, early)),
                event @ SioEvent::Event { .. } => early.push(event),
                SioEvent::Ping(_) | SioEvent::Noop => {}
                other => return Err(JoinError::Unexpected("40{sid}", other)),
            }
        }
    }

    /// Upgrades to WebSocket: `2probe` → `3probe`, then `5`. The session continues on the
    /// returned socket (a GET still held by the server is answered with `6`).
    pub async fn upgrade(mut self, within: Duration) -> Result<SioWs, JoinError> {
        if let Some(poller) = self.poller.take() {
            poller.abort();
        }
        let deadline = Instant::now() + within;
        let url = websocket_url(self.http.base(), Some(&self.sid));
        let mut ws = SioWs::connect_url(&url, within)
            .await
            .map_err(JoinError::Wire)?;
        ws.send_eio(&EioPacket::Ping(Some("probe".into()))).await;
        loop {
            match ws.next(left(deadline)).await {
                SioEvent::ProbePong => break,
                SioEvent::Noop => {}
                other => return Err(JoinError::Unexpected("3probe", other)),
            }
        }
        ws.send_eio(&EioPacket::Upgrade).await;
        Ok(ws)
    }

    /// Sends Engine.IO close (`1`) and stops polling.
    pub async fn close(&mut self) {
        let _ = self.send(&[EioPacket::Close]).await;
        if let Some(poller) = self.poller.take() {
            poller.abort();
        }
    }
}

async fn post(http: &HttpClient, sid: &str, packets: &[EioPacket]) -> Result<(), PollingError> {
    let body = protocol::socketio::encode_payload(packets);
    let reply = http
        .request(
            "POST",
            &SioPolling::path(sid),
            Some(("text/plain;charset=UTF-8", body.into_bytes())),
        )
        .await?;
    match reply.status {
        200 => Ok(()),
        status => Err(PollingError::Status {
            status,
            body: preview(&reply.text),
        }),
    }
}

/// One GET at a time until the session ends; pings are answered as they are read.
async fn poll(
    http: HttpClient,
    sid: String,
    hold: Duration,
    tx: tokio::sync::mpsc::UnboundedSender<SioEvent>,
) {
    loop {
        let reply = match http
            .request_within("GET", &SioPolling::path(&sid), None, hold)
            .await
        {
            Ok(reply) => reply,
            Err(_) => {
                let _ = tx.send(SioEvent::Closed(None));
                return;
            }
        };
        if reply.status != 200 {
            let _ = tx.send(SioEvent::Closed(Some((reply.status, preview(&reply.text)))));
            return;
        }
        let packets = match protocol::socketio::decode_payload(&reply.text) {
            Ok(packets) => packets,
            Err(e) => {
                let _ = tx.send(SioEvent::Malformed(format!(
                    "{e}: {}",
                    preview(&reply.text)
                )));
                return;
            }
        };
        let at = Instant::now();
        for packet in packets {
            let event = SioEvent::from_packet(packet, at);
            if matches!(event, SioEvent::Ping(_)) {
                let _ = post(&http, &sid, &[EioPacket::Pong(None)]).await;
            }
            let end = matches!(event, SioEvent::Close);
            if tx.send(event).is_err() || end {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_base_whatever_its_scheme() {
        assert_eq!(
            websocket_url("http://127.0.0.1:5000/", None),
            "ws://127.0.0.1:5000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            websocket_url("wss://h:1/socket.io/", Some("abc")),
            "wss://h:1/socket.io/?EIO=4&transport=websocket&sid=abc"
        );
        assert_eq!(http_base("ws://h:1"), "http://h:1");
        assert_eq!(http_base("wss://h:1/"), "https://h:1");
        assert_eq!(http_base("http://h:1"), "http://h:1");
    }

    #[test]
    fn packets_become_events() {
        let now = Instant::now();
        let event =
            |text: &str| SioEvent::from_packet(EioPacket::from_text(text).expect("a packet"), now);
        assert!(matches!(
            event("40{\"sid\":\"x\"}"),
            SioEvent::Connected { .. }
        ));
        assert_eq!(
            event("42[\"settings\",{\"brightness\":75}]").as_event(),
            Some(("settings", &serde_json::json!({"brightness": 75})))
        );
        assert!(matches!(
            event("44/nope,\"Unable\""),
            SioEvent::ConnectError { .. }
        ));
        assert_eq!(event("2"), SioEvent::Ping(now));
        assert_eq!(event("3probe"), SioEvent::ProbePong);
        assert_eq!(event("41"), SioEvent::Disconnect);
        assert_eq!(event("6"), SioEvent::Noop);
    }
}
