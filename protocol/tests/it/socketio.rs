//! Properties of the Engine.IO v4 / Socket.IO v5 codec: decoding never panics on any input,
//! and every packet survives encode then decode unchanged (text frames, polling payloads).

use proptest::prelude::*;
use protocol::socketio::{
    decode_payload, encode_payload, EioData, EioPacket, SioKind, SioPacket, SEPARATOR,
};
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map("[a-z_]{1,6}", json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Valid packets of every kind, as the specification allows them.
fn sio_packet() -> impl Strategy<Value = SioPacket> {
    let namespace = prop_oneof![Just("/".to_owned()), "/[a-z]{1,8}"];
    let args = proptest::collection::vec(json_value(), 0..3);
    (
        proptest::sample::select(SioKind::ALL.to_vec()),
        namespace,
        0u32..5,
        proptest::option::of(0u64..1_000_000),
        "[a-z_]{1,10}",
        args,
        object(),
        proptest::option::of(object()),
        any::<bool>(),
    )
        .prop_map(
            |(kind, namespace, attachments, id, name, args, obj, maybe_obj, flag)| {
                let event = || {
                    let mut items = vec![Value::from(name.clone())];
                    items.extend(args.clone());
                    Some(Value::Array(items))
                };
                let (data, ack_id) = match kind {
                    SioKind::Connect => (maybe_obj, None),
                    SioKind::Disconnect => (None, None),
                    SioKind::Event | SioKind::BinaryEvent => (event(), id),
                    SioKind::Ack | SioKind::BinaryAck => {
                        (Some(Value::Array(args.clone())), Some(id.unwrap_or(0)))
                    }
                    SioKind::ConnectError => (
                        Some(if flag { obj } else { Value::from(name.clone()) }),
                        None,
                    ),
                };
                let binary = matches!(kind, SioKind::BinaryEvent | SioKind::BinaryAck);
                SioPacket {
                    kind,
                    namespace,
                    attachments: if binary { attachments } else { 0 },
                    ack_id,
                    data,
                }
            },
        )
}

/// Engine.IO packets; text without the polling separator (it cannot occur inside a payload).
fn eio_packet() -> impl Strategy<Value = EioPacket> {
    let text = "[^\u{1e}]{0,16}";
    let probe = proptest::option::of("[a-z]{1,6}");
    prop_oneof![
        text.prop_map(EioPacket::Open),
        Just(EioPacket::Close),
        probe.clone().prop_map(EioPacket::Ping),
        probe.prop_map(EioPacket::Pong),
        text.prop_map(|t| EioPacket::Message(EioData::Text(t))),
        proptest::collection::vec(any::<u8>(), 0..16)
            .prop_map(|b| EioPacket::Message(EioData::Binary(b))),
        Just(EioPacket::Upgrade),
        Just(EioPacket::Noop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_never_panic(text in ".{0,64}", bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let lossy = String::from_utf8_lossy(&bytes);
        for input in [text.as_str(), &lossy] {
            let _ = EioPacket::from_text(input);
            let _ = EioPacket::from_polling(input);
            let _ = decode_payload(input);
            let _ = SioPacket::decode(input);
        }
    }

    #[test]
    fn socketio_packets_survive_encode_then_decode(packet in sio_packet()) {
        let text = packet.encode();
        prop_assert_eq!(SioPacket::decode(&text), Ok(packet), "{}", text);
    }

    #[test]
    fn engineio_packets_survive_text_frames_and_polling_payloads(
        packets in proptest::collection::vec(eio_packet(), 1..6)
    ) {
        for packet in &packets {
            if let Some(text) = packet.to_text() {
                prop_assert_eq!(&EioPacket::from_text(&text).expect("decodes"), packet);
            }
        }
        let payload = encode_payload(&packets);
        prop_assert_eq!(payload.matches(SEPARATOR).count(), packets.len() - 1);
        prop_assert_eq!(decode_payload(&payload), Ok(packets));
    }
}

/// Found by `fuzz/fuzz_targets/socketio_codec.rs`: a number with more significant digits than
/// a double holds (`-5555…5550.000`, 107 digits) parsed to one value, re-encoded as the
/// shortest text of that value, and parsed back to a neighbouring double, so a packet did not
/// survive its own round trip. serde_json now parses floats exactly (`float_roundtrip`).
#[test]
fn a_long_number_survives_the_round_trip() {
    let text = format!(
        r#"21["current_app", {{"points": [-{}0.000, -0.014, 1.06, 2]}}]"#,
        "5".repeat(106)
    );
    let packet = SioPacket::decode(&text).expect("decodes");
    assert_eq!(SioPacket::decode(&packet.encode()), Ok(packet));
}
