//! The detection pipeline: source → ROI → `current_value` (mean gray) → baseline → peak detector.
//!
//! Pure computation, no I/O after construction: the broadcaster calls [`Pipeline::step`] once
//! per tick, so the same frames come out of the same inputs (the synthetic camera is seeded).

mod detector;
mod source;

pub use detector::{ConfirmedPeak, Detection, DetectionParams, PeakDetector};
pub use source::{FrameSource, RoiSample, SignalFile, SignalFileError, SyntheticCamera};

use protocol::nhem::Rect;

/// One processed frame.
#[derive(Debug, Clone)]
pub struct FrameSample {
    pub current_value: f64,
    pub detection: Detection,
    pub roi: RoiSample,
}

pub struct Pipeline {
    source: Box<dyn FrameSource>,
    detector: PeakDetector,
}

impl Pipeline {
    pub fn new(source: Box<dyn FrameSource>, params: DetectionParams, fps: u32) -> Self {
        Pipeline {
            source,
            detector: PeakDetector::new(params, fps),
        }
    }

    pub fn frame_size(&self) -> (u32, u32) {
        self.source.frame_size()
    }

    pub fn set_params(&mut self, params: DetectionParams) {
        self.detector.set_params(params);
    }

    /// Forgets baseline and peak state (after `stop_detection`), keeping the parameters.
    pub fn reset(&mut self) {
        self.detector.reset();
    }

    pub fn step(&mut self, frame_index: u64, roi: Rect) -> FrameSample {
        let sample = self.source.sample(frame_index, roi);
        let detection = self.detector.step(frame_index, sample.mean_gray);
        FrameSample {
            current_value: sample.mean_gray,
            detection,
            roi: sample,
        }
    }
}
