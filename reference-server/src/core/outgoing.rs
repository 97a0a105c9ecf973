//! Broadcast messages framed once for every client.
//!
//! A server-to-client WebSocket frame is not masked, so the same bytes are valid on every
//! connection: the producer serializes a frame's JSON once *and* wraps it in its WebSocket
//! header once, and each connection writes those shared bytes to its socket as they are. That
//! saves a per-client copy into tungstenite's write buffer (measured in docs/BENCHMARKS.md).

use bytes::{BufMut, Bytes, BytesMut};

/// A complete, unmasked, final WebSocket text frame holding `json`.
pub fn text_frame(json: &str) -> Bytes {
    let payload = json.as_bytes();
    let mut frame = BytesMut::with_capacity(payload.len() + 10);
    frame.put_u8(0x81); // FIN + text
    match payload.len() {
        n if n < 126 => frame.put_u8(n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.put_u8(126);
            frame.put_u16(n as u16);
        }
        n => {
            frame.put_u8(127);
            frame.put_u64(n as u64);
        }
    }
    frame.put_slice(payload);
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

    #[test]
    fn frames_parse_back_with_tungstenite() {
        for len in [0usize, 1, 125, 126, 200, 65_535, 65_536] {
            let json = "x".repeat(len);
            let frame = text_frame(&json);
            let mut cursor = std::io::Cursor::new(frame.as_ref());
            let (header, payload_len) = FrameHeader::parse(&mut cursor)
                .expect("valid header")
                .expect("complete header");
            assert!(header.is_final && header.mask.is_none(), "{len}");
            assert_eq!(payload_len as usize, len);
            assert_eq!(&frame[cursor.position() as usize..], json.as_bytes());
        }
    }
}
