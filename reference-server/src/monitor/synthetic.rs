//! The synthetic monitored system: what the streams report, as a pure function of time.
//!
//! Over one cycle CPU rises from 45 % to 97 % and back (peak at a quarter cycle) and memory
//! from 60 % to 97 % and back (peak at three quarters), so every cycle crosses each alert
//! threshold on the way up and down: an alert is raised, escalated, and resolved, in that
//! order, at every speed the cycle is set to. No noise: a value near a threshold never flaps.

use protocol::monitor::server::{AlertLevel, NetworkIo, SystemMetrics};
use serde_json::{json, Value};
use std::f64::consts::TAU;

/// One system sample, at `phase` (0..1) of the cycle, for tick `k`.
pub fn system_sample(phase: f64, k: u64) -> SystemMetrics {
    let bump = |centre: f64| (TAU * (phase - centre + 0.25)).sin().max(0.0).powi(2);
    SystemMetrics {
        cpu_percent: round1(45.0 + 52.0 * bump(0.25)),
        memory_percent: round1(60.0 + 37.0 * bump(0.75)),
        disk_usage_percent: round1(55.1 + 2.0 * phase),
        network_io: NetworkIo {
            bytes_sent: 1_048_576_000 + k * 125_000,
            bytes_recv: 2_097_152_000 + k * 250_000,
        },
        process_count: 125 + k % 7,
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A metric that raises alerts, with its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    Cpu,
    Memory,
}

impl Watched {
    pub const ALL: [Watched; 2] = [Watched::Cpu, Watched::Memory];

    /// The alert `type`.
    pub fn name(self) -> &'static str {
        match self {
            Watched::Cpu => "cpu",
            Watched::Memory => "memory",
        }
    }

    /// (warning, critical) thresholds in percent.
    pub fn thresholds(self) -> (f64, f64) {
        match self {
            Watched::Cpu => (80.0, 95.0),
            Watched::Memory => (85.0, 95.0),
        }
    }

    pub fn value(self, sample: &SystemMetrics) -> f64 {
        match self {
            Watched::Cpu => sample.cpu_percent,
            Watched::Memory => sample.memory_percent,
        }
    }

    fn level_at(self, value: f64) -> Option<AlertLevel> {
        let (warning, critical) = self.thresholds();
        if value >= critical {
            Some(AlertLevel::Critical)
        } else if value >= warning {
            Some(AlertLevel::Warning)
        } else {
            None
        }
    }
}

fn level_name(level: AlertLevel) -> &'static str {
    match level {
        AlertLevel::Info => "info",
        AlertLevel::Warning => "warning",
        AlertLevel::Critical => "critical",
    }
}

/// What happened to a watched metric's alert at one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    Raised {
        alert_id: String,
        level: AlertLevel,
    },
    Resolved {
        alert_id: String,
        level: AlertLevel,
        resolution: &'static str,
    },
}

/// One metric's alert: at most one active at a time; an `alert_id` is active at most once.
#[derive(Debug, Default)]
pub struct AlertTracker {
    active: Option<(String, AlertLevel)>,
}

impl AlertTracker {
    /// The changes `value` causes, in the order they are sent. A warning that becomes critical
    /// is resolved as `escalated` and a new alert is raised; a critical alert stays until the
    /// value is below the warning threshold. `new_id` names each new alert; `reuse_id` (a fault)
    /// raises the escalated alert under the warning's id.
    pub fn observe(
        &mut self,
        watched: Watched,
        value: f64,
        mut new_id: impl FnMut() -> String,
        reuse_id: bool,
    ) -> Vec<AlertChange> {
        let now = watched.level_at(value);
        let mut changes = Vec::new();
        match (self.active.take(), now) {
            (None, None) => {}
            (None, Some(level)) => {
                let alert_id = new_id();
                changes.push(AlertChange::Raised {
                    alert_id: alert_id.clone(),
                    level,
                });
                self.active = Some((alert_id, level));
            }
            (Some((alert_id, AlertLevel::Warning)), Some(AlertLevel::Critical)) => {
                changes.push(AlertChange::Resolved {
                    alert_id: alert_id.clone(),
                    level: AlertLevel::Warning,
                    resolution: "escalated",
                });
                let next = if reuse_id { alert_id } else { new_id() };
                changes.push(AlertChange::Raised {
                    alert_id: next.clone(),
                    level: AlertLevel::Critical,
                });
                self.active = Some((next, AlertLevel::Critical));
            }
            (Some((alert_id, level)), None) => changes.push(AlertChange::Resolved {
                alert_id,
                level,
                resolution: "value back below threshold",
            }),
            (Some(active), Some(_)) => self.active = Some(active),
        }
        changes
    }
}

/// The `data` of an alert change.
pub fn alert_data(watched: Watched, change: &AlertChange, value: f64, resolved_at: &str) -> Value {
    let (warning, critical) = watched.thresholds();
    match change {
        AlertChange::Raised { alert_id, level } => {
            let threshold = if *level == AlertLevel::Critical {
                critical
            } else {
                warning
            };
            let (title, message, suggestion) = match watched {
                Watched::Cpu => (
                    "CPU使用率过高",
                    format!("CPU使用率达到 {value}%，建议检查进程"),
                    "检查高CPU使用率进程",
                ),
                Watched::Memory => (
                    "内存使用率过高",
                    format!("内存使用率达到 {value}%，建议释放内存"),
                    "检查内存占用最高的进程",
                ),
            };
            json!({
                "alert_id": alert_id,
                "type": watched.name(),
                "level": level_name(*level),
                "title": title,
                "message": message,
                "value": value,
                "threshold": threshold,
                "status": "active",
                "metadata": {"affected_processes": ["python", "qbittorrent"], "suggestion": suggestion},
            })
        }
        AlertChange::Resolved {
            alert_id,
            level,
            resolution,
        } => json!({
            "alert_id": alert_id,
            "type": watched.name(),
            "level": level_name(*level),
            "status": "resolved",
            "resolved_at": resolved_at,
            "resolution": resolution,
            "resolved_by": "system",
        }),
    }
}

/// The custom metric of tick `k`.
pub fn custom_metric(k: u64) -> Value {
    let value = 150 + ((k * 37) % 61) as i64 - 30;
    json!({
        "metric_name": "api_response_time",
        "value": value,
        "unit": "ms",
        "category": "performance",
        "tags": {"endpoint": "/api/v1/config", "method": "GET"},
    })
}

/// The two components' status at tick `k`; `last` is the previous tick's time.
pub fn status_reports(k: u64, last: &str) -> [Value; 2] {
    let processed = 25 + k * 3;
    let failed = k / 4;
    [
        json!({
            "component": "clipboard_monitor",
            "status": "running",
            "last_check": last,
            "details": {"processed_count": processed, "successful_adds": processed - failed, "failed_adds": failed},
        }),
        json!({
            "component": "qbittorrent_client",
            "status": "connected",
            "connection_info": {"host": "localhost", "port": 8080, "version": "v4.5.0"},
            "last_activity": last,
        }),
    ]
}

/// The configuration change of cycle `n`: the seed's values, toggled each cycle.
pub fn config_change(n: u64) -> Value {
    let a = json!({"check_interval": 1.0, "log_level": "INFO"});
    let b = json!({"check_interval": 5.0, "log_level": "DEBUG"});
    let (old, new) = if n.is_multiple_of(2) { (a, b) } else { (b, a) };
    json!({
        "action": "updated",
        "fields": ["check_interval", "log_level"],
        "old_values": old,
        "new_values": new,
        "updated_by": "system",
    })
}

/// The service restart of cycle `n`, after `uptime_s` seconds.
pub fn system_event(n: u64, uptime_s: f64) -> Value {
    json!({
        "event": "service_restart",
        "service": "qbittorrent_monitor",
        "reason": "configuration_update",
        "previous_uptime": (uptime_s * 10.0).round() / 10.0,
        "new_pid": 12_345 + n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_crosses_every_threshold_up_and_down() {
        let samples: Vec<SystemMetrics> = (0..1000u32)
            .map(|i| system_sample(f64::from(i) / 1000.0, u64::from(i)))
            .collect();
        let peak = |w: Watched| samples.iter().map(|s| w.value(s)).fold(0.0, f64::max);
        let low = |w: Watched| samples.iter().map(|s| w.value(s)).fold(100.0, f64::min);
        assert_eq!((peak(Watched::Cpu), low(Watched::Cpu)), (97.0, 45.0));
        assert_eq!((peak(Watched::Memory), low(Watched::Memory)), (97.0, 60.0));
        assert!(samples
            .iter()
            .all(|s| (0.0..=100.0).contains(&s.disk_usage_percent)));
    }

    #[test]
    fn an_alert_is_raised_escalated_and_resolved_once_each() {
        let mut tracker = AlertTracker::default();
        let mut n = 0;
        let mut changes = Vec::new();
        for value in [50.0, 81.0, 85.0, 96.0, 97.0, 90.0, 79.0, 60.0] {
            changes.extend(tracker.observe(
                Watched::Cpu,
                value,
                || {
                    n += 1;
                    format!("alert_{n}")
                },
                false,
            ));
        }
        let raised = |id: &str, level| AlertChange::Raised {
            alert_id: id.into(),
            level,
        };
        let resolved = |id: &str, level, resolution| AlertChange::Resolved {
            alert_id: id.into(),
            level,
            resolution,
        };
        assert_eq!(
            changes,
            [
                raised("alert_1", AlertLevel::Warning),
                resolved("alert_1", AlertLevel::Warning, "escalated"),
                raised("alert_2", AlertLevel::Critical),
                resolved(
                    "alert_2",
                    AlertLevel::Critical,
                    "value back below threshold"
                ),
            ]
        );
    }

    #[test]
    fn every_payload_is_valid_in_its_envelope() {
        let schemas =
            protocol::schema::SchemaSet::load(&protocol::monitor::MONITOR).expect("schemas");
        let ts = "2024-01-01T12:00:00.000000Z";
        let envelope = |ty: &str, data: Value| json!({"type": ty, "id": "x_001", "timestamp": ts, "data": data});
        let raised = AlertChange::Raised {
            alert_id: "a".into(),
            level: AlertLevel::Critical,
        };
        let resolved = AlertChange::Resolved {
            alert_id: "a".into(),
            level: AlertLevel::Warning,
            resolution: "escalated",
        };
        let sample = serde_json::to_value(system_sample(0.3, 9)).expect("serializes");
        let [clipboard, torrent] = status_reports(3, ts);
        let messages = [
            envelope("performance", sample),
            envelope("performance", custom_metric(4)),
            envelope("alert", alert_data(Watched::Cpu, &raised, 96.5, ts)),
            envelope("alert", alert_data(Watched::Memory, &resolved, 80.0, ts)),
            envelope("status", clipboard),
            envelope("status", torrent),
            envelope("config", config_change(1)),
            envelope("system", system_event(2, 60.0)),
        ];
        for message in messages {
            let kind = message["type"].as_str().expect("typed").to_owned();
            let violations = schemas.violations(&kind, &message);
            assert!(
                schemas.is_valid(&kind, &message),
                "{message}: {violations:?}"
            );
        }
    }
}
