//! Every registered profile's classifier and typed decoders, in both directions, on any JSON:
//! what conformance (validate, proxy) and loadgen run on messages from servers we did not write.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::profile::PROFILES;
use protocol::Direction;

fuzz_target!(|bytes: &[u8]| {
    let Ok(value) = protocol::codec::parse_json(bytes, 64 * 1024) else {
        return;
    };
    for profile in PROFILES {
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            if let Ok(kind) = profile.classify(direction, &value) {
                let _ = profile.decode(kind, value.clone());
            }
        }
        for kind in profile.kinds() {
            let _ = profile.decode(kind.name, value.clone());
        }
    }
});
