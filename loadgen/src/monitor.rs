//! The generator watching itself: CPU, memory and scheduling lag. A saturated generator
//! measures its own queueing, not the server's latency, so the report must say so.

use crate::histo;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// CPU seconds (user + system) this process has used, from `/proc/self/stat`.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Resident memory in MiB, from `/proc/self/statm`.
pub fn rss_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}

/// How late a 10 ms timer fires on the generator's own runtime: when the generator is
/// saturated, every measurement it takes is late by about this much.
pub fn spawn_lag_probe(until: Instant) -> Arc<Mutex<Histogram<u64>>> {
    let lag = Arc::new(Mutex::new(histo::new_us()));
    let out = lag.clone();
    tokio::spawn(async move {
        let step = Duration::from_millis(10);
        let mut due = Instant::now() + step;
        while due < until {
            tokio::time::sleep_until(due.into()).await;
            let late = Instant::now().saturating_duration_since(due).as_micros() as u64;
            histo::record(&mut lag.lock().expect("lag lock is never poisoned"), late);
            due += step;
        }
    });
    out
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorHealth {
    pub cores: usize,
    pub cpu_seconds: f64,
    /// Share of all cores used on average (1.0 = every core busy).
    pub cpu_utilization: f64,
    pub rss_mib: f64,
    pub rss_kib_per_client: f64,
    pub loop_lag_p99_ms: f64,
    pub loop_lag_max_ms: f64,
    /// Reader threads: from the kernel's receive timestamp to the frame's processing (p99).
    /// The latencies do not include it (they end at the kernel's timestamp); it shows how far
    /// the reader was behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_lag_p99_ms: Option<f64>,
    /// CPU microseconds spent per message received, over the whole run (connects included).
    pub cpu_us_per_message: f64,
    /// The same once every client is up: from a second after the ramp to the end. What a
    /// frame costs without the connects (2,000 handshakes weigh ~0.4 µs a frame in a 10 s
    /// run). `None` when the run is too short to have such a window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_message_steady: Option<f64>,
    /// CPU cores needed per 1,000 messages a second (= cpu_us_per_message / 1000).
    pub cores_per_1000_msgs_per_s: f64,
    pub trustworthy: bool,
    pub warnings: Vec<String>,
}

/// How the stream's arrival times were taken, for the trust verdict.
#[derive(Debug, Clone, Copy)]
pub enum Arrivals {
    /// In the generator's own tasks, when it got to them: its timer lag is in every latency.
    Userspace,
    /// By the kernel as the frames arrived (the reader threads): the latencies do not include
    /// the generator's lag, unless it falls a whole stream period behind and reads two frames
    /// at once (they then share the later one's time). `read_lag_p99_ms` is how far behind it
    /// read; `period_ms` the stream's period.
    Kernel {
        read_lag_p99_ms: f64,
        period_ms: f64,
    },
}

impl GeneratorHealth {
    pub fn assess(
        cpu_seconds: f64,
        wall_s: f64,
        rss_mib: f64,
        clients: usize,
        messages: u64,
        lag: &Histogram<u64>,
        arrivals: Arrivals,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_utilization = cpu_seconds / (wall_s.max(1e-9) * cores as f64);
        let cpu_us_per_message = if messages > 0 {
            cpu_seconds * 1e6 / messages as f64
        } else {
            0.0
        };
        let loop_lag_p99_ms = lag.value_at_quantile(0.99) as f64 / 1000.0;
        let mut warnings = Vec::new();
        if cpu_utilization > 0.85 {
            warnings.push(format!("the generator used {:.0}% of all {cores} cores: it is saturated, its latencies include its own queueing", cpu_utilization * 100.0));
        }
        let mut read_lag = None;
        match arrivals {
            Arrivals::Userspace if loop_lag_p99_ms > 5.0 => {
                warnings.push(format!("the generator's own timers fired up to {loop_lag_p99_ms:.1} ms late (p99): latencies below that are not measurable"));
            }
            Arrivals::Userspace => {}
            Arrivals::Kernel {
                read_lag_p99_ms,
                period_ms,
            } => {
                read_lag = Some(read_lag_p99_ms);
                if read_lag_p99_ms > period_ms {
                    warnings.push(format!("the generator read frames up to {read_lag_p99_ms:.1} ms after the kernel received them (p99), more than the stream's {period_ms:.1} ms period: frames read together share the later one's arrival time"));
                }
            }
        }
        GeneratorHealth {
            cores,
            cpu_seconds,
            cpu_utilization,
            rss_mib,
            rss_kib_per_client: if clients > 0 {
                rss_mib * 1024.0 / clients as f64
            } else {
                0.0
            },
            loop_lag_p99_ms,
            loop_lag_max_ms: lag.max() as f64 / 1000.0,
            read_lag_p99_ms: read_lag,
            cpu_us_per_message,
            cpu_us_per_message_steady: None,
            cores_per_1000_msgs_per_s: cpu_us_per_message / 1000.0,
            trustworthy: warnings.is_empty(),
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_stamped_arrivals_are_judged_by_read_lag_not_timer_lag() {
        let mut lag = histo::new_us();
        histo::record(&mut lag, 8_000);
        let assess = |arrivals| GeneratorHealth::assess(1.0, 10.0, 10.0, 10, 1000, &lag, arrivals);
        let userspace = assess(Arrivals::Userspace);
        assert!(
            !userspace.trustworthy,
            "8 ms of timer lag is in every latency"
        );
        let kernel = assess(Arrivals::Kernel {
            read_lag_p99_ms: 8.0,
            period_ms: 16.7,
        });
        assert!(kernel.trustworthy, "{:?}", kernel.warnings);
        assert_eq!(kernel.read_lag_p99_ms, Some(8.0));
        let behind = assess(Arrivals::Kernel {
            read_lag_p99_ms: 20.0,
            period_ms: 16.7,
        });
        assert!(!behind.trustworthy);
        assert!(
            behind.warnings[0].contains("period"),
            "{:?}",
            behind.warnings
        );
    }
}
