//! The handler profile's types: one reviewed snapshot per kind (the kind's first valid fixture
//! decoded into its Rust type and encoded again), and property tests that what the types
//! accept the schemas accept, for the kinds with free-form members.

use protocol::handler::{
    classify, decode_client, decode_server, parse_client_message, Refusal, CLIENT_KINDS, HANDLER,
    SERVER_KINDS,
};
use protocol::schema::SchemaSet;
use protocol::Direction;
use serde_json::{json, Value};
use std::path::PathBuf;

static SCHEMAS: std::sync::LazyLock<SchemaSet> =
    std::sync::LazyLock::new(|| SchemaSet::load(&HANDLER).expect("handler schemas compile"));

#[test]
fn every_handler_kind_has_a_reviewed_snapshot() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/handler/valid");
    for info in CLIENT_KINDS.iter().chain(SERVER_KINDS) {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(info.kind))
            .expect("a fixture folder per kind")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        let text = std::fs::read_to_string(&paths[0]).expect("readable");
        let message: Value = serde_json::from_str(&text).expect("JSON");
        let value = if CLIENT_KINDS.contains(info) {
            decode_client(info.kind, message).map(|m| m.to_value())
        } else {
            decode_server(info.kind, message).map(|m| m.to_value())
        }
        .expect("a valid fixture decodes");
        assert!(
            SCHEMAS.is_valid(info.kind, &value),
            "{}: {value}",
            info.kind
        );
        insta::assert_json_snapshot!(format!("handler_{}", info.kind), value);
    }
}

use proptest::prelude::*;

/// Any JSON value, a few levels deep: application payloads are open.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:-]{1,40}"
}

fn client_timestamp() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(prop_oneof![
        "[0-9T:.-]{0,30}".prop_map(Value::String),
        any::<u32>().prop_map(Value::from),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Generated client messages with free payloads: the Rust type accepts each, encodes it
    /// back unchanged, the schema accepts it, and the direction classifies it.
    #[test]
    fn generated_client_messages_pass_type_and_schema(
        topic in name(), id in name(), data in any_json(), ts in client_timestamp(),
        method in name(), seq in 0u64..1_000_000, pick in 0usize..5,
    ) {
        let mut message = match pick {
            0 => json!({"type": "publish", "topic": topic, "data": data}),
            1 => json!({"type": "rpc_call", "requestId": id, "method": method, "params": data}),
            2 => json!({"type": "request", "requestId": id, "endpoint": method, "data": data}),
            3 => json!({"type": "stream_data", "streamId": id, "data": data, "sequenceNumber": seq}),
            _ => json!({"type": "response", "requestId": id, "success": seq % 2 == 0, "data": data, "error": Value::Null}),
        };
        if let Some(ts) = ts {
            message["timestamp"] = ts;
        }
        let kind = classify(Direction::ClientToServer, &message).expect("classified");
        let decoded = decode_client(kind, message.clone());
        prop_assert!(decoded.is_ok(), "{kind} refused {message}: {decoded:?}");
        prop_assert_eq!(decoded.expect("decoded").to_value(), message.clone());
        prop_assert!(SCHEMAS.is_valid(kind, &message), "{} schema refused {}", kind, message);
    }

    /// A `data` payload of any members and a `sensor_data` reading with any extra members.
    #[test]
    fn generated_data_and_readings_pass_type_and_schema(
        members in proptest::collection::btree_map("[a-z_]{1,10}", any_json(), 0..6),
        temperature in -50.0f64..80.0, request_id in proptest::option::of(name()),
    ) {
        let mut data = json!({"type": "data", "data": Value::Object(members.clone().into_iter().collect())});
        if let Some(id) = &request_id {
            data["requestId"] = json!(id);
        }
        let mut reading: serde_json::Map<String, Value> = members
            .into_iter()
            .filter(|(k, _)| !["type", "temperature", "humidity", "sensor_id", "location", "battery_level", "timestamp"].contains(&k.as_str()))
            .collect();
        reading.insert("type".into(), json!("sensor_data"));
        reading.insert("temperature".into(), json!(temperature));
        for message in [data, Value::Object(reading)] {
            let kind = classify(Direction::ClientToServer, &message).expect("classified");
            let decoded = decode_client(kind, message.clone()).map(|m| m.to_value());
            prop_assert_eq!(decoded.as_ref().ok(), Some(&message), "{}", kind);
            prop_assert!(SCHEMAS.is_valid(kind, &message), "{} schema refused {}", kind, message);
        }
    }

    /// The parser never panics on arbitrary bytes, and what it accepts the schema accepts.
    #[test]
    fn the_client_parser_never_panics_and_agrees_with_the_schema(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        match parse_client_message(&bytes, 1024) {
            Ok(message) => {
                let value = message.to_value();
                prop_assert!(SCHEMAS.is_valid(message.kind(), &value), "{}", value);
            }
            Err(Refusal::InvalidJson(_) | Refusal::UnknownType(_) | Refusal::Invalid { .. }) => {}
        }
    }
}
