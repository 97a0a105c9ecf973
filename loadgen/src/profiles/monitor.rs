//! Monitor: the key as `Authorization: Bearer`, `/ws/performance` narrowed to the system
//! samples (custom metrics share the `performance` type but not its 1 s grid), a ping as the
//! barrier that starts the session, frames numbered by timestamp steps. Filtered clients also
//! subscribe to critical CPU alerts.

use super::{FilterSubject, LoadProfile};
use protocol::monitor::Endpoint;
use protocol::Profile;
use serde::Deserialize;
use serde_json::json;

pub struct MonitorLoad;

/// Every client narrows `performance` to the system samples.
fn subscribe_system() -> String {
    json!({"type": "subscribe", "data": {"events": ["performance.system"]}}).to_string()
}

/// The filtered clients' alert subscription. A message's filters apply to all of its events,
/// so it travels apart from the performance subscription.
fn subscribe_critical_cpu() -> String {
    json!({"type": "subscribe", "data": {"events": ["alert.cpu"], "filters": {"level": ["critical"]}}})
        .to_string()
}

fn barrier() -> String {
    json!({"type": "ping", "id": "loadgen-ready"}).to_string()
}

impl LoadProfile for MonitorLoad {
    fn profile(&self) -> &'static dyn Profile {
        &protocol::monitor::MONITOR
    }
    fn default_ws(&self) -> &'static str {
        "ws://127.0.0.1:8080"
    }
    /// `/ws`, which carries every family, so filtered clients can hold alert filters.
    fn connect_url(&self, ws: &str, _: &str) -> String {
        let base = ws.trim_end_matches('/');
        let base = Endpoint::ALL
            .iter()
            .rev()
            .find_map(|e| base.strip_suffix(e.path()))
            .unwrap_or(base);
        format!("{base}{}", Endpoint::Main.path())
    }
    fn headers(&self, secret: &str) -> Vec<(String, String)> {
        vec![("Authorization".into(), format!("Bearer {secret}"))]
    }
    fn hello(&self, _: &str) -> Vec<String> {
        vec![subscribe_system(), barrier()]
    }
    fn ready_type(&self) -> Option<&'static str> {
        Some("pong")
    }
    fn stream_type(&self) -> Option<&'static str> {
        Some("performance")
    }
    fn filtered_hello(&self, _: &str) -> Option<Vec<String>> {
        Some(vec![
            subscribe_system(),
            subscribe_critical_cpu(),
            barrier(),
        ])
    }
    fn filter_subject(&self, text: &str) -> Option<FilterSubject> {
        #[derive(Deserialize)]
        struct Alert<'a> {
            #[serde(rename = "type", borrow)]
            ty: &'a str,
            #[serde(borrow)]
            timestamp: &'a str,
            #[serde(borrow)]
            data: AlertData<'a>,
        }
        #[derive(Deserialize)]
        struct AlertData<'a> {
            #[serde(rename = "type", borrow)]
            ty: &'a str,
            #[serde(borrow)]
            level: &'a str,
        }
        let alert: Alert<'_> = serde_json::from_str(text).ok()?;
        (alert.ty == "alert").then_some(())?;
        Some(FilterSubject {
            timestamp_us: protocol::timestamp::unix_micros(alert.timestamp)?,
            admitted: alert.data.ty == "cpu" && alert.data.level == "critical",
        })
    }
    fn ping(&self, n: u64) -> Option<String> {
        Some(json!({"type": "ping", "id": format!("rtt-{n}")}).to_string())
    }
    fn pong_type(&self) -> Option<&'static str> {
        Some("pong")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_judged_by_type_and_level() {
        let critical = r#"{"type":"alert","id":"a","timestamp":"2024-01-01T12:00:00.000001Z","data":{"alert_id":"x","type":"cpu","level":"critical","status":"resolved"}}"#;
        let subject = MonitorLoad.filter_subject(critical).expect("an alert");
        assert!(subject.admitted);
        assert_eq!(subject.timestamp_us % 1_000_000, 1);
        let warning = critical.replace("critical", "warning");
        assert!(
            !MonitorLoad
                .filter_subject(&warning)
                .expect("an alert")
                .admitted
        );
        let performance =
            r#"{"type":"performance","id":"p","timestamp":"2024-01-01T12:00:00Z","data":{}}"#;
        assert_eq!(MonitorLoad.filter_subject(performance), None);
        assert_eq!(
            MonitorLoad.connect_url("ws://h:8080/ws/alerts", ""),
            "ws://h:8080/ws"
        );
    }
}
