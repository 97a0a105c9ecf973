//! The last system samples, for `request_data`'s `history`: one point per performance tick,
//! at most `MAX_HISTORY_POINTS` (600) per metric.

use protocol::monitor::server::{
    History as HistoryReply, MetricsReply, Point, SystemMetrics, MAX_HISTORY_POINTS,
};
use protocol::monitor::Metric;
use protocol::Timestamp;
use std::collections::VecDeque;

#[derive(Default)]
pub struct History {
    /// `(scheduled time in µs, its timestamp, the sample)`, oldest first.
    samples: VecDeque<(i64, Timestamp, SystemMetrics)>,
}

impl History {
    pub fn push(&mut self, at_us: i64, timestamp: Timestamp, sample: SystemMetrics) {
        if self.samples.len() == MAX_HISTORY_POINTS {
            self.samples.pop_front();
        }
        self.samples.push_back((at_us, timestamp, sample));
    }

    pub fn latest(&self) -> Option<&SystemMetrics> {
        self.samples.back().map(|(_, _, s)| s)
    }

    /// The reply to `request_data`: the latest values of `metrics` and, for `minutes > 0`, the
    /// samples of the last `minutes` (at most 600 points, whatever the interval).
    pub fn reply(&self, metrics: &[Metric], minutes: u32, now_us: i64) -> MetricsReply {
        let wants = |m: Metric| metrics.contains(&m);
        let latest = |m: Metric| self.latest().filter(|_| wants(m));
        let since = now_us - i64::from(minutes) * 60_000_000;
        let series = |m: Metric| {
            let window = self.samples.iter().filter(move |(at, _, _)| *at >= since);
            (minutes > 0 && wants(m)).then_some(window)
        };
        let points = |m: Metric, value: fn(&SystemMetrics) -> f64| {
            series(m).map(|w| {
                w.map(|(_, ts, s)| Point {
                    timestamp: ts.clone(),
                    value: value(s),
                })
                .collect()
            })
        };
        let history = (minutes > 0).then(|| HistoryReply {
            cpu_percent: points(Metric::CpuPercent, |s| s.cpu_percent),
            memory_percent: points(Metric::MemoryPercent, |s| s.memory_percent),
            disk_usage_percent: points(Metric::DiskUsagePercent, |s| s.disk_usage_percent),
            network_io: series(Metric::NetworkIo).map(|w| {
                w.map(|(_, ts, s)| Point {
                    timestamp: ts.clone(),
                    value: s.network_io,
                })
                .collect()
            }),
            process_count: series(Metric::ProcessCount).map(|w| {
                w.map(|(_, ts, s)| Point {
                    timestamp: ts.clone(),
                    value: s.process_count,
                })
                .collect()
            }),
        });
        MetricsReply {
            cpu_percent: latest(Metric::CpuPercent).map(|s| s.cpu_percent),
            memory_percent: latest(Metric::MemoryPercent).map(|s| s.memory_percent),
            disk_usage_percent: latest(Metric::DiskUsagePercent).map(|s| s.disk_usage_percent),
            network_io: latest(Metric::NetworkIo).map(|s| s.network_io),
            process_count: latest(Metric::ProcessCount).map(|s| s.process_count),
            history,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_600_points_and_the_asked_window() {
        let mut history = History::default();
        for k in 0..700i64 {
            let sample = crate::monitor::synthetic::system_sample(0.0, k as u64);
            history.push(
                k * 1_000_000,
                protocol::timestamp::format_unix_micros(k * 1_000_000),
                sample,
            );
        }
        let now = 699 * 1_000_000;
        let reply = history.reply(&[Metric::CpuPercent], 1, now);
        let h = reply.history.expect("asked for");
        assert_eq!(
            h.cpu_percent.expect("asked").len(),
            61,
            "the last minute, both ends"
        );
        assert!(h.memory_percent.is_none() && reply.memory_percent.is_none());
        let all = history.reply(&Metric::ALL, 60, now).history.expect("asked");
        assert_eq!(all.process_count.expect("asked").len(), MAX_HISTORY_POINTS);
        assert!(history.reply(&Metric::ALL, 0, now).history.is_none());
    }
}
