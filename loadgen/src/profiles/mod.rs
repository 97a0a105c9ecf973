//! What the load generator needs to know of each protocol: where a client connects, what it
//! sends first, which messages are the stream and how a message's sequence number is told
//! (from a counter, or from scheduled timestamps one period apart). One line per profile in
//! [`LOAD_PROFILES`]; the client loop, recorder and reports never name a profile.

pub use crate::client::Scenario;
use protocol::profile::{Delivery, LossSignal, StreamSpec};
use protocol::Profile;
use std::time::Duration;

/// A profile as the load generator drives it.
pub trait LoadProfile: Sync {
    fn profile(&self) -> &'static dyn Profile;
    /// The `--ws` default: the seed's address.
    fn default_ws(&self) -> &'static str;
    /// The URL a client connects to, from the `--ws` base and the secret.
    fn connect_url(&self, ws: &str, secret: &str) -> String;
    /// Request headers on the upgrade (monitor: `Authorization: Bearer <key>`).
    fn headers(&self, _secret: &str) -> Vec<(String, String)> {
        Vec::new()
    }
    /// What a client sends first, in order (empty: nothing; the stream starts by itself).
    fn hello(&self, secret: &str) -> Vec<String>;
    /// The message whose arrival starts the session after `hello` (NHEM: `auth_response`,
    /// refused when its `success` is false); `None`: the first stream message does.
    fn ready_type(&self) -> Option<&'static str> {
        None
    }
    /// The wire `type` of stream messages (`None`: stream messages carry no `type`).
    fn stream_type(&self) -> Option<&'static str>;
    /// The stream the scenarios measure.
    fn stream(&self) -> &'static StreamSpec {
        self.profile()
            .streams()
            .first()
            .expect("a load profile has a stream")
    }
    /// Whether the HTTP polling scenario applies (NHEM's `/data/realtime`).
    fn has_polling(&self) -> bool {
        false
    }
    /// The `filtered` scenario: what a filtered client sends first instead of `hello` (`None`:
    /// the profile has no filters).
    fn filtered_hello(&self, _secret: &str) -> Option<Vec<String>> {
        None
    }
    /// For the `filtered` scenario: a message the filter judges, with its scheduled time and
    /// whether the filter admits it (`None`: not such a message).
    fn filter_subject(&self, _text: &str) -> Option<FilterSubject> {
        None
    }
    /// An application-level ping with sequence `n`, answered by a message of type
    /// [`LoadProfile::pong_type`] in order (`None`: the profile has none).
    fn ping(&self, _n: u64) -> Option<String> {
        None
    }
    fn pong_type(&self) -> Option<&'static str> {
        None
    }
    /// A scenario of the profile's own (handler: `streams`, `rpc`, `ingest`): what its clients
    /// send first and which stream they read, at `period` (`None`: not a scenario of it).
    fn scenario_session(
        &self,
        _scenario: Scenario,
        _secret: &str,
        _period: Duration,
    ) -> Option<ScenarioSession> {
        None
    }
    /// The sequence number and scheduled time of a stream message, when they are not the
    /// top-level `frame_count`/`timestamp` (`None`: read those).
    fn stream_point(&self, _text: &str) -> Option<StreamPoint> {
        None
    }
    /// Message `n` of a stream loadgen sends itself, scheduled at `sent_at_us` (handler: a
    /// publish to the fan-out topic); `None`: the server makes the stream.
    fn source(&self, _n: u64, _sent_at_us: i64) -> Option<String> {
        None
    }
    /// The type that acknowledges each [`LoadProfile::source`] message, in order.
    fn source_ack_type(&self) -> Option<&'static str> {
        None
    }
    /// Request `n` of an open-loop request scenario (`rpc`, `ingest`), carrying an id that
    /// [`LoadProfile::reply`] reads back.
    fn request(&self, _scenario: Scenario, _n: u64) -> Option<String> {
        None
    }
    fn reply(&self, _text: &str) -> Option<Reply> {
        None
    }
    /// What a received text frame is, when the profile's messages travel inside a transport
    /// of their own (RetroBoard: Socket.IO packets); by default the frame is the message.
    fn unwrap(&self, _text: &str) -> Unwrapped {
        Unwrapped::AsIs
    }
    /// Message `n` of a stream loadgen makes itself over HTTP (RetroBoard: a REST command),
    /// scheduled at `sent_at_us`: the path and JSON body to POST (`None`: not over HTTP).
    fn http_source(&self, _n: u64, _sent_at_us: i64) -> Option<(&'static str, String)> {
        None
    }
    /// The HTTP base URL when `--http` is not given (RetroBoard: REST on the same origin).
    fn default_http(&self, _ws: &str) -> Option<String> {
        None
    }
    /// How the profile's real clients come back after the server drops them (Socket.IO
    /// clients reconnect by default); `None`: a dropped client stays away, as it is counted.
    fn reconnect(&self) -> Option<Backoff> {
        None
    }
}

/// A reconnect back-off as socket.io-client computes it: `first × 2^attempt`, at most `max`,
/// moved by up to ±`jitter` of itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub jitter: f64,
}

impl Backoff {
    /// The wait before reconnect attempt `attempt` (0-based); `spread` in [0, 1) places it in
    /// the jitter band, so clients given different spreads do not come back in lockstep.
    pub fn delay(&self, attempt: u32, spread: f64) -> Duration {
        let base = self.first.mul_f64(2f64.powi(attempt.min(30) as i32));
        let moved = base.mul_f64((1.0 + self.jitter * (2.0 * spread - 1.0)).max(0.0));
        moved.min(self.max)
    }
}

/// A received text frame, as [`LoadProfile::unwrap`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unwrapped {
    /// The frame is the JSON message.
    AsIs,
    /// The JSON message inside the frame.
    Message(String),
    /// A frame to send back at once (an Engine.IO pong); nothing to measure.
    Reply(String),
    /// Transport housekeeping; nothing to measure.
    Skip,
}

/// What a profile-specific scenario's clients do.
pub struct ScenarioSession {
    pub hello: Vec<String>,
    pub stream_type: Option<&'static str>,
    pub stream: StreamSpec,
}

/// A stream message's number and scheduled send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPoint {
    pub counter: Option<u64>,
    pub timestamp_us: i64,
}

/// The answer to request `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub n: u64,
    pub success: bool,
    /// `data_response.insertId`.
    pub insert_id: Option<u64>,
}

/// A message a subscription filter judges (monitor: an alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterSubject {
    /// Its scheduled time: the same message has the same one at every client.
    pub timestamp_us: i64,
    /// Whether the filtered clients' filter admits it.
    pub admitted: bool,
}

mod ecg;
mod handler;
mod monitor;
mod nhem;
mod retroboard;

pub use ecg::EcgLoad;
pub use handler::HandlerLoad;
pub use monitor::MonitorLoad;
pub use nhem::NhemLoad;
pub use retroboard::RetroBoardLoad;

/// Every profile loadgen drives; adding one is one line here.
pub static LOAD_PROFILES: &[&dyn LoadProfile] = &[
    &NhemLoad,
    &EcgLoad,
    &MonitorLoad,
    &HandlerLoad,
    &RetroBoardLoad,
];

pub fn find(name: &str) -> Option<&'static dyn LoadProfile> {
    LOAD_PROFILES
        .iter()
        .copied()
        .find(|p| p.profile().name() == name)
}

pub fn names() -> String {
    LOAD_PROFILES
        .iter()
        .map(|p| p.profile().name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a client numbers the stream's messages.
#[derive(Debug, Clone, Copy)]
pub struct StreamShape {
    pub stream_type: Option<&'static str>,
    pub loss: LossSignal,
    pub delivery: Delivery,
    /// The nominal period in µs (NHEM's `status.target_fps` may refine it).
    pub period_us: i64,
}

impl StreamShape {
    pub fn of(profile: &dyn LoadProfile, period_override_us: Option<i64>) -> Self {
        Self::of_stream(profile.stream(), profile.stream_type(), period_override_us)
    }

    pub fn of_stream(
        stream: &StreamSpec,
        stream_type: Option<&'static str>,
        period_override_us: Option<i64>,
    ) -> Self {
        StreamShape {
            stream_type,
            loss: stream.loss,
            delivery: stream.delivery,
            period_us: period_override_us.unwrap_or(stream.period.as_micros() as i64),
        }
    }

    /// The sequence number of a stream message: its counter, or (timestamp steps) the number
    /// of periods since `origin_us`, the scheduled time one period before the connection's
    /// first message.
    pub fn sequence(&self, counter: Option<u64>, timestamp_us: i64, origin_us: i64) -> Option<u64> {
        match self.loss {
            LossSignal::Sequence { .. } => counter,
            LossSignal::TimestampSteps | LossSignal::Correlation { .. } => {
                let steps = (timestamp_us - origin_us + self.period_us / 2)
                    .div_euclid(self.period_us.max(1));
                u64::try_from(steps).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_steps_number_the_frames() {
        let shape = StreamShape::of(&EcgLoad, None);
        let origin = 1_000_000;
        assert_eq!(shape.sequence(None, origin + 160_000, origin), Some(1));
        assert_eq!(shape.sequence(None, origin + 480_100, origin), Some(3));
        assert_eq!(shape.sequence(Some(9), origin + 160_000, origin), Some(1));
        let nhem = StreamShape::of(&NhemLoad, None);
        assert_eq!(nhem.sequence(Some(9), 0, 0), Some(9));
    }

    #[test]
    fn urls_carry_path_and_token() {
        assert_eq!(
            EcgLoad.connect_url("ws://h:5000/", "a b"),
            "ws://h:5000/ws/ecg/stream?token=a+b"
        );
        assert_eq!(NhemLoad.connect_url("ws://h:1/", "x"), "ws://h:1/");
    }
}
