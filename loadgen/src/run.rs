//! One load run: ramp clients up, hold for the duration, stop everything by itself, report.

use crate::client::{self, ClientEnd, FilterLog, Plan, Scenario, Target};
use crate::frame::now_us;
use crate::monitor::{self, GeneratorHealth};
use crate::profiles::{LoadProfile, StreamShape};
use crate::recorder::Recorder;
use crate::report::{self, FilterCheck, IngestCheck, LoadReport, RunInfo};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct RunConfig {
    /// The protocol the clients speak.
    pub profile: &'static dyn LoadProfile,
    /// The server's WebSocket URL (NHEM) or base URL (other profiles add path and query).
    pub ws_url: String,
    pub http_url: Option<String>,
    /// The password, token or key the profile uses.
    pub secret: String,
    /// The stream period the server was started with, when not the profile's default.
    pub period: Option<Duration>,
    pub clients: usize,
    /// New clients per second.
    pub ramp_per_s: f64,
    /// From the first connection to the end of the run.
    pub duration: Duration,
    pub scenario: Scenario,
    /// `(index, count)`: this process runs clients `index, index + count, …` of `clients`.
    pub shard: Option<(usize, usize)>,
    pub slow_fraction: f64,
    pub slow_delay: Duration,
    pub churn_session: (Duration, Duration),
    /// How often each client sends the profile's application ping (`None`: never).
    pub ping_every: Option<Duration>,
    /// Requests per second per client (`rpc`, `ingest`).
    pub rate: f64,
    pub progress: bool,
    /// Where broadcast sessions are read (see [`Io`]).
    pub io: Io,
}

/// Where the clients' broadcast sessions are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// On a few reader threads that each own many sockets ([`crate::mux`]), where a session
    /// qualifies ([`client::reader_eligible`]); the others run in their own task.
    Readers,
    /// Every client in its own task, on tungstenite.
    Tasks,
}

impl RunConfig {
    /// The client numbers this process runs.
    pub fn my_clients(&self) -> Vec<usize> {
        match self.shard {
            Some((i, n)) => (i..self.clients).step_by(n).collect(),
            None => (0..self.clients).collect(),
        }
    }
}

/// A deterministic spread in [0, 1] per client, so slow and churning clients (and reconnect
/// back-offs) are the same in every run (and shard) of the same configuration.
pub(crate) fn unit(i: usize) -> f64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as f64 / u64::MAX as f64
}

pub async fn run(config: RunConfig) -> LoadReport {
    let started_at = protocol::Timestamp::now().to_string();
    let started = Instant::now();
    let end = started + config.duration;
    let period_us = config.period.map(|p| p.as_micros() as i64);
    let default_period = config.profile.stream().period;
    let session = config.profile.scenario_session(
        config.scenario,
        &config.secret,
        config.period.unwrap_or(default_period),
    );
    let (hello, shape) = match &session {
        Some(s) => (
            s.hello.clone(),
            StreamShape::of_stream(&s.stream, s.stream_type, period_us),
        ),
        None => (
            config.profile.hello(&config.secret),
            StreamShape::of(config.profile, period_us),
        ),
    };
    let target = Arc::new(Target {
        profile: config.profile,
        ws_url: config.profile.connect_url(&config.ws_url, &config.secret),
        headers: config.profile.headers(&config.secret),
        http_url: config
            .http_url
            .clone()
            .or_else(|| config.profile.default_http(&config.ws_url)),
        hello,
        filtered_hello: config.profile.filtered_hello(&config.secret),
        shape,
        ping_every: config.ping_every,
        end,
        scenario: config.scenario,
        rate: config.rate,
    });
    let recorder = Arc::new(Recorder::default());
    let lag = monitor::spawn_lag_probe(end);
    let readers = (config.io == Io::Readers && client::reader_eligible(&target))
        .then(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            crate::mux::Readers::start(cores.min(4), target.clone(), recorder.clone())
                .map_err(|e| recorder.ending(format!("reader threads: {e}; clients read in tasks")))
                .ok()
        })
        .flatten()
        .map(Arc::new);
    let cpu_before = monitor::cpu_seconds().unwrap_or(0.0);
    let mine = config.my_clients();

    let mut tasks = Vec::with_capacity(mine.len());
    for (order, &i) in mine.iter().enumerate() {
        // Each shard ramps its own share at its share of the rate, so n shards together ramp
        // at the configured rate.
        let share = config.shard.map_or(1.0, |(_, n)| n as f64);
        let start_after =
            Duration::from_secs_f64(order as f64 * share / config.ramp_per_s.max(0.001));
        let plan = Plan {
            start_after,
            read_delay: (config.scenario == Scenario::SlowConsumers
                && unit(i) < config.slow_fraction)
                .then_some(config.slow_delay),
            session: (config.scenario == Scenario::Churn).then(|| {
                let (lo, hi) = config.churn_session;
                lo + (hi.saturating_sub(lo)).mul_f64(unit(i + 1_000_003))
            }),
            // Every other client holds the filter, so each shard has its half.
            filtered: (config.scenario == Scenario::Filtered).then_some(i % 2 == 0),
            index: i,
        };
        let (target, recorder, readers) = (target.clone(), recorder.clone(), readers.clone());
        let scenario = config.scenario;
        tasks.push(tokio::spawn(async move {
            if scenario == Scenario::Polling {
                client::polling(plan, target, recorder).await
            } else if scenario.is_requests() {
                client::requests(plan, target, recorder, (i as u64) << 32).await
            } else {
                client::websocket(plan, target, recorder, readers).await
            }
        }));
    }
    // A stream loadgen makes itself (handler fan-out) has one source, in shard 0 only; it
    // starts once the first second of clients had time to subscribe.
    let makes_stream = session.is_none()
        && !config.scenario.is_requests()
        && config.scenario != Scenario::Polling
        && (config.profile.source(0, 0).is_some() || config.profile.http_source(0, 0).is_some())
        && config.shard.is_none_or(|(i, _)| i == 0);
    // It starts once every client had time to connect and subscribe (the ramp, plus 0.5 s),
    // so the connect storm is not in the latency.
    let ramp = Duration::from_secs_f64(config.clients as f64 / config.ramp_per_s.max(0.001));
    let source = makes_stream.then(|| {
        let period = Duration::from_micros(target.shape.period_us.max(1) as u64);
        let start_after = (ramp + Duration::from_millis(500)).min(config.duration / 2);
        let (target, recorder) = (target.clone(), recorder.clone());
        if config.profile.http_source(0, 0).is_some() {
            tokio::spawn(client::http_source(target, recorder, period, start_after))
        } else {
            tokio::spawn(client::source(target, recorder, period, start_after))
        }
    });

    // Once a second: the timeline and the progress line.
    let bar = config.progress.then(|| {
        let bar = indicatif::ProgressBar::new(config.duration.as_secs().max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len}s {msg}",
            )
            .expect("valid template"),
        );
        bar
    });
    let mut last_frames = 0;
    // CPU and frames from a second after the ramp to the end, for the steady cost per frame.
    let steady_from = started + ramp + Duration::from_secs(1);
    let mut steady_start: Option<(f64, u64)> = None;
    while Instant::now() < end {
        tokio::time::sleep(
            Duration::from_secs(1).min(end.saturating_duration_since(Instant::now())),
        )
        .await;
        let now = Instant::now();
        if steady_start.is_none() && now >= steady_from && now + Duration::from_secs(1) < end {
            steady_start = monitor::cpu_seconds().map(|cpu| (cpu, recorder.frames.load(Relaxed)));
        }
        let connected = recorder.connected.load(Relaxed);
        recorder
            .lock()
            .connected_timeline
            .insert(now_us().div_euclid(1_000_000), connected);
        if let Some(bar) = &bar {
            let frames = recorder.frames.load(Relaxed);
            bar.set_position(started.elapsed().as_secs());
            bar.set_message(format!(
                "{connected} clients, {} frames/s",
                frames - last_frames
            ));
            last_frames = frames;
        }
    }
    let steady = steady_start.and_then(|(cpu, frames)| {
        let (cpu_now, frames_now) = (monitor::cpu_seconds()?, recorder.frames.load(Relaxed));
        (frames_now > frames).then(|| (cpu_now - cpu) * 1e6 / (frames_now - frames) as f64)
    });
    if let Some(source) = source {
        let _ = tokio::time::timeout(Duration::from_secs(5), source).await;
    }
    let mut ends: Vec<ClientEnd> = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(end) = tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .unwrap_or(Ok(ClientEnd::default()))
        {
            ends.push(end);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // The reader threads stop by themselves once their sessions are closed.
    let reader_lag = match readers {
        Some(readers) => tokio::task::spawn_blocking(move || readers.join())
            .await
            .ok(),
        None => None,
    };
    let wall_s = started.elapsed().as_secs_f64();
    let cpu = monitor::cpu_seconds().unwrap_or(0.0) - cpu_before;
    let tail_lost = tail_lost(
        &ends,
        recorder.highest_frame.load(Relaxed),
        recorder.confirmed_source.load(Relaxed).checked_sub(1),
    );
    let filter = (config.scenario == Scenario::Filtered).then(|| {
        let logs: Vec<FilterLog> = ends.iter().filter_map(|e| e.filter.clone()).collect();
        FilterCheck::of(
            &logs,
            now_us(),
            config.period.unwrap_or(config.profile.stream().period),
        )
    });
    let totals = recorder.lock();
    let messages = totals.counters.received;
    let mut lag = lag.lock().expect("lag lock is never poisoned").clone();
    if let Some(readers) = &reader_lag {
        let _ = lag.add(&readers.tick);
    }
    // The readers stamp arrivals with the kernel's time: their lag is judged against the
    // stream's period instead of the timer's.
    let announced_us = recorder.announced_period_us.load(Relaxed);
    let period_us = if announced_us > 0 {
        announced_us
    } else {
        target.shape.period_us.max(1) as u64
    };
    // A read the kernel did not stamp was timed by the reader itself; a few (a frame that
    // arrived before the socket asked for stamps) do not change the verdict.
    let arrivals =
        match reader_lag.filter(|r| !r.read.is_empty() && r.unstamped * 100 <= r.read.len()) {
            Some(readers) => monitor::Arrivals::Kernel {
                read_lag_p99_ms: readers.read.value_at_quantile(0.99) as f64 / 1000.0,
                period_ms: period_us as f64 / 1000.0,
            },
            None => monitor::Arrivals::Userspace,
        };
    let mut health = GeneratorHealth::assess(
        cpu,
        wall_s,
        monitor::rss_mib().unwrap_or(0.0),
        mine.len(),
        messages,
        &lag,
        arrivals,
    );
    health.cpu_us_per_message_steady = steady;
    let info = RunInfo {
        started_at,
        target: if config.scenario == Scenario::Polling {
            config.http_url.clone().unwrap_or_default()
        } else {
            config.ws_url.clone()
        },
        profile: config.profile.profile().name().into(),
        scenario: scenario_name(config.scenario).into(),
        clients: mine.len(),
        shard: config.shard.map(|(i, n)| format!("{i}/{n}")),
        duration_s: config.duration.as_secs_f64(),
        expected_fps: if config.scenario == Scenario::Polling {
            20.0
        } else {
            if config.scenario.is_requests() {
                config.rate
            } else {
                // What the server announced (NHEM started with --fps 6 says so in `status`),
                // else the profile's period or --interval.
                let announced = recorder.announced_period_us.load(Relaxed);
                let period_us = if announced > 0 {
                    announced
                } else {
                    target.shape.period_us.max(1) as u64
                };
                1e6 / period_us as f64
            }
        },
        tail_lost,
    };
    let mut report = report::build(info, &totals, health);
    report.filter = filter;
    if config.scenario == Scenario::Ingest {
        report.ingest = Some(IngestCheck::of(
            ends.iter().flat_map(|e| e.insert_ids.iter().copied()),
        ));
    }
    report
}

/// Frames each client missed at the tail of the run, where no later frame showed the gap:
/// a client whose connection ended early missed everything up to the highest frame any
/// client saw; every client missed what it lacks of the commands loadgen itself had
/// confirmed in time (`confirmed`: the highest such sequence number).
fn tail_lost(ends: &[ClientEnd], highest_seen: u64, confirmed: Option<u64>) -> u64 {
    ends.iter()
        .filter_map(|e| {
            let own = e.highest_frame?;
            let due = match (e.ended_early, confirmed) {
                (true, Some(c)) => highest_seen.max(c),
                (true, None) => highest_seen,
                (false, Some(c)) => c,
                (false, None) => own,
            };
            Some(due.saturating_sub(own))
        })
        .sum()
}

pub fn scenario_name(s: Scenario) -> &'static str {
    match s {
        Scenario::Broadcast => "broadcast",
        Scenario::SlowConsumers => "slow-consumers",
        Scenario::Churn => "churn",
        Scenario::Polling => "polling",
        Scenario::Filtered => "filtered",
        Scenario::Streams => "streams",
        Scenario::Rpc => "rpc",
        Scenario::Ingest => "ingest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(highest: Option<u64>, ended_early: bool) -> ClientEnd {
        ClientEnd {
            highest_frame: highest,
            ended_early,
            ..ClientEnd::default()
        }
    }

    #[test]
    fn the_tail_counts_what_early_enders_and_laggards_never_saw() {
        let ends = [end(Some(100), false), end(Some(90), true), end(None, true)];
        // A server's own stream: only the client that ended early lost its tail.
        assert_eq!(tail_lost(&ends, 100, None), 10);
        // Loadgen confirmed command 120 in time, yet no client saw past 100: a server that
        // queues events is losing them, though no later event shows a gap.
        assert_eq!(tail_lost(&ends, 100, Some(120)), 20 + 30);
        // Confirmed commands every client saw: nothing lost.
        assert_eq!(tail_lost(&ends[..1], 100, Some(95)), 0);
    }
}
