//! Where every client's measurements end up.
//!
//! Clients measure locally and flush in batches (a lock per batch, not per frame), so the
//! recorder is never the bottleneck. Latency is recorded twice: as delivered, and corrected for
//! coordinated omission — a frame that never arrived counts as if it had arrived with the next
//! frame that did (its latency is that arrival time minus its own scheduled time), so loss and
//! stalls raise the percentiles instead of vanishing from them.

use crate::histo;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

/// One latency sample: the frame's scheduled time and how late it was seen.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub scheduled_us: i64,
    pub latency_us: u64,
    /// `false` for a frame that never arrived (its latency is the coordinated-omission bound).
    pub delivered: bool,
}

/// Per-second figures, keyed by the Unix second of the frames' scheduled times (so shards that
/// started at different moments still line up when merged).
#[derive(Debug, Clone)]
pub struct Interval {
    pub latency: Histogram<u64>,
    pub frames: u64,
}

#[derive(
    Debug, Default, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Counters {
    pub received: u64,
    /// Frames counted missing when a later one arrived (gross: see `recovered`).
    pub lost: u64,
    /// Frames counted in `lost` that arrived late after all. Kept apart because a client
    /// flushes its counters in batches: the late frame may come after its loss was flushed.
    #[serde(default)]
    pub recovered: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub connects: u64,
    pub connect_errors: u64,
    pub auth_failures: u64,
    pub reconnects: u64,
    pub http_errors: u64,
    /// Application pings sent and their answers (`--ping-every`).
    #[serde(default)]
    pub pings: u64,
    #[serde(default)]
    pub pongs: u64,
    /// `filtered` scenario: messages a filtered client got that its filter does not admit.
    #[serde(default)]
    pub filter_mismatches: u64,
    /// Request scenarios: answers later than 10 s, and requests never answered.
    #[serde(default)]
    pub timeouts: u64,
    /// Request scenarios: answers with `success: false`.
    #[serde(default)]
    pub refused: u64,
}

impl std::ops::AddAssign<&Counters> for Counters {
    fn add_assign(&mut self, other: &Counters) {
        self.received += other.received;
        self.lost += other.lost;
        self.recovered += other.recovered;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.connects += other.connects;
        self.connect_errors += other.connect_errors;
        self.auth_failures += other.auth_failures;
        self.reconnects += other.reconnects;
        self.http_errors += other.http_errors;
        self.pings += other.pings;
        self.pongs += other.pongs;
        self.filter_mismatches += other.filter_mismatches;
        self.timeouts += other.timeouts;
        self.refused += other.refused;
    }
}

pub struct Totals {
    pub latency: Histogram<u64>,
    pub delivered: Histogram<u64>,
    pub connect: Histogram<u64>,
    /// Connect to session start: NHEM's `auth_response`, or a stream's first message.
    pub auth: Histogram<u64>,
    /// |arrival interval − period| between consecutive stream messages of a connection.
    pub jitter: Histogram<u64>,
    /// Application ping → pong round trips (`--ping-every`).
    pub rtt: Histogram<u64>,
    /// Reconnecting profiles: from a connection's drop to its client holding a session again.
    pub recovery: Histogram<u64>,
    pub intervals: BTreeMap<i64, Interval>,
    pub counters: Counters,
    /// Why connections ended or failed, e.g. `close 1008` or `connect: refused`.
    pub endings: BTreeMap<String, u64>,
    /// Each client's delivered latencies, by the slot [`Recorder::add_client`] gave it.
    pub(crate) clients: Vec<ClientLatency>,
    /// Clients connected, sampled once a second (Unix second → count).
    pub connected_timeline: BTreeMap<i64, u64>,
}

impl Totals {
    /// Each client's p99 latency (delivered) in ms, for fairness; clients without a delivered
    /// frame have none.
    pub fn client_p99_ms(&self) -> Vec<f64> {
        self.clients
            .iter()
            .filter_map(|c| c.quantile(0.99))
            .map(|us| us as f64 / 1000.0)
            .collect()
    }
}

/// One client's delivered latencies, for the report's fairness figures (each client's p99):
/// log-linear buckets, eight per power of two (each at most 12.5% wide), under 1 KiB a client.
/// It was an HdrHistogram of two significant digits: 22 KiB a client, and recording into
/// thousands of them missed the cache on every frame (`record_n_inner` was 5.6% of the reader
/// threads' CPU at 1,000 clients). The totals stay HdrHistograms. They are kept here, in a
/// table the readers' batches are recorded into, not next to each client's stream state: a
/// reader recording each frame at once missed the cache between two syscalls, one miss at a
/// time; 256 independent records in a batch overlap their misses.
pub(crate) struct ClientLatency {
    counts: Box<[u32; CLIENT_BUCKETS]>,
    total: u64,
}

/// 1 µs up to the 10-minute clamp (600 s falls in bucket 216).
const CLIENT_BUCKETS: usize = 217;

impl ClientLatency {
    fn new() -> Self {
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

    pub fn quantile(&self, q: f64) -> Option<u64> {
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        self.counts.iter().enumerate().find_map(|(i, &n)| {
            seen += u64::from(n);
            (seen >= rank).then(|| Self::highest(i))
        })
    }
}

pub struct Recorder {
    pub totals: Mutex<Totals>,
    /// Live figures for the progress line and the timeline.
    pub connected: AtomicU64,
    pub frames: AtomicU64,
    /// Highest frame_count any client has seen.
    pub highest_frame: AtomicU64,
    /// Loadgen's own REST commands (RetroBoard): one more than the highest sequence number the
    /// server confirmed (200) at least [`TAIL_GRACE`] before the end; 0: none. Every client
    /// connected at the end should have seen that one: what it lacks is lost, even though no
    /// later event showed the gap.
    pub confirmed_source: AtomicU64,
    /// The stream period a server announced (NHEM's `status.target_fps`), in µs; 0: none.
    pub announced_period_us: AtomicU64,
}

/// How long before the end of the run a confirmed command's event must have reached a client
/// to count as delivered; a confirmed command whose event did not arrive by the end is lost.
pub const TAIL_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            totals: Mutex::new(Totals {
                latency: histo::new_us(),
                delivered: histo::new_us(),
                connect: histo::new_us(),
                auth: histo::new_us(),
                jitter: histo::new_us(),
                rtt: histo::new_us(),
                recovery: histo::new_us(),
                intervals: BTreeMap::new(),
                counters: Counters::default(),
                endings: BTreeMap::new(),
                clients: Vec::new(),
                connected_timeline: BTreeMap::new(),
            }),
            connected: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            highest_frame: AtomicU64::new(0),
            confirmed_source: AtomicU64::new(0),
            announced_period_us: AtomicU64::new(0),
        }
    }
}

impl Recorder {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Totals> {
        self.totals
            .lock()
            .expect("recorder lock is never poisoned: nothing panics while holding it")
    }

    /// A slot in the table of per-client latencies, for a client's first delivered frame.
    pub fn add_client(&self) -> u32 {
        let mut t = self.lock();
        t.clients.push(ClientLatency::new());
        (t.clients.len() - 1) as u32
    }

    /// Records a batch: samples, delivered latencies by client slot, counters.
    pub fn flush(
        &self,
        samples: &mut Vec<Sample>,
        by_client: &mut Vec<(u32, u64)>,
        counters: &mut Counters,
    ) {
        let mut t = self.lock();
        for &(slot, us) in by_client.iter() {
            if let Some(client) = t.clients.get_mut(slot as usize) {
                client.record(us);
            }
        }
        by_client.clear();
        for s in samples.iter() {
            histo::record(&mut t.latency, s.latency_us);
            if s.delivered {
                histo::record(&mut t.delivered, s.latency_us);
            }
            let interval = t
                .intervals
                .entry(s.scheduled_us.div_euclid(1_000_000))
                .or_insert_with(|| Interval {
                    latency: histo::new_us(),
                    frames: 0,
                });
            histo::record(&mut interval.latency, s.latency_us);
            interval.frames += u64::from(s.delivered);
        }
        t.counters += &*counters;
        samples.clear();
        *counters = Counters::default();
    }

    pub fn ending(&self, reason: impl Into<String>) {
        *self.lock().endings.entry(reason.into()).or_default() += 1;
    }

    /// The session started (first stream message) `us` after the connect began.
    pub fn session_started(&self, us: u64) {
        histo::record(&mut self.lock().auth, us);
    }

    /// A client the server had dropped holds a session again, `us` after the drop.
    pub fn back_after_drop(&self, us: u64) {
        histo::record(&mut self.lock().recovery, us);
    }

    pub fn connected_at(&self, connect_us: u64, auth_us: Option<u64>) {
        let mut t = self.lock();
        histo::record(&mut t.connect, connect_us);
        if let Some(a) = auth_us {
            histo::record(&mut t.auth, a);
        }
    }
}

/// What one connection has seen of the frame sequence: loss, duplicates, reordering.
#[derive(Debug, Default)]
pub struct Sequence {
    highest: Option<u64>,
    /// Bit i set: frame `highest - i` was received (the last 128 frames).
    recent: u128,
}

/// How a newly arrived frame relates to the ones before it.
#[derive(Debug, PartialEq, Eq)]
pub enum Arrival {
    /// In order; `missing` frames were skipped just before it.
    Next {
        missing: u64,
    },
    Duplicate,
    /// An older frame that had been counted as lost.
    Late,
}

impl Sequence {
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    pub fn arrive(&mut self, n: u64) -> Arrival {
        let Some(highest) = self.highest else {
            self.highest = Some(n);
            self.recent = 1;
            return Arrival::Next { missing: 0 };
        };
        if n > highest {
            let shift = n - highest;
            self.recent = if shift >= 128 {
                0
            } else {
                self.recent << shift
            };
            self.recent |= 1;
            self.highest = Some(n);
            return Arrival::Next { missing: shift - 1 };
        }
        let back = highest - n;
        if back < 128 && self.recent & (1 << back) != 0 {
            return Arrival::Duplicate;
        }
        if back < 128 {
            self.recent |= 1 << back;
        }
        Arrival::Late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_latencies_are_recorded_per_client_slot_with_the_batch() {
        let recorder = Recorder::default();
        let (a, b) = (recorder.add_client(), recorder.add_client());
        let _never_delivered = recorder.add_client();
        let mut by_client: Vec<(u32, u64)> = (0..100)
            .map(|_| (a, 1_000))
            .chain((0..100).map(|_| (b, 50_000)))
            .collect();
        recorder.flush(&mut Vec::new(), &mut by_client, &mut Counters::default());
        assert!(by_client.is_empty(), "the batch is taken");
        let p99s = recorder.lock().client_p99_ms();
        assert_eq!(
            p99s.len(),
            2,
            "a client without a delivered frame has no p99"
        );
        assert!(
            (1.0..1.2).contains(&p99s[0]) && (50.0..57.0).contains(&p99s[1]),
            "{p99s:?}"
        );
    }

    #[test]
    fn sequence_tells_gaps_duplicates_and_late_frames_apart() {
        let mut s = Sequence::default();
        assert_eq!(s.arrive(10), Arrival::Next { missing: 0 });
        assert_eq!(s.arrive(11), Arrival::Next { missing: 0 });
        assert_eq!(s.arrive(14), Arrival::Next { missing: 2 });
        assert_eq!(s.arrive(12), Arrival::Late);
        assert_eq!(s.arrive(12), Arrival::Duplicate);
        assert_eq!(s.arrive(14), Arrival::Duplicate);
        assert_eq!(s.arrive(500), Arrival::Next { missing: 485 });
        assert_eq!(
            s.arrive(13),
            Arrival::Late,
            "too old to remember: counted late, not duplicate"
        );
    }

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
