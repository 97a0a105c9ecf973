//! Baseline and peak detection for pulse waves: rises measured from their own trough,
//! thresholds relative to the pulse's typical amplitude, and a refractory interval.
//!
//! Real PPG has dicrotic notches, amplitude that changes from beat to beat and over minutes,
//! baseline wander and motion artefacts; a fixed height above a baseline cannot follow them
//! (issue 14: precision 0.71 on a real recording). So, on a 3-frame moving average `s`:
//!
//! 1. **Rise**: from the lowest `s` since the last turning point (the trough), a rise starts
//!    once `s` is `hysteresis` above it; its maximum is tracked.
//! 2. **Turn**: the rise ends when `s` falls `max(hysteresis, 25 % of the rise)` below that
//!    maximum, typically 100–150 ms after the peak (so a peak is confirmed well within 300 ms).
//! 3. **Verdict**: the turn is a beat when its rise (trough to maximum) is at least
//!    `threshold` and at least half the largest rise of the last 2 s, and it is outside the
//!    refractory interval of the previous beat. The second wave after a dicrotic notch rises
//!    from the notch by a fraction of a beat, and noise by less, so both are refused by the
//!    relative threshold; a window of 2 s holds a beat at any rate above 30 bpm, so the
//!    threshold follows a pulse that weakens or strengthens within that time.
//!
//! This is in the spirit of adaptive slope/threshold PPG detectors (a local, amplitude-relative
//! criterion instead of Elgendi's fixed-window energy blocks), causal and constant-time per
//! frame. The reported maximum is the raw value's, between the trough and the turn. The
//! `baseline` (an exponential moving average, `baseline_alpha`) is what frames report and what
//! `prominence` is measured from; detection does not depend on it.

use protocol::nhem::PeakSignal;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectionParams {
    /// The smallest rise (gray levels, trough to maximum) that can be a beat; the threshold in
    /// use is the larger of this and half the typical rise of recent beats.
    pub threshold: f64,
    /// The smallest movement (gray levels) that starts a rise, and the smallest fall that ends
    /// one (the fall in use is the larger of this and 25 % of the rise).
    pub hysteresis: f64,
    /// Minimum time between two peaks.
    pub refractory_ms: u32,
    /// Weight of a new value in the reported baseline average (0 < alpha ≤ 1).
    pub baseline_alpha: f64,
    /// Frames after a (re)start during which `peak_signal` is null.
    pub warmup_frames: u32,
}

impl Default for DetectionParams {
    fn default() -> Self {
        DetectionParams {
            threshold: 4.0,
            hysteresis: 1.5,
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

/// A rise in progress: from `trough` (smoothed) up to `top` (smoothed), with the raw maximum.
#[derive(Debug, Clone, Copy)]
struct Rise {
    trough: f64,
    top: f64,
    max_value: f64,
    max_frame: u64,
    /// The frame the rise started on.
    started: u64,
}

/// Fraction of a beat's rise that the signal must fall to end the rise.
const TURN_FRACTION: f64 = 0.25;
/// Fraction of the largest recent rise a rise must reach to be a beat.
const RELATIVE_THRESHOLD: f64 = 0.5;
/// How far back "recent" reaches, in seconds.
const RECENT_S: f64 = 2.0;
/// Frames in the moving average the rise and turn look at.
const SMOOTHING_FRAMES: usize = 3;

pub struct PeakDetector {
    params: DetectionParams,
    fps: u32,
    baseline: Option<f64>,
    frames_seen: u64,
    recent: [f64; SMOOTHING_FRAMES],
    /// Lowest smoothed value since the last turning point, with the raw maximum since then
    /// (the raw peak may come a frame before the smoothed one).
    trough: f64,
    raw_since_trough: (f64, u64),
    rise: Option<Rise>,
    /// `(frame of the maximum, rise)` of every turn in the last `RECENT_S`, oldest first.
    recent_rises: std::collections::VecDeque<(u64, f64)>,
    last_peak_frame: Option<u64>,
    refractory_until: u64,
}

impl PeakDetector {
    pub fn new(params: DetectionParams, fps: u32) -> Self {
        let fps = fps.max(1);
        PeakDetector {
            params,
            fps,
            baseline: None,
            frames_seen: 0,
            recent: [0.0; SMOOTHING_FRAMES],
            trough: f64::INFINITY,
            raw_since_trough: (f64::NEG_INFINITY, 0),
            rise: None,
            recent_rises: std::collections::VecDeque::new(),
            last_peak_frame: None,
            refractory_until: 0,
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

    /// The rise a beat needs now: `threshold`, or half the largest recent rise if more.
    fn needed_rise(&self) -> f64 {
        let largest = self
            .recent_rises
            .iter()
            .map(|(_, r)| *r)
            .fold(0.0, f64::max);
        self.params.threshold.max(RELATIVE_THRESHOLD * largest)
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
        if value > self.raw_since_trough.0 {
            self.raw_since_trough = (value, frame_index);
        }

        let hysteresis = self.params.hysteresis.max(0.0);
        let mut confirmed = None;
        match self.rise.as_mut() {
            None => {
                if smoothed < self.trough {
                    self.trough = smoothed;
                    self.raw_since_trough = (value, frame_index);
                } else if smoothed - self.trough >= hysteresis.max(f64::EPSILON) {
                    let (max_value, max_frame) = self.raw_since_trough;
                    self.rise = Some(Rise {
                        trough: self.trough,
                        top: smoothed,
                        max_value,
                        max_frame,
                        started: frame_index,
                    });
                }
            }
            Some(rise) => {
                if smoothed > rise.top {
                    rise.top = smoothed;
                }
                if value > rise.max_value {
                    rise.max_value = value;
                    rise.max_frame = frame_index;
                }
                let height = rise.top - rise.trough;
                let recent_frames = (RECENT_S * f64::from(self.fps)) as u64;
                if frame_index.saturating_sub(rise.started) > recent_frames {
                    // No pulse rises for 2 s: the level stepped up (a brighter ROI, a light
                    // switched on). Give the rise up and measure from here, or pulses smaller
                    // than a third of the step could never end it.
                    self.rise = None;
                    self.trough = smoothed;
                    self.raw_since_trough = (value, frame_index);
                } else if smoothed <= rise.top - hysteresis.max(TURN_FRACTION * height) {
                    let rise = *rise;
                    self.rise = None;
                    self.trough = smoothed;
                    self.raw_since_trough = (value, frame_index);
                    while self
                        .recent_rises
                        .front()
                        .is_some_and(|(at, _)| at + recent_frames < rise.max_frame)
                    {
                        self.recent_rises.pop_front();
                    }
                    let needed = self.needed_rise();
                    self.recent_rises.push_back((rise.max_frame, height));
                    if !warming_up && rise.max_frame >= self.refractory_until && height >= needed {
                        confirmed = Some(self.accept(rise, baseline));
                    }
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

    fn accept(&mut self, rise: Rise, baseline: f64) -> ConfirmedPeak {
        let peak = ConfirmedPeak {
            frame_index: rise.max_frame,
            value: rise.max_value,
            prominence: (rise.max_value - baseline).max(0.0),
            interval_frames: self
                .last_peak_frame
                .map(|last| rise.max_frame.saturating_sub(last)),
        };
        self.last_peak_frame = Some(rise.max_frame);
        self.refractory_until = rise.max_frame + self.refractory_frames();
        peak
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

    /// A pulse wave at 60 FPS: a systolic bump of `amplitude` every `period` frames, a dicrotic
    /// bump of `notch` × amplitude 15 frames (250 ms) later, on `base(frame)`.
    fn pulse_wave(
        frames: usize,
        period: usize,
        amplitude: impl Fn(usize) -> f64,
        notch: f64,
        base: impl Fn(usize) -> f64,
    ) -> (Vec<f64>, Vec<u64>) {
        let bump = |x: f64, width: f64| (-0.5 * (x / width).powi(2)).exp();
        let beats: Vec<usize> = (period..frames - period).step_by(period).collect();
        let values = (0..frames)
            .map(|i| {
                base(i)
                    + beats
                        .iter()
                        .map(|&b| {
                            let x = i as f64 - b as f64;
                            amplitude(b) * (bump(x, 4.0) + notch * bump(x - 15.0, 4.0))
                        })
                        .sum::<f64>()
            })
            .collect();
        (values, beats.into_iter().map(|b| b as u64).collect())
    }

    #[test]
    fn the_wave_after_a_dicrotic_notch_is_not_a_beat() {
        // The dicrotic wave stands 40% of a 60-level beat above the baseline: a fixed threshold
        // of 8 counted it; its rise from the notch is a fraction of the beat's.
        let (values, beats) = pulse_wave(1200, 50, |_| 60.0, 0.4, |_| 100.0);
        let found: Vec<u64> = run(&values).iter().map(|p| p.frame_index).collect();
        assert_eq!(found, beats);
    }

    #[test]
    fn follows_a_pulse_that_weakens_and_a_drifting_baseline() {
        // 40 levels for 10 s, then 10 levels, on a baseline drifting by 40 levels a minute.
        let (values, beats) = pulse_wave(
            2400,
            55,
            |b| if b < 600 { 40.0 } else { 10.0 },
            0.2,
            |i| 90.0 + 40.0 * i as f64 / 3600.0,
        );
        let found: Vec<u64> = run(&values).iter().map(|p| p.frame_index).collect();
        // Within 2 s of the change the stronger beats still set the bar; after, every beat.
        let after: Vec<u64> = beats.iter().copied().filter(|&b| b > 600 + 120).collect();
        let found_after: Vec<u64> = found.iter().copied().filter(|&b| b > 600 + 120).collect();
        assert_eq!(found_after, after);
        let before: Vec<u64> = beats.iter().copied().filter(|&b| b < 600).collect();
        assert!(before.iter().all(|b| found.contains(b)), "{found:?}");
    }

    #[test]
    fn a_step_up_in_the_level_does_not_stall_detection() {
        // Found in review: 100 → 160 at frame 1000 became one rise that 20-level pulses could
        // never end, and no peak was found after it.
        let (values, beats) = pulse_wave(
            3000,
            50,
            |_| 20.0,
            0.0,
            |i| if i < 1000 { 100.0 } else { 160.0 },
        );
        let found: Vec<u64> = run(&values).iter().map(|p| p.frame_index).collect();
        let after: Vec<u64> = beats.iter().copied().filter(|&b| b > 1000 + 180).collect();
        let found_after: Vec<u64> = found.iter().copied().filter(|&b| b > 1000 + 180).collect();
        assert_eq!(found_after, after);
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
