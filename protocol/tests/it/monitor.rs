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

use proptest::prelude::*;

static SCHEMAS: std::sync::LazyLock<SchemaSet> =
    std::sync::LazyLock::new(|| SchemaSet::load(&MONITOR).expect("monitor schemas compile"));

fn event_name() -> impl Strategy<Value = String> {
    let family = prop_oneof![
        Just("performance"),
        Just("alert"),
        Just("status"),
        Just("config"),
        Just("system"),
    ];
    (family, proptest::option::of("[a-z0-9_]{1,12}"))
        .prop_map(|(f, sub)| sub.map_or(f.to_owned(), |s| format!("{f}.{s}")))
}

fn filter_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "\\PC{0,12}".prop_map(Value::String),
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Generated subscribe messages (any events, filters and ids the profile allows): the Rust
    /// type accepts each and encodes it back unchanged, and the schema accepts it too.
    #[test]
    fn every_rust_subscribe_validates_and_round_trips(
        events in proptest::collection::vec(event_name(), 1..8),
        filters in proptest::option::of(proptest::collection::btree_map(
            "[a-z_]{1,10}",
            prop_oneof![filter_value(), proptest::collection::vec(filter_value(), 0..4).prop_map(Value::Array)],
            0..4,
        )),
        id in proptest::option::of("[a-z0-9-]{1,20}"),
    ) {
        let mut message = serde_json::json!({"type": "subscribe", "data": {"events": events}});
        if let Some(filters) = filters {
            message["data"]["filters"] = Value::Object(filters.into_iter().collect());
        }
        if let Some(id) = id {
            message["id"] = Value::String(id);
        }
        let schemas = &*SCHEMAS;
        let decoded = decode_client("subscribe", message.clone()).expect("the types accept it");
        prop_assert_eq!(decoded.to_value(), message.clone());
        let violations = schemas.violations("subscribe", &message);
        prop_assert!(schemas.is_valid("subscribe", &message), "{:?}", violations);
    }
}
