//! The monitor profile's types: one reviewed snapshot per kind, of the kind's first valid
//! fixture decoded into its Rust type and encoded again, so a change of the wire format through
//! the types is a reviewed diff.

use protocol::monitor::client::{decode_client, CLIENT_KINDS};
use protocol::monitor::server::{decode_server, SERVER_KINDS};
use protocol::monitor::MONITOR;
use protocol::schema::SchemaSet;
use serde_json::Value;
use std::path::PathBuf;

#[test]
fn every_monitor_kind_has_a_reviewed_snapshot() {
    let schemas = SchemaSet::load(&MONITOR).expect("monitor schemas compile");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/monitor/valid");
    for kind in SERVER_KINDS.iter().chain(CLIENT_KINDS.iter()) {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(kind))
            .expect("a fixture folder per kind")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        let text = std::fs::read_to_string(&paths[0]).expect("readable");
        let message: Value = serde_json::from_str(&text).expect("JSON");
        let value = if CLIENT_KINDS.contains(kind) {
            decode_client(kind, message).map(|m| m.to_value())
        } else {
            decode_server(kind, message).map(|m| m.to_value())
        }
        .expect("a valid fixture decodes");
        assert!(schemas.is_valid(kind, &value), "{kind}: {value}");
        insta::assert_json_snapshot!(format!("monitor_{kind}"), value);
    }
}
