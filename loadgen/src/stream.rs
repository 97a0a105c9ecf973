//! What a client makes of each message it receives: sequence, loss, latency, jitter, pongs,
//! filters. The per-task client ([`crate::client`]) and the many-sockets reader
//! ([`crate::mux`]) both feed their text messages through [`StreamState::on_text`], so the
//! two paths measure the same way.

use crate::client::{FilterLog, Target};
use crate::frame::{head, timestamp_us};
use crate::profiles::{LoadProfile, StreamPoint, Unwrapped};
use crate::recorder::{Arrival, Counters, Recorder, Sample, Sequence};
use hdrhistogram::Histogram;
use protocol::profile::Delivery;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

const BATCH: usize = 256;

/// Measurements flushed to the recorder in batches (a lock per batch, not per message): one
/// per client task, or one per reader thread for all of its sockets.
pub(crate) struct Local<'a> {
    pub recorder: &'a Recorder,
    samples: Vec<Sample>,
    pub counters: Counters,
    /// |arrival interval − period| of consecutive stream messages on one connection; like
    /// `rtt`, made at the first value: an empty one is 168 KiB to zero, and every client task
    /// makes a `Local` to connect, then hands its session to a reader (2,000 clients spent
    /// ~0.5 s of CPU zeroing and unmapping them, perf).
    jitter: Option<Histogram<u64>>,
    rtt: Option<Histogram<u64>>,
}

impl<'a> Local<'a> {
    pub fn new(recorder: &'a Recorder) -> Self {
        Local {
            recorder,
            samples: Vec::with_capacity(BATCH),
            counters: Counters::default(),
            jitter: None,
            rtt: None,
        }
    }

    pub fn record_jitter(&mut self, us: u64) {
        crate::histo::record(self.jitter.get_or_insert_with(crate::histo::new_us), us);
    }

    pub fn record_rtt(&mut self, us: u64) {
        crate::histo::record(self.rtt.get_or_insert_with(crate::histo::new_us), us);
    }

    /// Adds round trips measured elsewhere (the command scenarios' shared histogram).
    pub fn add_rtt(&mut self, rtt: &Histogram<u64>) {
        let _ = self.rtt.get_or_insert_with(crate::histo::new_us).add(rtt);
    }

    pub fn sample(&mut self, mine: &mut ClientLatency, sample: Sample) {
        if sample.delivered {
            mine.record(sample.latency_us);
        }
        self.samples.push(sample);
        if self.samples.len() >= BATCH {
            self.recorder.flush(&mut self.samples, &mut self.counters);
        }
    }

    pub fn finish(mut self) {
        self.recorder.flush(&mut self.samples, &mut self.counters);
        let mut totals = self.recorder.lock();
        if let Some(jitter) = &self.jitter {
            let _ = totals.jitter.add(jitter);
        }
        if let Some(rtt) = &self.rtt {
            let _ = totals.rtt.add(rtt);
        }
    }
}

/// One client's delivered latencies, for the report's fairness figures (each client's p99):
/// log-linear buckets, eight per power of two (each at most 12.5% wide), under 1 KiB a client.
/// It was an HdrHistogram of two significant digits: 22 KiB a client, and recording into
/// thousands of them missed the cache on every frame (`record_n_inner` was 5.6% of the reader
/// threads' CPU at 1,000 clients). The totals stay HdrHistograms.
pub(crate) struct ClientLatency {
    counts: Box<[u32; CLIENT_BUCKETS]>,
    total: u64,
}

/// 1 µs up to the 10-minute clamp (600 s falls in bucket 216).
const CLIENT_BUCKETS: usize = 217;

impl ClientLatency {
    pub fn new() -> Self {
        ClientLatency {
            counts: Box::new([0; CLIENT_BUCKETS]),
            total: 0,
        }
    }

    /// The bucket of `us`: values below 8 have their own; above, the power of two and the
    /// next three bits.
    fn bucket(us: u64) -> usize {
        let v = us.clamp(1, 600_000_000);
        if v < 8 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros() as usize;
        (e - 2) * 8 + ((v >> (e - 3)) & 7) as usize
    }

    /// The highest value bucket `i` holds (as HdrHistogram reports a quantile).
    fn highest(i: usize) -> u64 {
        if i < 8 {
            return i as u64;
        }
        let (e, m) = (i / 8 + 2, (i % 8) as u64);
        ((8 + m) << (e - 3)) + (1 << (e - 3)) - 1
    }

    fn record(&mut self, us: u64) {
        let count = &mut self.counts[Self::bucket(us)];
        *count = count.saturating_add(1);
        self.total += 1;
    }

    fn quantile(&self, q: f64) -> Option<u64> {
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        self.counts.iter().enumerate().find_map(|(i, &n)| {
            seen += u64::from(n);
            (seen >= rank).then(|| Self::highest(i))
        })
    }

    pub fn finish(self, recorder: &Recorder) {
        if let Some(p99) = self.quantile(0.99) {
            recorder.lock().client_p99_ms.push(p99 as f64 / 1000.0);
        }
    }
}

/// What a client has seen of its stream. The per-connection part is reset by
/// [`StreamState::connected`]; the announced period, the client's latencies and its filter
/// log span its reconnects.
pub(crate) struct StreamState {
    pub sequence: Sequence,
    /// The scheduled time one period before the connection's first message.
    origin_us: Option<i64>,
    /// Arrival of the last in-order message (for jitter).
    last_arrival_us: Option<i64>,
    pub period_us: i64,
    /// Pings awaiting their pong, oldest first (answers come in order).
    pub outstanding: VecDeque<Instant>,
    started: Instant,
    pub mine: ClientLatency,
    pub filter: Option<FilterLog>,
}

/// What a message asks of the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Nothing,
    /// A text frame to send back at once (an Engine.IO pong).
    Reply(String),
}

/// What a message means before the session has started.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Greeting {
    /// The ready message: accepted or refused.
    Ready(bool),
    Reply(String),
    Other,
}

/// Reads a message received while waiting for the profile's `ready` type.
pub(crate) fn greeting(profile: &dyn LoadProfile, text: &str, ready: &str) -> Greeting {
    let unwrapped = match profile.unwrap(text) {
        Unwrapped::AsIs => None,
        Unwrapped::Message(m) => Some(m),
        Unwrapped::Reply(reply) => return Greeting::Reply(reply),
        Unwrapped::Skip => return Greeting::Other,
    };
    match head(unwrapped.as_deref().unwrap_or(text)) {
        Some(h) if h.ty == Some(ready) => Greeting::Ready(h.success.unwrap_or(true)),
        _ => Greeting::Other,
    }
}

impl StreamState {
    pub fn new(period_us: i64, filter: Option<FilterLog>) -> Self {
        StreamState {
            sequence: Sequence::default(),
            origin_us: None,
            last_arrival_us: None,
            period_us,
            outstanding: VecDeque::new(),
            started: Instant::now(),
            mine: ClientLatency::new(),
            filter,
        }
    }

    /// A new connection, whose connect began at `started`.
    pub fn connected(&mut self, started: Instant) {
        self.sequence = Sequence::default();
        self.origin_us = None;
        self.last_arrival_us = None;
        self.outstanding.clear();
        self.started = started;
    }

    /// One received text frame, seen at `arrived_us` (µs, wall clock).
    pub fn on_text(
        &mut self,
        text: &str,
        arrived_us: i64,
        target: &Target,
        local: &mut Local<'_>,
    ) -> Answer {
        let profile = target.profile;
        let unwrapped = match profile.unwrap(text) {
            Unwrapped::AsIs => None,
            Unwrapped::Message(m) => Some(m),
            Unwrapped::Reply(reply) => return Answer::Reply(reply),
            Unwrapped::Skip => return Answer::Nothing,
        };
        let text = unwrapped.as_deref().unwrap_or(text);
        let Some(h) = head(text) else {
            return Answer::Nothing;
        };
        let shape = target.shape;
        let recorder = local.recorder;
        match h.ty {
            ty if ty == shape.stream_type => {
                let point = profile.stream_point(text).or_else(|| {
                    h.timestamp.and_then(timestamp_us).map(|ts| StreamPoint {
                        counter: h.frame_count,
                        timestamp_us: ts,
                    })
                });
                if let Some(point) = point {
                    self.on_stream(point, arrived_us, target, local);
                }
            }
            Some("status") if h.target_fps.is_some() => {
                if let Some(fps) = h.target_fps.filter(|f| *f >= 1.0) {
                    self.period_us = (1_000_000.0 / fps) as i64;
                    recorder
                        .announced_period_us
                        .store(self.period_us as u64, Relaxed);
                }
            }
            ty if ty.is_some() && ty == profile.pong_type() && !self.outstanding.is_empty() => {
                if let Some(sent) = self.outstanding.pop_front() {
                    local.counters.pongs += 1;
                    local.record_rtt(sent.elapsed().as_micros() as u64);
                }
            }
            _ => {
                if let Some(log) = self.filter.as_mut() {
                    if let Some(subject) = profile.filter_subject(text) {
                        if log.filtered && !subject.admitted {
                            local.counters.filter_mismatches += 1;
                        } else if subject.admitted {
                            log.admitted_us.push(subject.timestamp_us);
                        }
                    }
                }
            }
        }
        Answer::Nothing
    }

    fn on_stream(
        &mut self,
        point: StreamPoint,
        arrived_us: i64,
        target: &Target,
        local: &mut Local,
    ) {
        let (shape, recorder) = (target.shape, local.recorder);
        let StreamPoint {
            counter,
            timestamp_us: ts,
        } = point;
        let period_us = self.period_us;
        let origin = *self.origin_us.get_or_insert_with(|| {
            if target.profile.ready_type().is_none() {
                recorder.session_started(self.started.elapsed().as_micros() as u64);
            }
            ts - period_us
        });
        let Some(n) = shape.sequence(counter, ts, origin) else {
            return;
        };
        recorder.frames.fetch_add(1, Relaxed);
        if shape.delivery == Delivery::Broadcast {
            recorder.highest_frame.fetch_max(n, Relaxed);
        }
        match self.sequence.arrive(n) {
            Arrival::Next { missing } => {
                local.counters.received += 1;
                local.counters.lost += missing;
                if let (0, Some(last)) = (missing, self.last_arrival_us) {
                    let deviation = (arrived_us - last - period_us).unsigned_abs();
                    local.record_jitter(deviation.max(1));
                }
                self.last_arrival_us = Some(arrived_us);
                // Coordinated omission: each skipped frame was due `k` periods before this
                // one, and the earliest it could have been seen is now.
                for k in (1..=missing.min(600)).rev() {
                    let scheduled_us = ts - k as i64 * period_us;
                    local.sample(
                        &mut self.mine,
                        Sample {
                            scheduled_us,
                            latency_us: (arrived_us - scheduled_us).max(1) as u64,
                            delivered: false,
                        },
                    );
                }
                local.sample(
                    &mut self.mine,
                    Sample {
                        scheduled_us: ts,
                        latency_us: (arrived_us - ts).max(1) as u64,
                        delivered: true,
                    },
                );
            }
            Arrival::Duplicate => local.counters.duplicated += 1,
            Arrival::Late => {
                local.counters.received += 1;
                local.counters.out_of_order += 1;
                local.counters.recovered += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ClientLatency;

    #[test]
    fn client_buckets_are_at_most_an_eighth_wide_and_hold_their_values() {
        // Bucket 0 stays empty: values are clamped to at least 1 µs.
        let mut previous_highest = 0;
        for i in 1..super::CLIENT_BUCKETS {
            let highest = ClientLatency::highest(i);
            let lowest = previous_highest + 1;
            assert!(highest >= lowest, "bucket {i}");
            assert_eq!(ClientLatency::bucket(highest), i, "bucket {i}");
            assert_eq!(ClientLatency::bucket(lowest), i, "bucket {i}");
            assert!(
                (highest - lowest) * 8 <= lowest,
                "bucket {i}: {lowest}..={highest}"
            );
            previous_highest = highest;
        }
        assert_eq!(
            ClientLatency::bucket(600_000_000),
            super::CLIENT_BUCKETS - 1
        );
    }

    #[test]
    fn client_p99_is_within_an_eighth_of_the_exact_one() {
        let mut latency = ClientLatency::new();
        assert_eq!(latency.quantile(0.99), None);
        for us in 1..=10_000u64 {
            latency.record(us * 3);
        }
        let p99 = latency.quantile(0.99).expect("recorded") as f64;
        let exact = 29_700.0;
        assert!((p99 - exact).abs() <= exact / 8.0, "{p99} vs {exact}");
        assert!(
            p99 >= exact,
            "the bucket's highest value, like HdrHistogram: {p99}"
        );
    }
}
