//! The ECG profile's types: snapshots of both kinds, and properties that keep the Rust types
//! inside the schemas and the decoder total.

use proptest::prelude::*;
use protocol::ecg::{decode, EcgFrame, Message, StartStream, ECG, MAX_POINTS};
use protocol::schema::SchemaSet;
use protocol::{Direction, Profile, Timestamp};
use serde_json::{json, Value};
use std::sync::LazyLock;

static ECG_SCHEMAS: LazyLock<SchemaSet> =
    LazyLock::new(|| SchemaSet::load(&ECG).expect("ECG schemas compile"));

fn canonical() -> Vec<Message> {
    vec![
        Message::Frame(EcgFrame {
            points: vec![-0.052, -0.049, 0.118, 1.137, -0.221, 0.004],
            timestamp: Some(Timestamp::now()),
        }),
        Message::StartStream(StartStream {
            user_id: "123".into(),
        }),
    ]
}

#[test]
fn every_ecg_kind_has_a_reviewed_snapshot() {
    for message in canonical() {
        let value = message.to_value();
        let violations = ECG_SCHEMAS
            .violations(message.kind(), &value)
            .expect("schema exists");
        assert!(violations.is_empty(), "{}: {violations:?}", message.kind());
        insta::assert_json_snapshot!(format!("ecg_{}", message.kind()), value, {
            ".timestamp" => "[timestamp]",
        });
    }
}

fn point() -> impl Strategy<Value = f64> {
    // mV rounded to 3 decimals, as servers send them, and wilder values.
    prop_oneof![
        (-5000i32..5000).prop_map(|m| f64::from(m) / 1000.0),
        -1e9..1e9f64,
    ]
}

fn frame() -> impl Strategy<Value = EcgFrame> {
    (
        proptest::collection::vec(point(), 1..200),
        proptest::option::of((946_684_800i64..4_102_444_800, 0i64..1_000_000)),
    )
        .prop_map(|(points, at)| EcgFrame {
            points,
            timestamp: at
                .map(|(s, us)| protocol::timestamp::format_unix_micros(s * 1_000_000 + us)),
        })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6..1e6f64).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        proptest::collection::vec((-10.0..10.0f64).prop_map(Value::from), 0..4)
            .prop_map(Value::Array),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every Rust frame validates against the schema, is classified as a frame, and decodes
    /// back to itself.
    #[test]
    fn every_rust_frame_validates_and_round_trips(frame in frame()) {
        let value = Message::Frame(frame.clone()).to_value();
        let violations = ECG_SCHEMAS.violations("ecg_frame", &value).expect("schema exists");
        prop_assert!(violations.is_empty(), "{value}: {violations:?}");
        prop_assert_eq!(ECG.classify(Direction::ServerToClient, &value), Ok("ecg_frame"));
        prop_assert_eq!(decode("ecg_frame", value).expect("decodes"), Message::Frame(frame));
    }

    /// Every start_stream with a user id of 1–256 characters validates and round-trips.
    #[test]
    fn every_rust_start_stream_validates_and_round_trips(user_id in "\\PC{1,256}") {
        let message = Message::StartStream(StartStream { user_id });
        let value = message.to_value();
        prop_assert!(ECG_SCHEMAS.is_valid("start_stream", &value), "{value}");
        prop_assert_eq!(ECG.classify(Direction::ClientToServer, &value), Ok("start_stream"));
        prop_assert_eq!(decode("start_stream", value).expect("decodes"), message);
    }

    /// The decoder accepts exactly what the schema accepts, on objects built from the
    /// profile's member names and arbitrary values; it never panics.
    #[test]
    fn decoder_accepts_only_what_the_schema_accepts(
        kind in proptest::sample::select(vec!["ecg_frame", "start_stream"]),
        members in proptest::collection::btree_map(
            proptest::sample::select(vec!["points", "timestamp", "type", "user_id", "seq"]),
            leaf(),
            0..4,
        ),
    ) {
        let value = Value::Object(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let schema_ok = ECG_SCHEMAS.is_valid(kind, &value);
        let decoder_ok = decode(kind, value.clone()).is_ok();
        prop_assert_eq!(decoder_ok, schema_ok, "{} {}", kind, value);
    }
}

#[test]
fn the_point_limit_is_the_schemas() {
    let at_limit = json!({"points": vec![0.0; MAX_POINTS]});
    let over = json!({"points": vec![0.0; MAX_POINTS + 1]});
    assert!(ECG_SCHEMAS.is_valid("ecg_frame", &at_limit) && decode("ecg_frame", at_limit).is_ok());
    assert!(!ECG_SCHEMAS.is_valid("ecg_frame", &over));
    assert_eq!(
        decode("ecg_frame", over)
            .expect_err("too many")
            .rule
            .map(|r| r.to_string())
            .as_deref(),
        Some("length:points")
    );
}
