//! RetroBoard: command → event fan-out. Every client joins `/` on the WebSocket transport
//! (its session starts when its initial state is complete: `carousel_config` is the last of
//! the four, in either order relative to the CONNECT answer), answers Engine.IO pings, and
//! reads `current_app`. loadgen's own REST driver posts `POST /api/config
//! {"config": {"_seq": n, "_sent_us": t}}` on absolute deadlines; the server passes config
//! keys through, so every client's latency is its event's arrival − `_sent_us` (one clock:
//! the generator's) and loss is told by `_seq`. The POST's answer time is the report's `rtt`.

use super::{Backoff, LoadProfile, StreamPoint, Unwrapped};
use protocol::profile::{Delivery, LossSignal, StreamSpec};
use protocol::socketio::{EioData, EioPacket, SioKind, SioPacket};
use protocol::Profile;
use serde_json::{json, Value};
use std::time::Duration;

pub struct RetroBoardLoad;

/// 20 commands a second unless `--interval` says otherwise.
static FANOUT: StreamSpec = StreamSpec {
    kind: "current_app",
    delivery: Delivery::Broadcast,
    period: Duration::from_millis(50),
    timestamp: Some("/payload/config/_sent_us"),
    loss: LossSignal::Sequence {
        pointer: "/payload/config/_seq",
    },
};

impl LoadProfile for RetroBoardLoad {
    fn profile(&self) -> &'static dyn Profile {
        &protocol::retroboard::RETROBOARD
    }
    fn default_ws(&self) -> &'static str {
        "ws://127.0.0.1:5000"
    }
    fn connect_url(&self, ws: &str, _: &str) -> String {
        client_io::socketio::websocket_url(ws, None)
    }
    fn default_http(&self, ws: &str) -> Option<String> {
        Some(client_io::socketio::http_base(ws))
    }
    fn hello(&self, _: &str) -> Vec<String> {
        vec!["40".into()]
    }
    fn ready_type(&self) -> Option<&'static str> {
        Some("carousel_config")
    }
    fn stream_type(&self) -> Option<&'static str> {
        Some("current_app")
    }
    fn stream(&self) -> &'static StreamSpec {
        &FANOUT
    }
    /// Socket.IO packets become `{"type": <event>, "payload": <first argument>}`; pings are
    /// answered at once; the rest (open, CONNECT, noop) carries nothing to measure.
    fn unwrap(&self, text: &str) -> Unwrapped {
        match EioPacket::from_text(text) {
            Ok(EioPacket::Ping(None)) => Unwrapped::Reply("3".into()),
            Ok(EioPacket::Message(EioData::Text(inner))) => match SioPacket::decode(&inner) {
                Ok(packet) => match packet.event_parts() {
                    Some((name, args)) => Unwrapped::Message(
                        json!({"type": name, "payload": args.first().unwrap_or(&Value::Null)})
                            .to_string(),
                    ),
                    None if packet.kind == SioKind::ConnectError => Unwrapped::Message(
                        json!({"type": "carousel_config", "success": false}).to_string(),
                    ),
                    None => Unwrapped::Skip,
                },
                Err(_) => Unwrapped::Skip,
            },
            _ => Unwrapped::Skip,
        }
    }
    fn stream_point(&self, text: &str) -> Option<StreamPoint> {
        let value: Value = serde_json::from_str(text).ok()?;
        let config = value.pointer("/payload/config")?;
        Some(StreamPoint {
            counter: Some(config.get("_seq")?.as_u64()?),
            timestamp_us: config.get("_sent_us")?.as_i64()?,
        })
    }
    /// socket.io-client's defaults: reconnectionDelay 1 s, reconnectionDelayMax 5 s,
    /// randomizationFactor 0.5.
    fn reconnect(&self) -> Option<Backoff> {
        Some(Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(5),
            jitter: 0.5,
        })
    }
    fn http_source(&self, n: u64, sent_at_us: i64) -> Option<(&'static str, String)> {
        Some((
            "/api/config",
            json!({"config": {"_seq": n, "_sent_us": sent_at_us}}).to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_unwrap_into_typed_messages_and_pings_are_answered() {
        let load = RetroBoardLoad;
        assert_eq!(load.unwrap("2"), Unwrapped::Reply("3".into()));
        assert_eq!(load.unwrap("0{\"sid\":\"x\"}"), Unwrapped::Skip);
        assert_eq!(load.unwrap("40{\"sid\":\"x\"}"), Unwrapped::Skip);
        let Unwrapped::Message(message) =
            load.unwrap(r#"42["current_app",{"app":"clock","config":{"_seq":7,"_sent_us":123}}]"#)
        else {
            panic!("an event is a message");
        };
        assert_eq!(
            crate::frame::head(&message).and_then(|h| h.ty),
            Some("current_app")
        );
        assert_eq!(
            load.stream_point(&message),
            Some(StreamPoint {
                counter: Some(7),
                timestamp_us: 123
            })
        );
        let Unwrapped::Message(refused) = load.unwrap("44{\"message\":\"no\"}") else {
            panic!("a refused connect is a message");
        };
        assert_eq!(
            crate::frame::head(&refused).and_then(|h| h.success),
            Some(false)
        );
        assert_eq!(load.unwrap("42not json"), Unwrapped::Skip);
    }

    #[test]
    fn the_back_off_doubles_from_one_second_to_five_within_half_either_way() {
        let backoff = RetroBoardLoad
            .reconnect()
            .expect("Socket.IO clients reconnect");
        assert_eq!(backoff.delay(0, 0.5), Duration::from_secs(1));
        assert_eq!(backoff.delay(0, 0.0), Duration::from_millis(500));
        assert_eq!(backoff.delay(1, 0.5), Duration::from_secs(2));
        assert_eq!(backoff.delay(2, 0.99), Duration::from_secs(5));
        assert_eq!(backoff.delay(40, 0.0), Duration::from_secs(5));
    }

    #[test]
    fn the_initial_current_app_is_not_a_stream_message() {
        let load = RetroBoardLoad;
        let Unwrapped::Message(message) =
            load.unwrap(r#"42["current_app",{"app":"clock","config":{"font":"tom-thumb"}}]"#)
        else {
            panic!("an event is a message");
        };
        assert_eq!(load.stream_point(&message), None);
    }
}
