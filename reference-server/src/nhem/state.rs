//! The server's shared state and the operations on it that HTTP and WebSocket both use:
//! detection control, configuration, ROI, status, and the recent-frame history.
//!
//! Every change is validated, persisted, then announced to WebSocket clients as a `status`.

use crate::nhem::api_error::ApiError;
use crate::nhem::metrics::Metrics;
use crate::nhem::pipeline::{DetectionParams, RoiSample};
use crate::nhem::settings::Settings;
use crate::nhem::store::{ConfigStore, PersistedConfig, StoreError};
use protocol::nhem::sanitize::{sanitize_input, InputType};
use protocol::nhem::validate::validate_coordinates_in_frame;
use protocol::nhem::*;
use protocol::{ErrorCode, Timestamp};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::Notify;

/// One past frame, as `GET /data/realtime` reports it.
#[derive(Debug, Clone)]
pub struct FrameRecord {
    pub frame_count: u64,
    pub timestamp: Timestamp,
    pub t_s: f64,
    pub value: f64,
    pub baseline: f64,
    pub peak_signal: Option<PeakSignal>,
}

struct Inner {
    status: DetectionStatus,
    params: DetectionParams,
    roi: Rect,
    /// Set by `stop_detection`; the producer resets the pipeline when it sees it.
    reset_requested: bool,
    history: VecDeque<FrameRecord>,
    /// The ROI of the latest frame; encoded only when someone asks for it.
    latest_roi: Option<RoiSample>,
    last_peak: Option<EnhancedPeak>,
    /// Index of the next frame to produce (frame_count of the last frame + 1).
    next_frame: u64,
}

pub struct AppState {
    pub settings: Settings,
    pub started: Instant,
    /// `data` and `status` messages for every authenticated client, serialized and framed
    /// once (see `outgoing`).
    pub fanout: Arc<crate::core::FanOut>,
    pub metrics: Metrics,
    /// Wakes the producer when detection starts, stops or pauses.
    pub detection_changed: Notify,
    pub frame_size: (u32, u32),
    /// Failed WebSocket authentications per client address (see `--ws-auth-failures-per-s`).
    pub auth_failures: crate::nhem::ratelimit::RateLimiter,
    store: ConfigStore,
    /// Held by a configuration change from reading the current values until it is applied:
    /// changes are saved one at a time, so none is lost, without holding `inner` on disk I/O.
    config_writer: tokio::sync::Mutex<()>,
    inner: Mutex<Inner>,
}

const DETECTION_KEYS: [&str; 5] = [
    "threshold",
    "hysteresis",
    "refractory_ms",
    "baseline_alpha",
    "warmup_frames",
];

impl AppState {
    pub fn new(settings: Settings, frame_size: (u32, u32)) -> Result<Self, StoreError> {
        let store = ConfigStore::open(&settings.data_dir)?.with_slow_disk(
            std::time::Duration::from_millis(settings.store_write_delay_ms),
        );
        let (params, roi) = match store.load()? {
            Some(saved) => (DetectionParams::from(saved.detection), saved.roi),
            None => (DetectionParams::default(), default_roi(frame_size)),
        };
        let fanout = Arc::new(crate::core::FanOut::new(settings.client_queue_frames));
        let status = if settings.start_stopped {
            DetectionStatus::Stopped
        } else {
            DetectionStatus::Running
        };
        Ok(AppState {
            started: Instant::now(),
            fanout,
            metrics: Metrics::default(),
            detection_changed: Notify::new(),
            frame_size,
            auth_failures: crate::nhem::ratelimit::RateLimiter::new(
                settings.ws_auth_failures_per_s,
            ),
            store,
            config_writer: tokio::sync::Mutex::new(()),
            inner: Mutex::new(Inner {
                status,
                params,
                roi,
                reset_requested: false,
                history: VecDeque::with_capacity(MAX_SERIES_POINTS),
                latest_roi: None,
                last_peak: None,
                next_frame: 0,
            }),
            settings,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("state lock is never poisoned: no code panics while holding it")
    }

    pub fn uptime_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// What the producer needs for the next tick: state, parameters, ROI, frame index, and
    /// whether to reset the pipeline first.
    pub fn tick_inputs(&self) -> (DetectionStatus, DetectionParams, Rect, u64, bool) {
        let mut inner = self.lock();
        let reset = std::mem::take(&mut inner.reset_requested);
        (
            inner.status,
            inner.params,
            inner.roi,
            inner.next_frame,
            reset,
        )
    }

    /// Records a produced frame (for `/data/realtime` and `status`) and advances the counter.
    pub fn record_frame(&self, record: FrameRecord, roi: RoiSample, peak: Option<EnhancedPeak>) {
        let mut inner = self.lock();
        inner.latest_roi = Some(roi);
        inner.next_frame = record.frame_count + 1;
        if inner.history.len() == MAX_SERIES_POINTS {
            inner.history.pop_front();
        }
        inner.history.push_back(record);
        if peak.is_some() {
            inner.last_peak = peak;
        }
    }

    /// Skips frame indices the producer could not build in time (they show up as gaps).
    pub fn skip_frames(&self, next_frame: u64) {
        self.lock().next_frame = next_frame;
    }

    pub fn status(&self) -> DetectionStatus {
        self.lock().status
    }

    fn frame_count(inner: &Inner) -> u64 {
        inner.history.back().map_or(0, |r| r.frame_count)
    }

    pub fn status_message(&self, reason: StatusReason) -> StatusMessage {
        let inner = self.lock();
        StatusMessage {
            timestamp: Timestamp::now(),
            status: inner.status,
            reason,
            frame_count: Self::frame_count(&inner),
            fps: self.metrics.fps(),
            target_fps: self.settings.fps,
            connected_clients: self
                .metrics
                .ws_clients
                .load(std::sync::atomic::Ordering::Relaxed),
            roi: inner.roi,
        }
    }

    /// Sends a `status` to every authenticated client.
    pub fn publish_status(&self, reason: StatusReason) {
        let json = ServerMessage::Status(self.status_message(reason)).to_json();
        // No receivers is fine: nobody is connected.
        self.fanout.send(crate::core::outgoing::text_frame(&json));
    }

    pub fn system_status(&self) -> SystemStatus {
        let s = self.status_message(StatusReason::Request);
        SystemStatus {
            status: s.status,
            frame_count: s.frame_count,
            fps: s.fps,
            target_fps: s.target_fps,
            uptime_s: self.uptime_s(),
            connected_clients: s.connected_clients,
            roi: s.roi,
        }
    }

    pub fn realtime(&self, count: usize) -> Result<RealtimeData, ApiError> {
        let inner = self.lock();
        let (Some(latest), Some(roi)) = (inner.history.back(), inner.latest_roi.as_ref()) else {
            return Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "no frame has been produced yet; start detection with POST /control command=start_detection",
            ));
        };
        let skip = inner.history.len().saturating_sub(count);
        Ok(RealtimeData {
            timestamp: latest.timestamp.clone(),
            frame_count: latest.frame_count,
            series: inner
                .history
                .iter()
                .skip(skip)
                .map(|r| SeriesPoint {
                    t: r.t_s,
                    value: r.value,
                })
                .collect(),
            peak_signal: latest.peak_signal,
            enhanced_peak: inner.last_peak.clone(),
            baseline: latest.baseline,
            roi_data: RoiData::from_gray_bytes(roi.width, roi.height, &roi.pixels, latest.value),
        })
    }

    /// Saves `detection` and `roi` (fsync included) on a blocking thread, with the state lock
    /// free: a slow disk delays this change, never a frame. Call with `config_writer` held.
    async fn persist(&self, detection: DetectionParams, roi: Rect) -> Result<(), ApiError> {
        let config = PersistedConfig {
            version: 1,
            detection: detection.into(),
            roi,
        };
        let store = self.store.clone();
        let saved = tokio::task::spawn_blocking(move || store.save(&config))
            .await
            .unwrap_or_else(|e| panic!("the configuration writer panicked: {e}"));
        saved.map_err(|e| {
            tracing::error!(error = %e, "could not persist configuration");
            ApiError::new(
                ErrorCode::InternalError,
                "the change could not be saved; it was not applied",
            )
        })
    }

    pub fn control(&self, command: ControlCommand) -> Result<ControlResult, ApiError> {
        use DetectionStatus::*;
        let mut inner = self.lock();
        let previous = inner.status;
        let next = match (command, previous) {
            (ControlCommand::StartDetection, _) => Running,
            (ControlCommand::StopDetection, _) => Stopped,
            (ControlCommand::PauseDetection, Running | Paused) => Paused,
            (ControlCommand::ResumeDetection, Paused | Running) => Running,
            (ControlCommand::PauseDetection | ControlCommand::ResumeDetection, Stopped) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidState,
                    format!(
                        "cannot {} while detection is stopped; use start_detection",
                        command.as_str().trim_end_matches("_detection")
                    ),
                )
                .with_details(
                    "command",
                    command.as_str(),
                    "detection must be running or paused",
                ));
            }
        };
        inner.status = next;
        if next == Stopped && previous != Stopped {
            inner.reset_requested = true;
            inner.last_peak = None;
        }
        drop(inner);
        if next != previous {
            tracing::info!(
                command = command.as_str(),
                from = previous.as_str(),
                to = next.as_str(),
                "detection state changed"
            );
            self.detection_changed.notify_one();
            if !self
                .settings
                .has_fault(crate::nhem::faults::Fault::SilentControl)
            {
                self.publish_status(StatusReason::Control);
            }
        }
        Ok(ControlResult {
            command,
            status: next,
            previous_status: previous,
        })
    }

    fn config_tree(&self, inner: &Inner) -> Map<String, Value> {
        let p = inner.params;
        let (w, h) = self.frame_size;
        let tree = json!({
            "detection": {
                "threshold": p.threshold,
                "hysteresis": p.hysteresis,
                "refractory_ms": p.refractory_ms,
                "baseline_alpha": p.baseline_alpha,
                "warmup_frames": p.warmup_frames,
            },
            "broadcast": {"fps": self.settings.fps, "frame_width": w, "frame_height": h},
            "roi": {"x1": inner.roi.x1, "y1": inner.roi.y1, "x2": inner.roi.x2, "y2": inner.roi.y2},
        });
        match tree {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }

    pub fn config_view(&self, section: Option<&str>) -> Result<ConfigView, ApiError> {
        let mut tree = self.config_tree(&self.lock());
        let Some(section) = section else {
            return Ok(ConfigView {
                section: None,
                config: ConfigTree(tree),
            });
        };
        match tree.remove(section) {
            Some(values) => Ok(ConfigView {
                section: Some(section.to_owned()),
                config: ConfigTree(Map::from_iter([(section.to_owned(), values)])),
            }),
            None => Err(ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "no configuration section {section:?}; sections are detection, broadcast, roi"
                ),
            )
            .with_details("section", section, "one of detection, broadcast, roi")),
        }
    }

    /// Sets one `detection.*` key from its text form.
    /// Validates and saves one detection setting, then applies it and broadcasts `status`.
    pub async fn set_config(&self, key: &str, raw: &str) -> Result<ConfigChange, ApiError> {
        let Some(name) = key
            .strip_prefix("detection.")
            .filter(|n| DETECTION_KEYS.contains(n))
        else {
            let constraint = "one of detection.threshold, detection.hysteresis, detection.refractory_ms, detection.baseline_alpha, detection.warmup_frames";
            return Err(
                if key.starts_with("broadcast.") || key.starts_with("roi.") {
                    ApiError::invalid("key", key, constraint, format!("{key} is read-only here (broadcast settings are flags; the ROI is set with POST /roi)"))
                } else {
                    ApiError::new(ErrorCode::NotFound, format!("no configuration key {key:?}"))
                        .with_details("key", key, constraint)
                },
            );
        };
        let _writer = self.config_writer.lock().await;
        let (mut params, roi) = {
            let inner = self.lock();
            (inner.params, inner.roi)
        };
        let float = |lo: f64, hi: f64, lo_open: bool| -> Result<f64, ApiError> {
            let constraint = format!("number {}{lo}, {hi}]", if lo_open { "(" } else { "[" });
            let v = sanitize_input(raw, InputType::Float)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|v| (if lo_open { *v > lo } else { *v >= lo }) && *v <= hi)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "value",
                        raw,
                        constraint.clone(),
                        format!("{key} must be a number in {constraint}"),
                    )
                })?;
            Ok(v)
        };
        let int = |lo: u32, hi: u32| -> Result<u32, ApiError> {
            let constraint = format!("integer [{lo}, {hi}]");
            sanitize_input(raw, InputType::Integer)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "value",
                        raw,
                        constraint.clone(),
                        format!("{key} must be an {constraint}"),
                    )
                })
        };
        let (previous, value): (Value, Value) = match name {
            "threshold" => (params.threshold.into(), {
                params.threshold = float(0.0, 255.0, true)?;
                params.threshold.into()
            }),
            "hysteresis" => (params.hysteresis.into(), {
                params.hysteresis = float(0.0, 255.0, false)?;
                params.hysteresis.into()
            }),
            "refractory_ms" => (params.refractory_ms.into(), {
                params.refractory_ms = int(0, 10_000)?;
                params.refractory_ms.into()
            }),
            "baseline_alpha" => (params.baseline_alpha.into(), {
                params.baseline_alpha = float(0.0, 1.0, true)?;
                params.baseline_alpha.into()
            }),
            "warmup_frames" => (params.warmup_frames.into(), {
                params.warmup_frames = int(0, 6000)?;
                params.warmup_frames.into()
            }),
            _ => unreachable!("filtered by DETECTION_KEYS"),
        };
        if params.hysteresis >= params.threshold {
            return Err(ApiError::invalid(
                "value",
                raw,
                "detection.hysteresis < detection.threshold",
                format!("hysteresis ({}) must stay below threshold ({}), or a peak could never be confirmed", params.hysteresis, params.threshold),
            ));
        }
        self.persist(params, roi).await?;
        self.lock().params = params;
        tracing::info!(key, %value, "configuration changed");
        self.publish_status(StatusReason::Config);
        Ok(ConfigChange {
            key: key.to_owned(),
            value,
            previous_value: Some(previous),
        })
    }

    pub fn roi_view(&self) -> RoiView {
        RoiView::new(self.lock().roi, self.frame_size.0, self.frame_size.1)
    }

    /// Validates and saves the ROI, then applies it and broadcasts `status`.
    pub async fn set_roi(&self, roi: Rect) -> Result<RoiChange, ApiError> {
        let (w, h) = self.frame_size;
        if let Err(rule) = validate_coordinates_in_frame(
            roi.x1.into(),
            roi.y1.into(),
            roi.x2.into(),
            roi.y2.into(),
            w,
            h,
        ) {
            let field = rule.path.clone();
            return Err(ApiError::invalid(
                &field,
                json!({"x1": roi.x1, "y1": roi.y1, "x2": roi.x2, "y2": roi.y2}),
                format!("0 <= x1 < x2 <= {w}, 0 <= y1 < y2 <= {h}"),
                format!("the ROI must be a non-empty rectangle inside the {w}x{h} frame ({rule})"),
            ));
        }
        let _writer = self.config_writer.lock().await;
        let params = self.lock().params;
        self.persist(params, roi).await?;
        let previous = std::mem::replace(&mut self.lock().roi, roi);
        tracing::info!(?roi, "ROI changed");
        self.publish_status(StatusReason::Roi);
        Ok(RoiChange {
            x1: roi.x1,
            y1: roi.y1,
            x2: roi.x2,
            y2: roi.y2,
            frame_width: w,
            frame_height: h,
            previous,
        })
    }
}

/// A centred 64 × 64 ROI (or the whole frame when it is smaller).
fn default_roi((w, h): (u32, u32)) -> Rect {
    let side_w = w.min(64);
    let side_h = h.min(64);
    let x1 = (w - side_w) / 2;
    let y1 = (h - side_h) / 2;
    Rect {
        x1,
        y1,
        x2: x1 + side_w,
        y2: y1 + side_h,
    }
}
