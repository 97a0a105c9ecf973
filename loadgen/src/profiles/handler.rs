//! Handler: four scenarios on one protocol.
//! - `broadcast` is pub/sub fan-out: every client subscribes to one topic and loadgen's own
//!   publisher sends `publish {seq, sent_at_us}` on absolute deadlines; each subscriber's
//!   latency is arrival − scheduled send, loss and duplicates come from `seq`, and the
//!   publisher's `publish_response` round trip is the report's `rtt`.
//! - `streams`: each client starts a `streams.start` server stream and reads it
//!   (`sequenceNumber`, scheduled `timestamp`).
//! - `rpc` and `ingest`: open-loop requests (`rpc_call` echo/calculateAverage, `data`) at
//!   `--rate` per client, answered by `requestId`.

use super::{LoadProfile, Scenario, StreamPoint};
use crate::frame::timestamp_us;
use protocol::profile::{Delivery, LossSignal, StreamSpec};
use protocol::Profile;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

pub struct HandlerLoad;

/// The topic of the fan-out scenario.
pub const TOPIC: &str = "loadgen-fanout";

static FANOUT: StreamSpec = StreamSpec {
    kind: "publish_s2c",
    delivery: Delivery::Broadcast,
    period: Duration::from_millis(50),
    timestamp: Some("/data/sent_at_us"),
    loss: LossSignal::Sequence {
        pointer: "/data/seq",
    },
};

fn heartbeat() -> String {
    json!({"type": "heartbeat"}).to_string()
}

/// `--ws` may name a path: the protocol serves any, so it is kept.
fn with_slash(ws: &str) -> String {
    if ws
        .trim_start_matches("ws://")
        .trim_start_matches("wss://")
        .contains('/')
    {
        ws.to_owned()
    } else {
        format!("{ws}/")
    }
}

fn auth(secret: &str) -> Vec<String> {
    let handshake = json!({"type": "handshake", "clientType": "service", "capabilities": ["loadgen"], "version": "1.0.0"});
    let mut hello = vec![handshake.to_string()];
    if !secret.is_empty() {
        hello.push(json!({"type": "auth", "token": secret}).to_string());
    }
    hello
}

impl LoadProfile for HandlerLoad {
    fn profile(&self) -> &'static dyn Profile {
        &protocol::handler::HANDLER
    }
    fn default_ws(&self) -> &'static str {
        "ws://127.0.0.1:8080/"
    }
    fn connect_url(&self, ws: &str, _: &str) -> String {
        with_slash(ws)
    }
    /// Handshake, auth when a token is given, the subscription, then the heartbeat barrier:
    /// its answer means everything before it was handled.
    fn hello(&self, secret: &str) -> Vec<String> {
        let mut hello = auth(secret);
        hello.push(json!({"type": "subscribe", "topic": TOPIC}).to_string());
        hello.push(heartbeat());
        hello
    }
    fn ready_type(&self) -> Option<&'static str> {
        Some("heartbeat_response")
    }
    fn stream_type(&self) -> Option<&'static str> {
        Some("publish")
    }
    fn stream(&self) -> &'static StreamSpec {
        &FANOUT
    }
    fn scenario_session(
        &self,
        scenario: Scenario,
        secret: &str,
        period: Duration,
    ) -> Option<super::ScenarioSession> {
        let mut hello = auth(secret);
        match scenario {
            Scenario::Streams => {
                // The barrier first: the stream's first message may follow the rpc_response at once.
                hello.push(heartbeat());
                let interval_ms = period.as_millis().max(1) as u64;
                hello.push(json!({"type": "rpc_call", "requestId": "loadgen-stream", "method": "streams.start",
                    "params": {"streamType": "sensor_data", "intervalMs": interval_ms, "durationMs": 3_600_000}}).to_string());
                Some(super::ScenarioSession {
                    hello,
                    stream_type: Some("stream_data"),
                    // The period asked for, not the profile's 1 s default.
                    stream: StreamSpec {
                        period,
                        ..*self
                            .profile()
                            .streams()
                            .first()
                            .expect("handler has a stream")
                    },
                })
            }
            Scenario::Rpc | Scenario::Ingest => {
                hello.push(heartbeat());
                Some(super::ScenarioSession {
                    hello,
                    stream_type: None,
                    stream: *self.stream(),
                })
            }
            _ => None,
        }
    }
    fn stream_point(&self, text: &str) -> Option<StreamPoint> {
        #[derive(Deserialize)]
        struct Message<'a> {
            #[serde(rename = "type", borrow)]
            ty: &'a str,
            #[serde(borrow)]
            timestamp: Option<&'a str>,
            #[serde(rename = "sequenceNumber")]
            sequence_number: Option<u64>,
            data: Option<Data>,
        }
        #[derive(Deserialize)]
        struct Data {
            seq: Option<u64>,
            sent_at_us: Option<i64>,
        }
        let m: Message<'_> = serde_json::from_str(text).ok()?;
        match m.ty {
            "publish" => {
                let data = m.data?;
                Some(StreamPoint {
                    counter: data.seq,
                    timestamp_us: data.sent_at_us?,
                })
            }
            "stream_data" => Some(StreamPoint {
                counter: m.sequence_number,
                timestamp_us: timestamp_us(m.timestamp?)?,
            }),
            _ => None,
        }
    }
    fn source(&self, n: u64, sent_at_us: i64) -> Option<String> {
        Some(json!({"type": "publish", "topic": TOPIC, "data": {"seq": n, "sent_at_us": sent_at_us}}).to_string())
    }
    fn source_ack_type(&self) -> Option<&'static str> {
        Some("publish_response")
    }
    fn request(&self, scenario: Scenario, n: u64) -> Option<String> {
        let id = format!("lg-{n}");
        Some(match scenario {
            Scenario::Rpc if n % 2 == 0 => json!({"type": "rpc_call", "requestId": id, "method": "echo", "params": {"n": n}}),
            Scenario::Rpc => json!({"type": "rpc_call", "requestId": id, "method": "calculateAverage", "params": {"values": [10, 20, 30, 40, 50]}}),
            Scenario::Ingest => json!({"type": "data", "dataType": "sensor", "requestId": id,
                "data": {"temperature": 20.0 + (n % 100) as f64 / 10.0, "humidity": 60, "sensor_id": "loadgen", "location": "loopback"}}),
            _ => return None,
        }.to_string())
    }
    fn reply(&self, text: &str) -> Option<super::Reply> {
        #[derive(Deserialize)]
        struct Head<'a> {
            #[serde(rename = "type", borrow)]
            ty: &'a str,
            #[serde(rename = "requestId", borrow)]
            request_id: Option<&'a str>,
            success: Option<bool>,
            #[serde(rename = "insertId")]
            insert_id: Option<u64>,
        }
        let h: Head<'_> = serde_json::from_str(text).ok()?;
        if !matches!(h.ty, "rpc_response" | "data_response") {
            return None;
        }
        Some(super::Reply {
            n: h.request_id?.strip_prefix("lg-")?.parse().ok()?,
            success: h.success.unwrap_or(false),
            insert_id: h.insert_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_and_stream_data_are_numbered_and_replies_matched() {
        let publish = HandlerLoad
            .source(7, 1_700_000_000_000_000)
            .expect("a publish");
        let echoed = publish.replace(
            "\"topic\"",
            "\"timestamp\":\"2024-01-01T00:00:00.000Z\",\"topic\"",
        );
        let point = HandlerLoad.stream_point(&echoed).expect("a point");
        assert_eq!(
            (point.counter, point.timestamp_us),
            (Some(7), 1_700_000_000_000_000)
        );
        let data = r#"{"type":"stream_data","streamId":"s","data":{},"sequenceNumber":3,"timestamp":"2024-01-01T00:00:00.016Z"}"#;
        let point = HandlerLoad.stream_point(data).expect("a point");
        assert_eq!(
            (point.counter, point.timestamp_us % 1_000_000),
            (Some(3), 16_000)
        );
        let reply = HandlerLoad
            .reply(r#"{"type":"data_response","success":true,"requestId":"lg-42","insertId":9}"#)
            .expect("a reply");
        assert_eq!(
            (reply.n, reply.success, reply.insert_id),
            (42, true, Some(9))
        );
        assert!(HandlerLoad
            .reply(r#"{"type":"pong","timestamp":"x"}"#)
            .is_none());
        assert_eq!(HandlerLoad.connect_url("ws://h:8080", ""), "ws://h:8080/");
        assert_eq!(
            HandlerLoad.connect_url("ws://h:8080/x", ""),
            "ws://h:8080/x"
        );
    }
}
