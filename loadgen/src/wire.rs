//! A minimal WebSocket client codec for the many-sockets reader ([`crate::mux`]): the upgrade
//! handshake, server frames parsed in place from a buffer the caller owns, and masked client
//! frames.
//!
//! Why not tungstenite here: it keeps what it has read ahead inside its own buffer, so a
//! connection could not be handed from it to a reader thread without losing (or splitting)
//! the frames that followed the session's first message. The per-task path still uses it.

use std::ops::Range;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The largest message accepted (tungstenite's default frame limit).
pub const MAX_MESSAGE: usize = 16 << 20;

/// One server frame at the start of a buffer: its payload is `buffer[payload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Range<usize>,
    /// Bytes of the buffer the frame takes (header and payload).
    pub len: usize,
}

/// Why a server's bytes are not a WebSocket stream a client can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("masked frame from the server")]
    Masked,
    #[error("reserved bits set")]
    Reserved,
    #[error("unknown opcode {0}")]
    Opcode(u8),
    #[error("control frame fragmented or over 125 bytes")]
    Control,
    #[error("frame of {0} bytes is over the 16 MiB limit")]
    TooLarge(u64),
}

/// Parses the frame at the start of `buf`; `Ok(None)`: not all of it has arrived yet.
pub fn parse(buf: &[u8]) -> Result<Option<Frame>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
    if b0 & 0x70 != 0 {
        return Err(FrameError::Reserved);
    }
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let (len, header) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(n), 10)
        }
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG if fin && len <= 125 => {}
        OP_CLOSE | OP_PING | OP_PONG => return Err(FrameError::Control),
        other => return Err(FrameError::Opcode(other)),
    }
    if len > MAX_MESSAGE as u64 {
        return Err(FrameError::TooLarge(len));
    }
    let end = header + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Frame {
        fin,
        opcode,
        payload: header..end,
        len: end,
    }))
}

/// Appends a final client frame (masked, as RFC 6455 requires of clients) to `out`.
pub fn encode(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
}

/// A fresh masking key per frame (RFC 6455 §5.3): xorshift from a per-thread random seed.
/// Masking protects intermediaries from a hostile page's chosen bytes; a load generator's
/// frames need unpredictable keys, not cryptographic ones.
pub fn mask() -> [u8; 4] {
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x as u32).to_ne_bytes()
    })
}

/// A close frame's status code, if it carries one.
pub fn close_code(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

/// Sends the upgrade `request` and reads the answer; on `101` with the right
/// `Sec-WebSocket-Accept`, returns what the server sent after its headers (frames already).
pub async fn handshake(stream: &mut TcpStream, request: &Request) -> Result<Vec<u8>, String> {
    let key = request
        .headers()
        .get("sec-websocket-key")
        .ok_or("the upgrade request has no Sec-WebSocket-Key")?
        .as_bytes()
        .to_vec();
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut head = format!("GET {target} HTTP/1.1\r\n").into_bytes();
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    stream.write_all(&head).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if stream.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("closed during the handshake".into());
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                let code = response.code.unwrap_or(0);
                if code != 101 {
                    return Err(format!("http {code}"));
                }
                let accept = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
                    .map(|h| h.value);
                if accept != Some(derive_accept_key(&key).as_bytes()) {
                    return Err("wrong Sec-WebSocket-Accept".into());
                }
                return Ok(buf.split_off(n));
            }
            Ok(httparse::Status::Partial) if buf.len() < 16 << 10 => {}
            Ok(httparse::Status::Partial) => return Err("handshake headers over 16 KiB".into()),
            Err(e) => return Err(format!("bad handshake answer: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's text frame, as the reference server frames it.
    fn server_frame(payload: &str) -> Vec<u8> {
        reference_server::core::outgoing::text_frame(payload).to_vec()
    }

    #[test]
    fn parses_each_length_form_and_waits_for_the_rest() {
        for size in [0, 5, 125, 126, 300, 65_535, 65_536, 70_000] {
            let payload = "x".repeat(size);
            let bytes = server_frame(&payload);
            let frame = parse(&bytes).expect("valid").expect("complete");
            assert_eq!(
                (frame.fin, frame.opcode, frame.len),
                (true, OP_TEXT, bytes.len())
            );
            assert_eq!(&bytes[frame.payload], payload.as_bytes());
            for cut in [0, 1, bytes.len() - 1] {
                if cut < bytes.len() {
                    assert_eq!(parse(&bytes[..cut]), Ok(None), "size {size}, cut {cut}");
                }
            }
        }
    }

    #[test]
    fn refuses_what_a_server_must_not_send() {
        assert_eq!(parse(&[0x81, 0x81, 0, 0, 0, 0, 0]), Err(FrameError::Masked));
        assert_eq!(parse(&[0xC1, 0x00]), Err(FrameError::Reserved));
        assert_eq!(parse(&[0x83, 0x00]), Err(FrameError::Opcode(3)));
        assert_eq!(parse(&[0x09, 0x00]), Err(FrameError::Control));
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(MAX_MESSAGE as u64 + 1).to_be_bytes());
        assert!(matches!(parse(&huge), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn client_frames_are_masked_and_unmask_to_the_payload() {
        for size in [3, 200, 70_000] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            encode(OP_TEXT, &payload, [1, 2, 3, 4], &mut out);
            assert_eq!(out[0], 0x81);
            assert_ne!(out[1] & 0x80, 0, "mask bit");
            let header = out.len() - size - 4;
            let mask = &out[header..header + 4];
            let unmasked: Vec<u8> = out[header + 4..]
                .iter()
                .zip(mask.iter().cycle())
                .map(|(b, m)| b ^ m)
                .collect();
            assert_eq!(unmasked, payload);
        }
    }
}
