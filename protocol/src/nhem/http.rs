//! HTTP messages (`http://host:8421`): response bodies and the JSON models of form requests.

use super::common::{validate_corners, ConfigTree, DetectionStatus, PeakSignal, Rect};
use super::ws::{check_password, MAX_TARGET_FPS};
use crate::codec::{
    check_frame_count, check_gray, check_items, check_len, check_min_f64, check_range_u64,
    check_timestamp, Validate,
};
use crate::error::ParseError;
use crate::rule::{Path, RuleKind};
use crate::timestamp::Timestamp;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /health` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub status: HealthState,
    pub uptime_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Ok,
}

impl Validate for Health {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_min_f64(self.uptime_s, 0.0, &at.key("uptime_s"))
    }
}

/// `GET /status` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemStatus {
    pub status: DetectionStatus,
    pub frame_count: u64,
    pub fps: f64,
    pub target_fps: u32,
    pub uptime_s: f64,
    pub connected_clients: u64,
    pub roi: Rect,
}

impl Validate for SystemStatus {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_frame_count(self.frame_count, &at.key("frame_count"))?;
        check_min_f64(self.fps, 0.0, &at.key("fps"))?;
        check_range_u64(
            u64::from(self.target_fps),
            1,
            MAX_TARGET_FPS,
            &at.key("target_fps"),
        )?;
        check_min_f64(self.uptime_s, 0.0, &at.key("uptime_s"))?;
        self.roi.validate(&at.key("roi"))
    }
}

/// Most points `GET /data/realtime?count=N` returns.
pub const MAX_SERIES_POINTS: usize = 1000;

/// `GET /data/realtime`: flat, the shape the seed's `DataValidator` accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeData {
    pub timestamp: Timestamp,
    pub frame_count: u64,
    pub series: Vec<SeriesPoint>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub peak_signal: Option<PeakSignal>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub enhanced_peak: Option<EnhancedPeak>,
    pub baseline: f64,
    pub roi_data: RoiData,
}

impl Validate for RealtimeData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_timestamp(&self.timestamp, &at.key("timestamp"))?;
        check_frame_count(self.frame_count, &at.key("frame_count"))?;
        let series = at.key("series");
        check_items(self.series.len(), 0, MAX_SERIES_POINTS, &series)?;
        for (i, point) in self.series.iter().enumerate() {
            point.validate(&series.index(i))?;
        }
        if let Some(peak) = &self.enhanced_peak {
            peak.validate(&at.key("enhanced_peak"))?;
        }
        check_gray(self.baseline, &at.key("baseline"))?;
        self.roi_data.validate(&at.key("roi_data"))
    }
}

/// One point of `series`: `t` in seconds since the stream started, `value` a gray level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesPoint {
    pub t: f64,
    pub value: f64,
}

impl Validate for SeriesPoint {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_min_f64(self.t, 0.0, &at.key("t"))?;
        check_gray(self.value, &at.key("value"))
    }
}

/// The last confirmed peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnhancedPeak {
    pub frame_count: u64,
    pub timestamp: Timestamp,
    pub value: f64,
    pub prominence: f64,
    /// Time since the previous peak; `null` for the first peak.
    #[serde(deserialize_with = "Option::deserialize")]
    pub interval_ms: Option<f64>,
}

impl Validate for EnhancedPeak {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_frame_count(self.frame_count, &at.key("frame_count"))?;
        check_timestamp(&self.timestamp, &at.key("timestamp"))?;
        check_gray(self.value, &at.key("value"))?;
        check_min_f64(self.prominence, 0.0, &at.key("prominence"))?;
        if let Some(ms) = self.interval_ms {
            check_min_f64(ms, 0.0, &at.key("interval_ms"))?;
        }
        Ok(())
    }
}

/// Side of the largest ROI thumbnail `roi_data` carries.
pub const MAX_THUMBNAIL_SIDE: u32 = 64;
/// Base64 length of the largest thumbnail (64 × 64 bytes).
pub const MAX_PIXELS_BASE64_LEN: usize = 5464;

/// A grayscale thumbnail of the ROI and its mean gray value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoiData {
    pub width: u32,
    pub height: u32,
    /// Standard base64 (with padding) of `width × height` gray bytes, row-major.
    pub pixels: String,
    pub gray_value: f64,
    pub format: PixelFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    Gray8Base64,
}

impl RoiData {
    /// Builds `roi_data` from raw gray bytes.
    pub fn from_gray_bytes(width: u32, height: u32, bytes: &[u8], gray_value: f64) -> Self {
        RoiData {
            width,
            height,
            pixels: base64::engine::general_purpose::STANDARD.encode(bytes),
            gray_value,
            format: PixelFormat::Gray8Base64,
        }
    }
}

impl Validate for RoiData {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        let side = u64::from(MAX_THUMBNAIL_SIDE);
        check_range_u64(u64::from(self.width), 1, side, &at.key("width"))?;
        check_range_u64(u64::from(self.height), 1, side, &at.key("height"))?;
        let pixels = at.key("pixels");
        check_len(&self.pixels, 0, MAX_PIXELS_BASE64_LEN, &pixels)?;
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&self.pixels) else {
            return Err(ParseError::invalid(
                pixels.rule(RuleKind::Format),
                "pixels must be standard base64 with padding",
            ));
        };
        let expected = self.width as usize * self.height as usize;
        if bytes.len() != expected {
            return Err(ParseError::invalid(
                pixels.rule(RuleKind::Semantic),
                format!(
                    "pixels decode to {} bytes; width × height is {expected}",
                    bytes.len()
                ),
            ));
        }
        check_gray(self.gray_value, &at.key("gray_value"))
    }
}

/// `POST /control` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlCommand {
    StartDetection,
    StopDetection,
    PauseDetection,
    ResumeDetection,
}

impl ControlCommand {
    pub const ALL: [ControlCommand; 4] = [
        ControlCommand::StartDetection,
        ControlCommand::StopDetection,
        ControlCommand::PauseDetection,
        ControlCommand::ResumeDetection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ControlCommand::StartDetection => "start_detection",
            ControlCommand::StopDetection => "stop_detection",
            ControlCommand::PauseDetection => "pause_detection",
            ControlCommand::ResumeDetection => "resume_detection",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// `POST /control` form fields.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    pub command: ControlCommand,
    pub password: String,
}

impl std::fmt::Debug for ControlRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlRequest")
            .field("command", &self.command)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Validate for ControlRequest {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_password(&self.password, &at.key("password"))
    }
}

/// `POST /control` response data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlResult {
    pub command: ControlCommand,
    pub status: DetectionStatus,
    pub previous_status: DetectionStatus,
}

impl Validate for ControlResult {
    fn validate(&self, _: &Path) -> Result<(), ParseError> {
        Ok(())
    }
}

/// `GET /config` response data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigView {
    #[serde(deserialize_with = "Option::deserialize")]
    pub section: Option<String>,
    pub config: ConfigTree,
}

impl Validate for ConfigView {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        if let Some(section) = &self.section {
            check_len(section, 1, 64, &at.key("section"))?;
        }
        self.config.validate(&at.key("config"))
    }
}

/// Checks a dotted configuration key such as `detection.threshold`.
pub fn check_config_key(key: &str, at: &Path) -> Result<(), ParseError> {
    check_len(key, 3, 128, at)?;
    let well_formed = key.split('.').count() >= 2
        && key.split('.').all(|segment| {
            let mut chars = segment.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !well_formed {
        return Err(ParseError::invalid(
            at.rule(RuleKind::Format),
            "a config key is dot-separated lower-case segments, e.g. detection.threshold",
        ));
    }
    if key.split('.').any(super::validate::is_dangerous_key) {
        return Err(ParseError::invalid(
            at.rule(RuleKind::DangerousKey),
            "config keys must not name code (eval, exec, open, file)",
        ));
    }
    Ok(())
}

/// `POST /config` form fields.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSetRequest {
    pub key: String,
    pub value: String,
    pub password: String,
}

impl std::fmt::Debug for ConfigSetRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSetRequest")
            .field("key", &self.key)
            .field("value", &self.value)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Validate for ConfigSetRequest {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_config_key(&self.key, &at.key("key"))?;
        check_len(&self.value, 0, 256, &at.key("value"))?;
        check_password(&self.password, &at.key("password"))
    }
}

/// `POST /config` response data: the value now in force and the one it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    pub key: String,
    pub value: Value,
    #[serde(deserialize_with = "Option::deserialize")]
    pub previous_value: Option<Value>,
}

fn check_config_scalar(value: &Value, at: &Path) -> Result<(), ParseError> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err(ParseError::invalid(
            at.rule(RuleKind::Type),
            "a config value is a string, number or boolean",
        )),
    }
}

impl Validate for ConfigChange {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        check_config_key(&self.key, &at.key("key"))?;
        check_config_scalar(&self.value, &at.key("value"))?;
        match &self.previous_value {
            Some(previous) => check_config_scalar(previous, &at.key("previous_value")),
            None => Ok(()),
        }
    }
}

/// `GET /roi` data: the ROI and the size of the frame it lies in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoiView {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
    pub frame_width: u32,
    pub frame_height: u32,
}

impl RoiView {
    pub fn new(roi: Rect, frame_width: u32, frame_height: u32) -> Self {
        RoiView {
            x1: roi.x1,
            y1: roi.y1,
            x2: roi.x2,
            y2: roi.y2,
            frame_width,
            frame_height,
        }
    }

    pub fn rect(&self) -> Rect {
        Rect {
            x1: self.x1,
            y1: self.y1,
            x2: self.x2,
            y2: self.y2,
        }
    }
}

fn check_frame_size(width: u32, height: u32, at: &Path) -> Result<(), ParseError> {
    let max = u64::from(super::common::MAX_COORDINATE);
    check_range_u64(u64::from(width), 1, max, &at.key("frame_width"))?;
    check_range_u64(u64::from(height), 1, max, &at.key("frame_height"))
}

impl Validate for RoiView {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        validate_corners(self.x1, self.y1, self.x2, self.y2, at)?;
        check_frame_size(self.frame_width, self.frame_height, at)
    }
}

/// `POST /roi` form fields.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoiSetRequest {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
    pub password: String,
}

impl std::fmt::Debug for RoiSetRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoiSetRequest")
            .field("rect", &self.rect())
            .field("password", &"<redacted>")
            .finish()
    }
}

impl RoiSetRequest {
    pub fn rect(&self) -> Rect {
        Rect {
            x1: self.x1,
            y1: self.y1,
            x2: self.x2,
            y2: self.y2,
        }
    }
}

impl Validate for RoiSetRequest {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        validate_corners(self.x1, self.y1, self.x2, self.y2, at)?;
        check_password(&self.password, &at.key("password"))
    }
}

/// `POST /roi` response data: the new ROI, its frame, and the ROI it replaced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoiChange {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
    pub frame_width: u32,
    pub frame_height: u32,
    pub previous: Rect,
}

impl Validate for RoiChange {
    fn validate(&self, at: &Path) -> Result<(), ParseError> {
        validate_corners(self.x1, self.y1, self.x2, self.y2, at)?;
        check_frame_size(self.frame_width, self.frame_height, at)?;
        self.previous.validate(&at.key("previous"))
    }
}
