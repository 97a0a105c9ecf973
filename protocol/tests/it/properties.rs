//! Property tests: Rust types and JSON Schemas cannot drift apart, the decoder never panics,
//! and the validators and sanitizers keep their promises for any input.

use crate::support::{json_equal, NHEM_SCHEMAS};
use proptest::prelude::*;
use protocol::nhem::sanitize::{
    contains_dangerous_pattern, sanitize_data, sanitize_input, InputType, SAFE_REALTIME_FIELDS,
};
use protocol::nhem::validate::{is_dangerous_key, validate_config_data, validate_coordinates};
use protocol::nhem::*;
use protocol::{RuleKind, Timestamp};
use serde_json::{Map, Value};

// ---- strategies for every message type -------------------------------------------------

fn timestamp() -> impl Strategy<Value = Timestamp> {
    // 2000-01-01 .. 2100-01-01, with 0, 3, 6 or 9 fractional digits.
    (
        946_684_800i64..4_102_444_800,
        0u32..1_000_000_000,
        0usize..4,
    )
        .prop_map(|(secs, nanos, style)| {
            let at = time::OffsetDateTime::from_unix_timestamp(secs).expect("in range")
                + time::Duration::nanoseconds(i64::from(nanos));
            let micros = Timestamp::from_datetime_micros(at);
            let text = micros.as_str();
            let text = match style {
                0 => format!("{}Z", &text[..19]),
                1 => format!("{}Z", &text[..23]),
                2 => text.to_owned(),
                _ => format!("{}{:03}Z", &text[..26], nanos % 1000),
            };
            Timestamp::parse(&text).expect("generated timestamps are valid")
        })
}

fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), min..=max).prop_map(String::from_iter)
}

fn gray() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0..=255.0,
        Just(0.0),
        Just(255.0),
        (0u8..=255).prop_map(f64::from)
    ]
}

fn non_negative() -> impl Strategy<Value = f64> {
    prop_oneof![0.0..1e9, Just(0.0)]
}

fn frame_count() -> impl Strategy<Value = u64> {
    prop_oneof![0..100_000u64, Just(protocol::codec::MAX_SAFE_INTEGER)]
}

fn status() -> impl Strategy<Value = DetectionStatus> {
    prop_oneof![
        Just(DetectionStatus::Running),
        Just(DetectionStatus::Stopped),
        Just(DetectionStatus::Paused)
    ]
}

fn peak_signal() -> impl Strategy<Value = Option<PeakSignal>> {
    prop_oneof![
        Just(None),
        Just(Some(PeakSignal::NoPeak)),
        Just(Some(PeakSignal::Peak))
    ]
}

fn rect() -> impl Strategy<Value = Rect> {
    (0..MAX_COORDINATE, 0..MAX_COORDINATE)
        .prop_flat_map(|(x1, y1)| {
            (
                Just(x1),
                Just(y1),
                x1 + 1..=MAX_COORDINATE,
                y1 + 1..=MAX_COORDINATE,
            )
        })
        .prop_map(|(x1, y1, x2, y2)| Rect { x1, y1, x2, y2 })
}

fn password() -> impl Strategy<Value = String> {
    text(1, 256)
}

fn safe_key() -> impl Strategy<Value = String> {
    "[a-zA-Z_ ][a-zA-Z0-9_ ]{0,10}".prop_filter("not dangerous", |k| !is_dangerous_key(k))
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12..1e12f64).prop_map(Value::from),
        text(0, 12).prop_map(Value::String),
    ]
}

/// Configuration trees with safe keys at every depth.
fn config_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(safe_key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn config_tree() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(safe_key(), config_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

fn config_key() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}(\\.[a-z][a-z0-9_]{0,8}){1,3}".prop_filter("no dangerous segment", |k| {
        !k.split('.').any(is_dangerous_key)
    })
}

fn config_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6..1e6f64).prop_map(Value::from),
        text(0, 20).prop_map(Value::String),
    ]
}

fn ping_id() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text(1, 64))
}

fn command() -> impl Strategy<Value = ControlCommand> {
    proptest::sample::select(ControlCommand::ALL.to_vec())
}

/// One of the profile's codes, or a well-formed code of another server's.
fn error_code() -> impl Strategy<Value = protocol::WireErrorCode> {
    prop_oneof![
        proptest::sample::select(protocol::ErrorCode::ALL.to_vec()).prop_map(Into::into),
        "[A-Z][A-Z0-9]{0,9}(_[A-Z0-9]{1,8}){0,4}".prop_map(protocol::WireErrorCode::from),
    ]
}

fn roi_view() -> impl Strategy<Value = RoiView> {
    (rect(), 1..=MAX_COORDINATE, 1..=MAX_COORDINATE).prop_map(|(r, w, h)| RoiView::new(r, w, h))
}

fn envelope<T: std::fmt::Debug>(
    data: impl Strategy<Value = T>,
) -> impl Strategy<Value = Envelope<T>> {
    (timestamp(), data).prop_map(|(timestamp, data)| Envelope {
        timestamp,
        success: true,
        data,
    })
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        password().prop_map(|password| ClientMessage::Auth(Auth { password })),
        ping_id().prop_map(|id| ClientMessage::Ping(Ping { id })),
        Just(ClientMessage::GetStatus(GetStatus {})),
    ]
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let details = proptest::option::of((text(0, 256), json_leaf(), text(0, 256)).prop_map(
        |(parameter, value, constraint)| ErrorDetails {
            parameter,
            value,
            constraint,
        },
    ));
    prop_oneof![
        (any::<bool>(), text(1, 256)).prop_map(|(success, message)| ServerMessage::AuthResponse(
            AuthResponse { success, message }
        )),
        (
            timestamp(),
            frame_count(),
            gray(),
            peak_signal(),
            gray(),
            status()
        )
            .prop_map(
                |(timestamp, frame_count, current_value, peak_signal, baseline, status)| {
                    ServerMessage::Data(BroadcastFrame {
                        timestamp,
                        frame_count,
                        current_value,
                        peak_signal,
                        baseline,
                        status,
                    })
                }
            ),
        (
            timestamp(),
            status(),
            proptest::sample::select(vec![
                StatusReason::Initial,
                StatusReason::Request,
                StatusReason::Control,
                StatusReason::Config,
                StatusReason::Roi
            ]),
            frame_count(),
            non_negative(),
            1..=MAX_TARGET_FPS as u32,
            any::<u32>(),
            rect()
        )
            .prop_map(
                |(timestamp, status, reason, frame_count, fps, target_fps, clients, roi)| {
                    ServerMessage::Status(StatusMessage {
                        timestamp,
                        status,
                        reason,
                        frame_count,
                        fps,
                        target_fps,
                        connected_clients: u64::from(clients),
                        roi,
                    })
                }
            ),
        (timestamp(), ping_id())
            .prop_map(|(timestamp, id)| ServerMessage::Pong(Pong { timestamp, id })),
        (
            timestamp(),
            error_code(),
            text(1, 1024),
            details,
            proptest::option::of(non_negative())
        )
            .prop_map(
                |(timestamp, error_code, error_message, details, retry_after)| {
                    ServerMessage::Error(ErrorMessage {
                        timestamp,
                        error_code,
                        error_message,
                        details,
                        retry_after,
                    })
                }
            ),
    ]
}

fn realtime_data() -> impl Strategy<Value = RealtimeData> {
    let point = (non_negative(), gray()).prop_map(|(t, value)| SeriesPoint { t, value });
    let peak = proptest::option::of(
        (
            frame_count(),
            timestamp(),
            gray(),
            non_negative(),
            proptest::option::of(non_negative()),
        )
            .prop_map(|(frame_count, timestamp, value, prominence, interval_ms)| {
                EnhancedPeak {
                    frame_count,
                    timestamp,
                    value,
                    prominence,
                    interval_ms,
                }
            }),
    );
    let roi_data = (1..=MAX_THUMBNAIL_SIDE, 1..=MAX_THUMBNAIL_SIDE, gray())
        .prop_flat_map(|(w, h, g)| {
            (
                Just(w),
                Just(h),
                proptest::collection::vec(any::<u8>(), (w * h) as usize),
                Just(g),
            )
        })
        .prop_map(|(w, h, bytes, g)| RoiData::from_gray_bytes(w, h, &bytes, g));
    (
        timestamp(),
        frame_count(),
        proptest::collection::vec(point, 0..50),
        peak_signal(),
        peak,
        gray(),
        roi_data,
    )
        .prop_map(
            |(timestamp, frame_count, series, peak_signal, enhanced_peak, baseline, roi_data)| {
                RealtimeData {
                    timestamp,
                    frame_count,
                    series,
                    peak_signal,
                    enhanced_peak,
                    baseline,
                    roi_data,
                }
            },
        )
}

fn http_response() -> impl Strategy<Value = HttpResponse> {
    let system = (
        status(),
        frame_count(),
        non_negative(),
        1..=MAX_TARGET_FPS as u32,
        non_negative(),
        any::<u32>(),
        rect(),
    )
        .prop_map(
            |(status, frame_count, fps, target_fps, uptime_s, clients, roi)| SystemStatus {
                status,
                frame_count,
                fps,
                target_fps,
                uptime_s,
                connected_clients: u64::from(clients),
                roi,
            },
        );
    prop_oneof![
        envelope(non_negative().prop_map(|uptime_s| Health {
            status: HealthState::Ok,
            uptime_s
        }))
        .prop_map(HttpResponse::Health),
        envelope(system).prop_map(HttpResponse::SystemStatus),
        realtime_data().prop_map(HttpResponse::RealtimeData),
        envelope(
            (command(), status(), status()).prop_map(|(command, status, previous_status)| {
                ControlResult {
                    command,
                    status,
                    previous_status,
                }
            })
        )
        .prop_map(HttpResponse::ControlResponse),
        envelope(
            (proptest::option::of("[a-z]{1,64}"), config_tree()).prop_map(|(section, config)| {
                ConfigView {
                    section,
                    config: ConfigTree(config),
                }
            })
        )
        .prop_map(HttpResponse::Config),
        envelope(
            (
                config_key(),
                config_scalar(),
                proptest::option::of(config_scalar())
            )
                .prop_map(|(key, value, previous_value)| ConfigChange {
                    key,
                    value,
                    previous_value
                })
        )
        .prop_map(HttpResponse::ConfigUpdate),
        envelope(roi_view()).prop_map(HttpResponse::Roi),
        envelope((roi_view(), rect()).prop_map(|(v, previous)| RoiChange {
            x1: v.x1,
            y1: v.y1,
            x2: v.x2,
            y2: v.y2,
            frame_width: v.frame_width,
            frame_height: v.frame_height,
            previous
        }))
        .prop_map(HttpResponse::RoiUpdate),
    ]
}

fn http_request() -> impl Strategy<Value = HttpRequest> {
    prop_oneof![
        (command(), password()).prop_map(|(command, password)| HttpRequest::Control(
            ControlRequest { command, password }
        )),
        (config_key(), text(0, 256), password()).prop_map(|(key, value, password)| {
            HttpRequest::ConfigSet(ConfigSetRequest {
                key,
                value,
                password,
            })
        }),
        (rect(), password()).prop_map(|(r, password)| HttpRequest::RoiSet(RoiSetRequest {
            x1: r.x1,
            y1: r.y1,
            x2: r.x2,
            y2: r.y2,
            password
        })),
    ]
}

fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        client_message().prop_map(Message::Client),
        server_message().prop_map(Message::Server),
        http_response().prop_map(Message::HttpResponse),
        http_request().prop_map(Message::HttpRequest),
    ]
}

/// A valid message of any kind, then one change: none, a member removed, a member's value
/// replaced by an arbitrary leaf, or an unknown member added.
fn mutated_message() -> impl Strategy<Value = (MessageKind, Value)> {
    (
        any_message(),
        0..4usize,
        any::<proptest::sample::Index>(),
        json_leaf(),
    )
        .prop_map(|(message, change, at, leaf)| {
            let kind = message.kind();
            let mut value = message.to_value();
            if let Value::Object(object) = &mut value {
                let keys: Vec<String> = object.keys().cloned().collect();
                let key = (!keys.is_empty()).then(|| keys[at.index(keys.len())].clone());
                match (change, key) {
                    (1, Some(key)) => {
                        object.remove(&key);
                    }
                    (2, Some(key)) => {
                        object.insert(key, leaf);
                    }
                    (3, _) => {
                        object.insert("unexpected_member".into(), leaf);
                    }
                    _ => {}
                }
            }
            (kind, value)
        })
}

/// Runs `test` on a thread with a 64 MiB stack: building the nested message strategies
/// overflows the default 2 MiB of a test thread in debug builds.
fn with_deep_stack(test: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(test)
        .expect("thread starts")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

/// Whatever JSON arrives under a known `type`, the decoder never panics, and anything it
/// accepts, the schema accepts too (Rust is never more lenient than the contract). The inputs
/// are valid messages with one member removed, retyped or added, so both verdicts occur for
/// every kind (`mutated_messages_reach_both_verdicts_for_every_kind` checks it).
#[test]
fn decoder_accepts_only_what_the_schema_accepts() {
    with_deep_stack(|| {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(1024));
        let result = runner.run(&mutated_message(), |(kind, value)| {
            if decode(kind, value.clone()).is_ok() {
                prop_assert!(
                    NHEM_SCHEMAS.is_valid(kind.name(), &value),
                    "{} accepted by Rust only: {value}",
                    kind.name()
                );
            }
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
    });
}

/// The property above means something only if its inputs reach both verdicts for every
/// kind: count them over a fixed-seed sample.
#[test]
fn mutated_messages_reach_both_verdicts_for_every_kind() {
    with_deep_stack(|| {
        use proptest::strategy::ValueTree;
        use std::collections::BTreeMap;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = mutated_message();
        let mut verdicts: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        for _ in 0..4000 {
            let (kind, value) = strategy.new_tree(&mut runner).expect("generates").current();
            let entry = verdicts.entry(kind.name()).or_default();
            if decode(kind, value).is_ok() {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
        let thin: Vec<String> = MessageKind::ALL
            .iter()
            .map(|k| {
                (
                    k.name(),
                    verdicts.get(k.name()).copied().unwrap_or_default(),
                )
            })
            .filter(|(_, (accepted, refused))| *accepted < 5 || *refused < 5)
            .map(|(name, (accepted, refused))| {
                format!("{name}: {accepted} accepted, {refused} refused")
            })
            .collect();
        assert!(
            thin.is_empty(),
            "kinds the property barely exercises: {thin:?}"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Types and schemas cannot drift: every value of every Rust message type validates
    /// against its schema, and decodes back to itself.
    #[test]
    fn every_rust_message_validates_against_its_schema(message in any_message()) {
        let kind = message.kind();
        let json = message.to_value();
        let violations = NHEM_SCHEMAS.violations(kind.name(), &json).expect("schema exists");
        prop_assert!(violations.is_empty(), "{} {json}: {violations:?}", kind.name());
        let back = decode(kind, json.clone()).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert!(json_equal(&back.to_value(), &json));
    }

    /// The WebSocket parser never panics, whatever the bytes.
    #[test]
    fn client_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_client_message(&bytes, 1024);
        let _ = parse_server_message(&bytes, 1024);
    }

    /// Free text: sanitizing is idempotent and its output never holds a dangerous pattern.
    #[test]
    fn text_sanitizing_is_idempotent_and_safe(
        input in proptest::collection::vec(
            prop_oneof![
                Just("<script>".to_owned()), Just("</SCRIPT >".to_owned()), Just("java".to_owned()),
                Just("script:".to_owned()), Just("javascript:".to_owned()), Just(" on".to_owned()),
                Just("click=".to_owned()), Just("expression(".to_owned()), Just("vbscript :".to_owned()),
                Just("&#58;".to_owned()), text(0, 4),
            ],
            0..12,
        ).prop_map(|parts| parts.concat())
    ) {
        let once = sanitize_input(&input, InputType::Text).expect("text is always accepted when short");
        prop_assert!(!contains_dangerous_pattern(&once), "{input:?} -> {once:?}");
        prop_assert!(!once.contains(['<', '>', '"', '\'', '&']));
        let twice = sanitize_input(&once, InputType::Text).expect("still text");
        prop_assert_eq!(once, twice);
    }

    /// Typed inputs: whatever is accepted is accepted again unchanged (idempotent), and never
    /// carries a dangerous pattern.
    #[test]
    fn typed_sanitizing_is_idempotent(
        input in prop_oneof!["-?[0-9]{0,20}(\\.[0-9]{0,5})?", "[a-zA-Z0-9_.<>:=() -]{0,20}", "https?://[a-z.&?=/<>\" ]{0,20}", text(0, 20)],
        input_type in proptest::sample::select(InputType::ALL.to_vec()),
    ) {
        if let Ok(once) = sanitize_input(&input, input_type) {
            prop_assert!(!contains_dangerous_pattern(&once) || input_type == InputType::Url, "{input:?} -> {once:?}");
            prop_assert_eq!(sanitize_input(&once, input_type), Ok(once));
        }
    }

    /// Integers accepted by the integer sanitizer parse as i64, as the server will parse them.
    #[test]
    fn accepted_integers_parse(input in "[ +-]?[0-9]{1,20}[ ]?") {
        if let Ok(clean) = sanitize_input(&input, InputType::Integer) {
            prop_assert!(clean.parse::<i64>().is_ok());
        }
    }

    /// `sanitize_data` keeps only safe fields and is idempotent.
    #[test]
    fn sanitize_data_is_idempotent(object in proptest::collection::btree_map(
        prop_oneof![proptest::sample::select(SAFE_REALTIME_FIELDS.to_vec()).prop_map(str::to_owned), "[a-z_]{1,8}"],
        json_leaf(), 0..10)
    ) {
        let data = Value::Object(object.into_iter().collect());
        let once = sanitize_data(&data);
        let keys: Vec<&String> = once.as_object().expect("object").keys().collect();
        prop_assert!(keys.iter().all(|k| SAFE_REALTIME_FIELDS.contains(&k.as_str())));
        prop_assert_eq!(sanitize_data(&once), once);
    }

    /// `validate_coordinates` accepts exactly the rectangles its rules allow.
    #[test]
    fn coordinates_accept_exactly_the_allowed_rectangles(
        c in proptest::array::uniform4(prop_oneof![-20_000i64..20_000, 0i64..=10_000, Just(0i64), Just(10_000i64), Just(10_001i64)])
    ) {
        let [x1, y1, x2, y2] = c;
        let in_bounds = c.iter().all(|v| (0..=10_000).contains(v));
        let allowed = in_bounds && x1 < x2 && y1 < y2;
        prop_assert_eq!(validate_coordinates(x1, y1, x2, y2).is_ok(), allowed, "{:?}", c);
    }

    /// The ROI rules of the Rust types and of `validate_coordinates` agree.
    #[test]
    fn roi_request_and_validate_coordinates_agree(c in proptest::array::uniform4(0u32..=10_500)) {
        let [x1, y1, x2, y2] = c;
        let request = serde_json::json!({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "password": "31415"});
        let typed = decode(MessageKind::RoiSetRequest, request).is_ok();
        let seed = validate_coordinates(x1.into(), y1.into(), x2.into(), y2.into()).is_ok();
        prop_assert_eq!(typed, seed);
    }

    /// Dangerous config keys are rejected at any depth, in any case, by the seed validator,
    /// by the Rust types and by the schema; safe trees are accepted by all three.
    #[test]
    fn dangerous_config_keys_are_rejected_at_any_depth(
        tree in config_tree(),
        route in proptest::collection::vec(safe_key(), 0..5),
        bad in prop_oneof![
            proptest::sample::select(vec!["eval", "exec", "open", "file", "__import__", "EVAL", "Exec", "__class__", "__proto__", "__x"]).prop_map(str::to_owned),
        ],
    ) {
        let safe = Value::Object(tree.clone());
        prop_assert!(validate_config_data(&safe).is_ok());
        let message = |config: Value| serde_json::json!({
            "type": "config", "timestamp": "2025-12-05T12:30:45.123Z", "success": true,
            "data": {"section": null, "config": config}
        });
        prop_assert!(decode(MessageKind::Config, message(safe.clone())).is_ok());
        prop_assert!(NHEM_SCHEMAS.is_valid("config", &message(safe.clone())));

        // Plant the dangerous key at the end of `route` (creating objects along the way).
        let mut poisoned = safe;
        let mut cursor = &mut poisoned;
        for step in &route {
            let object = cursor.as_object_mut().expect("cursor is an object");
            let next = object.entry(step.clone()).or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            cursor = next;
        }
        cursor.as_object_mut().expect("cursor is an object").insert(bad.clone(), Value::from(1));

        let seed = validate_config_data(&poisoned).expect_err("seed validator rejects");
        prop_assert_eq!(seed.kind, RuleKind::DangerousKey);
        let rust = decode(MessageKind::Config, message(poisoned.clone())).expect_err("Rust rejects");
        prop_assert_eq!(rust.rule.map(|r| r.kind), Some(RuleKind::DangerousKey));
        let schema = NHEM_SCHEMAS.violations("config", &message(poisoned)).expect("schema exists");
        prop_assert!(schema.iter().any(|v| v.rule.kind == RuleKind::DangerousKey), "{schema:?}");
    }
}
