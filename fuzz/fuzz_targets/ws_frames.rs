//! The server's WebSocket message path from raw bytes: tungstenite's frame reader in the
//! server role with the server's limits, then NHEM's message parser on every text message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{Cursor, Read, Write};
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::Message;

/// Reads from the fuzzer's bytes; writes (pongs, closes) go nowhere.
struct Wire(Cursor<Vec<u8>>);

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|bytes: &[u8]| {
    let config = reference_server::core::ws_config(16 * 1024);
    let mut ws = WebSocket::from_raw_socket(
        Wire(Cursor::new(bytes.to_vec())),
        Role::Server,
        Some(config),
    );
    // Each read consumes input or fails; the bound only guards against a reader that loops.
    for _ in 0..=bytes.len() {
        match ws.read() {
            Ok(Message::Text(text)) => {
                let _ = protocol::nhem::parse_client_message(text.as_bytes(), 16 * 1024);
            }
            Ok(_) => {}
            Err(error) => {
                let _ = reference_server::core::close_code_for(&error);
                break;
            }
        }
    }
});
