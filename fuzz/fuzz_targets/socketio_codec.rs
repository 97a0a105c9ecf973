//! The Engine.IO v4 / Socket.IO v5 codec (the retroboard profile's wire) on any text: decoding
//! never panics, and whatever decodes re-encodes to a packet that decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::socketio::{decode_payload, encode_payload, EioPacket, SioPacket};

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(packet) = SioPacket::decode(&text) {
        let again = SioPacket::decode(&packet.encode());
        assert_eq!(
            again.as_ref(),
            Ok(&packet),
            "re-encoded as {:?}",
            packet.encode()
        );
    }
    if let Ok(packet) = EioPacket::from_polling(&text) {
        assert_eq!(
            EioPacket::from_polling(&packet.to_polling()).as_ref(),
            Ok(&packet)
        );
    }
    if let Ok(packets) = decode_payload(&text) {
        let _ = decode_payload(&encode_payload(&packets));
    }
});
