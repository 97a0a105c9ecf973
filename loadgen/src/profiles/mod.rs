//! What the load generator needs to know of each protocol: where a client connects, what it
//! sends first, which messages are the stream and how a message's sequence number is told
//! (from a counter, or from scheduled timestamps one period apart). One line per profile in
//! [`LOAD_PROFILES`]; the client loop, recorder and reports never name a profile.

use protocol::profile::{Delivery, LossSignal, StreamSpec};
use protocol::Profile;

/// A profile as the load generator drives it.
pub trait LoadProfile: Sync {
    fn profile(&self) -> &'static dyn Profile;
    /// The `--ws` default: the seed's address.
    fn default_ws(&self) -> &'static str;
    /// The URL a client connects to, from the `--ws` base and the secret.
    fn connect_url(&self, ws: &str, secret: &str) -> String;
    /// The first message a client sends (`None`: nothing; the stream starts by itself).
    fn hello(&self, secret: &str) -> Option<String>;
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
}

mod ecg;
mod nhem;

pub use ecg::EcgLoad;
pub use nhem::NhemLoad;

/// Every profile loadgen drives; adding one is one line here.
pub static LOAD_PROFILES: &[&dyn LoadProfile] = &[&NhemLoad, &EcgLoad];

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
        let stream = profile.stream();
        StreamShape {
            stream_type: profile.stream_type(),
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
