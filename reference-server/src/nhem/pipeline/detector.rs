//! Baseline and peak detection: threshold with hysteresis and a refractory interval.
//!
//! A peak is *armed* when the signal rises more than `threshold` above the baseline, tracks its
//! maximum while armed, and is *confirmed* when the signal falls below `threshold − hysteresis`.
//! After a confirmed peak, no new peak may arm for `refractory_ms`.
//!
//! Arming and confirming look at a 3-frame moving average, so one noisy frame on a rising edge
//! cannot confirm a peak early (measured on `fixtures/signals/noisy.csv`: without it, ~5% of
//! beats were confirmed early and their true maximum fell into the refractory interval). The
//! reported maximum is taken from the raw values. The baseline is an exponential moving average
//! updated on every frame: freezing it during pulses made it lag behind drifting signals.

use protocol::nhem::PeakSignal;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectionParams {
    /// Gray levels above the baseline that arm a peak.
    pub threshold: f64,
    /// How far below the threshold the value must fall to confirm the peak.
    pub hysteresis: f64,
    /// Minimum time between two peaks.
    pub refractory_ms: u32,
    /// Weight of a new value in the baseline average (0 < alpha ≤ 1).
    pub baseline_alpha: f64,
    /// Frames after a (re)start during which `peak_signal` is null.
    pub warmup_frames: u32,
}

impl Default for DetectionParams {
    fn default() -> Self {
        DetectionParams {
            threshold: 8.0,
            hysteresis: 2.0,
            refractory_ms: 250,
            baseline_alpha: 0.02,
            warmup_frames: 30,
        }
    }
}

/// A peak, reported on the frame it is confirmed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfirmedPeak {
    /// The frame of the maximum (not of the confirmation).
    pub frame_index: u64,
    pub value: f64,
    /// Height of the maximum above the baseline.
    pub prominence: f64,
    /// Frames since the previous peak's maximum; `None` for the first peak.
    pub interval_frames: Option<u64>,
}

/// What the detector says about one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub baseline: f64,
    /// `None` while warming up.
    pub peak_signal: Option<PeakSignal>,
    pub confirmed: Option<ConfirmedPeak>,
}

#[derive(Debug, Clone, Copy)]
struct Armed {
    max_value: f64,
    max_frame: u64,
}

pub struct PeakDetector {
    params: DetectionParams,
    fps: u32,
    baseline: Option<f64>,
    frames_seen: u64,
    armed: Option<Armed>,
    last_peak_frame: Option<u64>,
    refractory_until: u64,
    recent: [f64; SMOOTHING_FRAMES],
}

/// Frames in the moving average that arming and confirming look at.
const SMOOTHING_FRAMES: usize = 3;

impl PeakDetector {
    pub fn new(params: DetectionParams, fps: u32) -> Self {
        PeakDetector {
            params,
            fps: fps.max(1),
            baseline: None,
            frames_seen: 0,
            armed: None,
            last_peak_frame: None,
            refractory_until: 0,
            recent: [0.0; SMOOTHING_FRAMES],
        }
    }

    pub fn set_params(&mut self, params: DetectionParams) {
        self.params = params;
    }

    pub fn reset(&mut self) {
        *self = PeakDetector::new(self.params, self.fps);
    }

    fn refractory_frames(&self) -> u64 {
        (u64::from(self.params.refractory_ms) * u64::from(self.fps)).div_ceil(1000)
    }

    pub fn step(&mut self, frame_index: u64, value: f64) -> Detection {
        let first = self.frames_seen == 0;
        self.frames_seen += 1;
        let warming_up = self.frames_seen <= u64::from(self.params.warmup_frames);
        if first {
            self.recent = [value; SMOOTHING_FRAMES];
        }
        self.recent.rotate_left(1);
        self.recent[SMOOTHING_FRAMES - 1] = value;
        let smoothed = self.recent.iter().sum::<f64>() / SMOOTHING_FRAMES as f64;
        let mut baseline = self.baseline.unwrap_or(value);
        baseline += self.params.baseline_alpha * (value - baseline);
        self.baseline = Some(baseline);
        let excess = smoothed - baseline;

        let mut confirmed = None;
        match self.armed.as_mut() {
            None => {
                if !warming_up
                    && frame_index >= self.refractory_until
                    && excess > self.params.threshold
                {
                    self.armed = Some(Armed {
                        max_value: value,
                        max_frame: frame_index,
                    });
                }
            }
            Some(armed) => {
                if value > armed.max_value {
                    armed.max_value = value;
                    armed.max_frame = frame_index;
                }
                if excess < self.params.threshold - self.params.hysteresis {
                    let peak = *armed;
                    self.armed = None;
                    confirmed = Some(ConfirmedPeak {
                        frame_index: peak.max_frame,
                        value: peak.max_value,
                        prominence: (peak.max_value - baseline).max(0.0),
                        interval_frames: self
                            .last_peak_frame
                            .map(|last| peak.max_frame.saturating_sub(last)),
                    });
                    self.last_peak_frame = Some(peak.max_frame);
                    self.refractory_until = peak.max_frame + self.refractory_frames();
                }
            }
        }
        Detection {
            baseline: baseline.clamp(0.0, 255.0),
            peak_signal: if warming_up {
                None
            } else if confirmed.is_some() {
                Some(PeakSignal::Peak)
            } else {
                Some(PeakSignal::NoPeak)
            },
            confirmed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[f64]) -> Vec<ConfirmedPeak> {
        let mut d = PeakDetector::new(DetectionParams::default(), 60);
        values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| d.step(i as u64, *v).confirmed)
            .collect()
    }

    #[test]
    fn warms_up_then_reports_every_frame() {
        let mut d = PeakDetector::new(DetectionParams::default(), 60);
        let signals: Vec<_> = (0..40).map(|i| d.step(i, 100.0).peak_signal).collect();
        assert!(signals[..30].iter().all(Option::is_none));
        assert!(signals[30..].iter().all(|s| *s == Some(PeakSignal::NoPeak)));
    }

    #[test]
    fn finds_the_maximum_of_a_pulse_and_its_interval() {
        let mut values = vec![100.0; 200];
        for centre in [60usize, 120] {
            for (offset, bump) in [(-2i64, 10.0), (-1, 18.0), (0, 25.0), (1, 18.0), (2, 10.0)] {
                values[(centre as i64 + offset) as usize] += bump;
            }
        }
        let peaks = run(&values);
        assert_eq!(peaks.len(), 2, "{peaks:?}");
        assert_eq!(peaks[0].frame_index, 60);
        assert_eq!(peaks[0].interval_frames, None);
        assert_eq!(peaks[1].frame_index, 120);
        assert_eq!(peaks[1].interval_frames, Some(60));
        assert!(peaks[0].prominence > 20.0);
    }

    #[test]
    fn refractory_interval_suppresses_a_second_bump() {
        let mut values = vec![100.0; 200];
        values[60] = 130.0; // peak
        values[66] = 130.0; // 100 ms later: inside the 250 ms refractory interval
        values[90] = 130.0; // 500 ms later: outside
        let frames: Vec<_> = run(&values).iter().map(|p| p.frame_index).collect();
        assert_eq!(frames, vec![60, 90]);
    }
}
