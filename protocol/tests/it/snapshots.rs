//! insta snapshots: one canonical instance of every message type, as it goes on the wire.
//! A change to a wire format shows up as a reviewed diff in `snapshots/`.
//! Timestamps are taken from the clock and redacted, so the snapshots pin the shape only.

use crate::support::NHEM_SCHEMAS;
use protocol::nhem::*;
use protocol::{ErrorCode, Timestamp};
use serde_json::json;

const ROI: Rect = Rect {
    x1: 100,
    y1: 80,
    x2: 164,
    y2: 144,
};

fn envelope<T>(data: T) -> Envelope<T> {
    Envelope::ok(data)
}

fn canonical(kind: MessageKind) -> Message {
    use MessageKind as K;
    let password = "31415".to_owned();
    match kind {
        K::Auth => Message::Client(ClientMessage::Auth(Auth { password })),
        K::Ping => Message::Client(ClientMessage::Ping(Ping {
            id: Some("hb-1".into()),
        })),
        K::GetStatus => Message::Client(ClientMessage::GetStatus(GetStatus {})),
        K::AuthResponse => Message::Server(ServerMessage::AuthResponse(AuthResponse {
            success: true,
            message: "Authentication successful".into(),
        })),
        K::Data => Message::Server(ServerMessage::Data(BroadcastFrame {
            timestamp: Timestamp::now(),
            frame_count: 1250,
            current_value: 127.45,
            peak_signal: Some(PeakSignal::Peak),
            baseline: 120.0,
            status: DetectionStatus::Running,
        })),
        K::Status => Message::Server(ServerMessage::Status(StatusMessage {
            timestamp: Timestamp::now(),
            status: DetectionStatus::Running,
            reason: StatusReason::Control,
            frame_count: 1250,
            fps: 59.98,
            target_fps: 60,
            connected_clients: 3,
            roi: ROI,
        })),
        K::Pong => Message::Server(ServerMessage::Pong(Pong {
            timestamp: Timestamp::now(),
            id: Some("hb-1".into()),
        })),
        K::Error => Message::Server(ServerMessage::Error(
            ErrorMessage::new(
                ErrorCode::ValidationError,
                "count must be between 1 and 1000",
            )
            .with_details("count", json!("5000"), "1 <= count <= 1000"),
        )),
        K::Health => Message::HttpResponse(HttpResponse::Health(envelope(Health {
            status: HealthState::Ok,
            uptime_s: 12.5,
        }))),
        K::SystemStatus => {
            Message::HttpResponse(HttpResponse::SystemStatus(envelope(SystemStatus {
                status: DetectionStatus::Running,
                frame_count: 1250,
                fps: 59.98,
                target_fps: 60,
                uptime_s: 20.8,
                connected_clients: 3,
                roi: ROI,
            })))
        }
        K::RealtimeData => Message::HttpResponse(HttpResponse::RealtimeData(RealtimeData {
            timestamp: Timestamp::now(),
            frame_count: 1250,
            series: vec![
                SeriesPoint {
                    t: 20.8,
                    value: 126.5,
                },
                SeriesPoint {
                    t: 20.816,
                    value: 127.45,
                },
            ],
            peak_signal: Some(PeakSignal::NoPeak),
            enhanced_peak: Some(EnhancedPeak {
                frame_count: 1230,
                timestamp: Timestamp::now(),
                value: 141.2,
                prominence: 21.2,
                interval_ms: Some(833.3),
            }),
            baseline: 120.0,
            roi_data: RoiData::from_gray_bytes(2, 2, &[120, 121, 130, 131], 125.5),
        })),
        K::ControlRequest => Message::HttpRequest(HttpRequest::Control(ControlRequest {
            command: ControlCommand::StartDetection,
            password,
        })),
        K::ControlResponse => {
            Message::HttpResponse(HttpResponse::ControlResponse(envelope(ControlResult {
                command: ControlCommand::PauseDetection,
                status: DetectionStatus::Paused,
                previous_status: DetectionStatus::Running,
            })))
        }
        K::Config => Message::HttpResponse(HttpResponse::Config(envelope(ConfigView {
            section: Some("detection".into()),
            config: ConfigTree(
                json!({"detection": {"threshold": 8.0, "hysteresis": 2.0, "refractory_ms": 250}})
                    .as_object()
                    .expect("object literal")
                    .clone(),
            ),
        }))),
        K::ConfigSetRequest => Message::HttpRequest(HttpRequest::ConfigSet(ConfigSetRequest {
            key: "detection.threshold".into(),
            value: "9.5".into(),
            password,
        })),
        K::ConfigUpdate => {
            Message::HttpResponse(HttpResponse::ConfigUpdate(envelope(ConfigChange {
                key: "detection.threshold".into(),
                value: json!(9.5),
                previous_value: Some(json!(8.0)),
            })))
        }
        K::Roi => Message::HttpResponse(HttpResponse::Roi(envelope(RoiView::new(ROI, 640, 480)))),
        K::RoiSetRequest => Message::HttpRequest(HttpRequest::RoiSet(RoiSetRequest {
            x1: 10,
            y1: 20,
            x2: 74,
            y2: 84,
            password,
        })),
        K::RoiUpdate => Message::HttpResponse(HttpResponse::RoiUpdate(envelope(RoiChange {
            x1: 10,
            y1: 20,
            x2: 74,
            y2: 84,
            frame_width: 640,
            frame_height: 480,
            previous: ROI,
        }))),
    }
}

#[test]
fn every_message_type_has_a_reviewed_snapshot() {
    for kind in MessageKind::ALL {
        let message = canonical(kind);
        assert_eq!(message.kind(), kind);
        let value = message.to_value();
        // A snapshot of an invalid message would pin a bug; check the contract first.
        let violations = NHEM_SCHEMAS
            .violations(kind.name(), &value)
            .expect("schema exists");
        assert!(violations.is_empty(), "{}: {violations:?}", kind.name());
        insta::assert_json_snapshot!(kind.name(), value, {
            ".timestamp" => "[timestamp]",
            ".enhanced_peak.timestamp" => "[timestamp]",
        });
    }
}
