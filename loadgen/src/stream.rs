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
    /// Delivered latencies by client slot, recorded into the per-client table with the batch.
    by_client: Vec<(u32, u64)>,
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
            by_client: Vec::with_capacity(BATCH),
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

    /// Records `sample` for the client whose slot is `mine` (given at its first delivered
    /// frame).
    pub fn sample(&mut self, mine: &mut Option<u32>, sample: Sample) {
        if sample.delivered {
            let slot = *mine.get_or_insert_with(|| self.recorder.add_client());
            self.by_client.push((slot, sample.latency_us));
        }
        self.samples.push(sample);
        if self.samples.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.recorder
            .flush(&mut self.samples, &mut self.by_client, &mut self.counters);
    }

    pub fn finish(mut self) {
        self.flush();
        let mut totals = self.recorder.lock();
        if let Some(jitter) = &self.jitter {
            let _ = totals.jitter.add(jitter);
        }
        if let Some(rtt) = &self.rtt {
            let _ = totals.rtt.add(rtt);
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
    /// The client's slot in the recorder's per-client latencies (`None`: nothing delivered yet).
    pub mine: Option<u32>,
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
            mine: None,
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
