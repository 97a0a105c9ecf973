//! The HTTP side a peer reaches before any handler: the request head read on the WebSocket
//! port (and RFC 6455's checks on it), URL-encoded forms and queries, and JSON request bodies
//! decoded as NHEM's request models. The first byte picks the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::nhem::{decode, MessageKind};
use reference_server::core::upgrade::parse_head;
use reference_server::nhem::http::query_pairs;

const BODIES: [MessageKind; 3] = [
    MessageKind::ControlRequest,
    MessageKind::ConfigSetRequest,
    MessageKind::RoiSetRequest,
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(Some(head)) = parse_head(bytes) {
                let _ = head.check_upgrade();
            }
        }
        1 => {
            let _ = query_pairs(Some(&String::from_utf8_lossy(bytes)));
        }
        _ => {
            if let Ok(value) = protocol::codec::parse_json(bytes, 16 * 1024) {
                for kind in BODIES {
                    let _ = decode(kind, value.clone());
                }
            }
        }
    }
});
