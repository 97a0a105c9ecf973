//! The producer: the synthetic system's five streams on absolute deadlines, each event
//! published once for every connection.
//!
//! Stream `s` fires its `n`th event (from 0) at `t0 + first + n · period` and stamps it with
//! that *scheduled* time, so a late tick shows up as latency at every receiver instead of
//! hiding itself. A stream more than a second (and a period) behind skips ahead: the skipped
//! performance ticks show up as gaps (loss) at every client.

use super::synthetic::{self, AlertChange, AlertTracker, Watched};
use super::{MonitorFault, MonitorServer};
use protocol::monitor::Family;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Performance,
    Custom,
    Status,
    Config,
    System,
}

struct Schedule {
    stream: Stream,
    first: Duration,
    period: Duration,
    next: u64,
}

impl Schedule {
    fn offset(&self, n: u64) -> Duration {
        self.first + self.period.mul_f64(n as f64)
    }
}

pub async fn run(server: Arc<MonitorServer>, shutdown: CancellationToken) {
    let settings = &server.settings;
    let (cycle, perf) = (settings.cycle(), settings.performance_interval());
    let mut schedules = [
        (Stream::Performance, perf, perf),
        (
            Stream::Custom,
            settings.custom_interval(),
            settings.custom_interval(),
        ),
        (
            Stream::Status,
            settings.status_interval(),
            settings.status_interval(),
        ),
        (Stream::Config, cycle / 2, cycle),
        (Stream::System, cycle, cycle),
    ]
    .map(|(stream, first, period)| Schedule {
        stream,
        first,
        period,
        next: 0,
    });
    let t0 = Instant::now();
    let wall0_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let stamp = |offset: Duration| {
        protocol::timestamp::format_unix_micros(wall0_us + offset.as_micros() as i64)
    };
    let mut alerts = [AlertTracker::default(), AlertTracker::default()];
    loop {
        let next = schedules
            .iter_mut()
            .min_by_key(|s| s.offset(s.next))
            .expect("five streams");
        let due = t0 + next.offset(next.next);
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = shutdown.cancelled() => return,
        }
        // Behind by less than a second (a busy moment): the late events go out now, stamped
        // with their scheduled times, so the lateness shows as latency. More than a second (a
        // stalled machine): skip ahead rather than burst; the skipped ticks show as loss.
        let late = Instant::now().saturating_duration_since(due);
        if late > next.period.max(Duration::from_secs(1)) {
            let behind = (late.as_nanos() / next.period.as_nanos().max(1)) as u64;
            next.next += behind;
        }
        let (n, offset) = (next.next, next.offset(next.next));
        next.next += 1;
        let timestamp = stamp(offset);
        let ts = timestamp.as_str();
        match next.stream {
            Stream::Performance => {
                let phase = (offset.as_secs_f64() / cycle.as_secs_f64()).fract();
                let sample = synthetic::system_sample(phase, n);
                let data = serde_json::to_value(&sample).expect("metrics serialize");
                server.publish(Family::Performance, "perf", ts, data);
                for (watched, tracker) in Watched::ALL.into_iter().zip(&mut alerts) {
                    let value = watched.value(&sample);
                    let reuse = server.settings.has_fault(MonitorFault::ReraiseAlert);
                    for change in tracker.observe(watched, value, || server.id("alert"), reuse) {
                        publish_alert(&server, watched, &change, value, ts);
                    }
                }
                let at_us = wall0_us + offset.as_micros() as i64;
                server.history().push(at_us, timestamp.clone(), sample);
            }
            Stream::Custom => {
                server.publish(Family::Performance, "perf", ts, synthetic::custom_metric(n));
            }
            Stream::Status => {
                let last = stamp(offset.saturating_sub(next.period));
                for mut report in synthetic::status_reports(n, last.as_str()) {
                    if server.settings.has_fault(MonitorFault::StatusExtraField) {
                        report["health"] = "ok".into();
                    }
                    server.publish(Family::Status, "status", ts, report);
                }
            }
            Stream::Config => {
                server.publish(Family::Config, "config", ts, synthetic::config_change(n));
            }
            Stream::System => {
                let data = synthetic::system_event(n, cycle.as_secs_f64());
                server.publish(Family::System, "system", ts, data);
            }
        }
    }
}

fn publish_alert(
    server: &MonitorServer,
    watched: Watched,
    change: &AlertChange,
    value: f64,
    ts: &str,
) {
    let data = synthetic::alert_data(watched, change, value, ts);
    server.publish(Family::Alert, "alert", ts, data);
}
