//! NHEM WebSocket messages as the server (client messages) and our tools (server messages)
//! parse them: any bytes, never a panic; what is accepted re-encodes to JSON it accepts again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::nhem::{parse_client_message, parse_server_message};

fuzz_target!(|bytes: &[u8]| {
    let _ = parse_client_message(bytes, 16 * 1024);
    if let Ok(message) = parse_server_message(bytes, 16 * 1024) {
        let again = message.to_json().into_bytes();
        assert!(
            parse_server_message(&again, usize::MAX).is_ok(),
            "accepted once, refused after a round trip: {}",
            String::from_utf8_lossy(&again)
        );
    }
});
