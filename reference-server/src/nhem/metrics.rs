//! Counters for `GET /metrics`, in the Prometheus text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    pub ws_connections_total: AtomicU64,
    pub ws_clients: AtomicU64,
    pub ws_refused_total: AtomicU64,
    pub auth_failures_total: AtomicU64,
    pub frames_broadcast_total: AtomicU64,
    /// Frames written, skipped and clients dropped, counted by the connection core.
    pub stream: std::sync::Arc<crate::core::StreamMetrics>,
    pub ticks_dropped_total: AtomicU64,
    pub broadcast_ns_total: AtomicU64,
    pub broadcast_ns_max: AtomicU64,
    pub tick_late_ns_max: AtomicU64,
    pub http_requests_total: AtomicU64,
    pub ws_messages_rejected_total: AtomicU64,
    fps_measured_milli: AtomicU64,
}

impl Metrics {
    pub fn set_fps(&self, fps: f64) {
        self.fps_measured_milli
            .store((fps * 1000.0).round() as u64, Relaxed);
    }

    pub fn fps(&self) -> f64 {
        self.fps_measured_milli.load(Relaxed) as f64 / 1000.0
    }

    pub fn record_broadcast(&self, ns: u64, late_ns: u64) {
        self.frames_broadcast_total.fetch_add(1, Relaxed);
        self.broadcast_ns_total.fetch_add(ns, Relaxed);
        self.broadcast_ns_max.fetch_max(ns, Relaxed);
        self.tick_late_ns_max.fetch_max(late_ns, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let get = |a: &AtomicU64| a.load(Relaxed).to_string();
        let seconds = |a: &AtomicU64| format!("{:.9}", a.load(Relaxed) as f64 / 1e9);
        metric(
            "nhem_ws_clients",
            "gauge",
            "Authenticated WebSocket clients now.",
            get(&self.ws_clients),
        );
        metric(
            "nhem_ws_connections_total",
            "counter",
            "WebSocket connections accepted.",
            get(&self.ws_connections_total),
        );
        metric(
            "nhem_ws_refused_total",
            "counter",
            "WebSocket connections refused (too many).",
            get(&self.ws_refused_total),
        );
        metric(
            "nhem_auth_failures_total",
            "counter",
            "Failed or missing WebSocket authentications.",
            get(&self.auth_failures_total),
        );
        metric(
            "nhem_ws_messages_rejected_total",
            "counter",
            "Client messages answered with an error.",
            get(&self.ws_messages_rejected_total),
        );
        metric(
            "nhem_frames_broadcast_total",
            "counter",
            "Frames produced and fanned out (once each).",
            get(&self.frames_broadcast_total),
        );
        metric(
            "nhem_frames_sent_total",
            "counter",
            "Frames written to clients (one per client per frame).",
            get(&self.stream.frames_sent_total),
        );
        metric(
            "nhem_frames_skipped_total",
            "counter",
            "Stale frames skipped for clients that fell behind.",
            get(&self.stream.frames_skipped_total),
        );
        metric(
            "nhem_slow_client_disconnects_total",
            "counter",
            "Clients closed for staying too far behind, blocking a send or leaving a ping unanswered.",
            get(&self.stream.slow_client_disconnects_total),
        );
        metric(
            "nhem_pings_sent_total",
            "counter",
            "RFC 6455 pings sent to streaming clients to find those that stopped reading.",
            get(&self.stream.pings_sent_total),
        );
        metric(
            "nhem_reply_overflows_total",
            "counter",
            "Clients closed (1008) for leaving too many replies unread.",
            get(&self.stream.reply_overflows_total),
        );
        metric(
            "nhem_reply_queue_high_water_bytes",
            "gauge",
            "The most reply bytes any connection has had waiting to be written.",
            get(&self.stream.reply_queue_high_water_bytes),
        );
        metric(
            "nhem_ticks_dropped_total",
            "counter",
            "Ticks skipped because the producer fell over a second behind.",
            get(&self.ticks_dropped_total),
        );
        metric(
            "nhem_broadcast_seconds_total",
            "counter",
            "Time spent building, serializing and fanning out frames.",
            seconds(&self.broadcast_ns_total),
        );
        metric(
            "nhem_broadcast_seconds_max",
            "gauge",
            "Longest single frame build and fan-out.",
            seconds(&self.broadcast_ns_max),
        );
        metric(
            "nhem_tick_late_seconds_max",
            "gauge",
            "Latest a tick started after its deadline.",
            seconds(&self.tick_late_ns_max),
        );
        metric(
            "nhem_fps_measured",
            "gauge",
            "Frames broadcast in the last second.",
            format!("{:.3}", self.fps()),
        );
        metric(
            "nhem_http_requests_total",
            "counter",
            "HTTP requests served.",
            get(&self.http_requests_total),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            // A leak of connections or timers shows here first (the soak benchmark reads it).
            metric(
                "nhem_runtime_alive_tasks",
                "gauge",
                "Tasks alive in the server's runtime (every connection has two).",
                runtime.metrics().num_alive_tasks().to_string(),
            );
        }
        let _ = writeln!(
            out,
            "# HELP nhem_client_frames_skipped Frames skipped per connected slow client.\n# TYPE nhem_client_frames_skipped gauge"
        );
        for (client, skipped) in self.stream.skipped_by_client() {
            let _ = writeln!(
                out,
                "nhem_client_frames_skipped{{client=\"{client}\"}} {skipped}"
            );
        }
        out
    }
}
