//! Frame sources: a seeded synthetic camera, or replay of a recorded gray-value signal.
//!
//! A source is asked only for the pixels of the region of interest, sampled on a grid of at
//! most 64 × 64 points: the mean of those samples is `current_value`, and the samples are the
//! `roi_data` thumbnail. This keeps the cost per frame bounded whatever the ROI size.

use protocol::nhem::{Rect, MAX_THUMBNAIL_SIDE};
use std::path::{Path, PathBuf};

/// The ROI as seen on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RoiSample {
    pub mean_gray: f64,
    pub width: u32,
    pub height: u32,
    /// `width × height` gray bytes, row-major.
    pub pixels: Vec<u8>,
}

pub trait FrameSource: Send {
    /// The size of the camera frame, which bounds the ROI.
    fn frame_size(&self) -> (u32, u32);
    fn sample(&mut self, frame_index: u64, roi: Rect) -> RoiSample;
}

/// The thumbnail grid for a ROI: at most 64 points a side, evenly spread.
fn grid(roi: Rect) -> (u32, u32) {
    (
        roi.width().clamp(1, MAX_THUMBNAIL_SIDE),
        roi.height().clamp(1, MAX_THUMBNAIL_SIDE),
    )
}

/// SplitMix64: a tiny, well-distributed hash, so every pixel of every frame is a pure function
/// of (seed, frame, x, y) and the camera is reproducible.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [-1, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// A synthetic camera looking at skin: a static texture, a cardiac pulse (72 bpm, a main beat
/// and a smaller dicrotic wave), slow illumination drift and per-pixel noise.
pub struct SyntheticCamera {
    seed: u64,
    fps: f64,
    width: u32,
    height: u32,
}

impl SyntheticCamera {
    pub const BASE_GRAY: f64 = 118.0;
    pub const PULSE_AMPLITUDE: f64 = 24.0;
    pub const BEATS_PER_MINUTE: f64 = 72.0;

    pub fn new(seed: u64, fps: u32, width: u32, height: u32) -> Self {
        SyntheticCamera {
            seed,
            fps: f64::from(fps.max(1)),
            width,
            height,
        }
    }

    /// The noiseless brightness change of the whole frame at time `t` seconds.
    fn pulse(t: f64) -> f64 {
        let period = 60.0 / Self::BEATS_PER_MINUTE;
        // Beats start after one second, so the detector's warm-up never hides the first.
        let phase = (t - 1.0).rem_euclid(period);
        let gauss =
            |centre: f64, sigma: f64| (-(phase - centre).powi(2) / (2.0 * sigma * sigma)).exp();
        Self::PULSE_AMPLITUDE * (gauss(0.2, 0.07) + 0.25 * gauss(0.45, 0.06))
            + 4.0 * (2.0 * std::f64::consts::PI * t / 30.0).sin()
    }

    fn pixel(&self, frame_index: u64, x: u32, y: u32, frame_light: f64) -> f64 {
        let texture = 12.0 * unit(mix(self.seed ^ (u64::from(x) << 32 | u64::from(y))));
        let noise = 6.0
            * unit(mix(self.seed.rotate_left(17)
                ^ frame_index.wrapping_mul(0x1_0000_0001)
                ^ (u64::from(x) << 20)
                ^ u64::from(y)));
        (Self::BASE_GRAY + texture + frame_light + noise).clamp(0.0, 255.0)
    }
}

impl FrameSource for SyntheticCamera {
    fn frame_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn sample(&mut self, frame_index: u64, roi: Rect) -> RoiSample {
        let t = frame_index as f64 / self.fps;
        let frame_light =
            Self::pulse(t) + 0.8 * unit(mix(self.seed ^ frame_index.wrapping_mul(31)));
        let (w, h) = grid(roi);
        let mut pixels = Vec::with_capacity((w * h) as usize);
        let mut sum = 0.0;
        for gy in 0..h {
            let y = roi.y1 + gy * roi.height().max(1) / h;
            for gx in 0..w {
                let x = roi.x1 + gx * roi.width().max(1) / w;
                let v = self.pixel(frame_index, x, y, frame_light);
                sum += v;
                pixels.push(v.round() as u8);
            }
        }
        RoiSample {
            mean_gray: sum / f64::from(w * h),
            width: w,
            height: h,
            pixels,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignalFileError {
    #[error("cannot read signal file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {value:?} is not a gray value between 0 and 255")]
    BadValue {
        path: PathBuf,
        line: usize,
        value: String,
    },
    #[error("{path}: no gray values (expected one number per line, optional header `gray`)")]
    Empty { path: PathBuf },
}

/// Replay of `fixtures/signals/<name>.csv`: one gray value per line at the frame rate,
/// optional header line `gray`. Loops at the end. The ROI sees a uniform patch of that value.
pub struct SignalFile {
    values: Vec<f64>,
    width: u32,
    height: u32,
}

impl SignalFile {
    pub fn load(path: &Path, width: u32, height: u32) -> Result<Self, SignalFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignalFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, width, height)
    }

    pub fn parse(
        text: &str,
        path: &Path,
        width: u32,
        height: u32,
    ) -> Result<Self, SignalFileError> {
        let mut values = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let field = line.split(',').next().unwrap_or_default().trim();
            if field.is_empty() || (i == 0 && field.eq_ignore_ascii_case("gray")) {
                continue;
            }
            match field.parse::<f64>() {
                Ok(v) if (0.0..=255.0).contains(&v) => values.push(v),
                _ => {
                    return Err(SignalFileError::BadValue {
                        path: path.to_owned(),
                        line: i + 1,
                        value: field.chars().take(40).collect(),
                    })
                }
            }
        }
        if values.is_empty() {
            return Err(SignalFileError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(SignalFile {
            values,
            width,
            height,
        })
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

impl FrameSource for SignalFile {
    fn frame_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn sample(&mut self, frame_index: u64, roi: Rect) -> RoiSample {
        let value = self.values[(frame_index % self.values.len() as u64) as usize];
        let (w, h) = grid(roi);
        RoiSample {
            mean_gray: value,
            width: w,
            height: h,
            pixels: vec![value.round() as u8; (w * h) as usize],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROI: Rect = Rect {
        x1: 100,
        y1: 100,
        x2: 300,
        y2: 200,
    };

    #[test]
    fn synthetic_camera_is_deterministic_and_in_range() {
        let mut a = SyntheticCamera::new(7, 60, 640, 480);
        let mut b = SyntheticCamera::new(7, 60, 640, 480);
        for frame in [0, 1, 59, 1000] {
            let (sa, sb) = (a.sample(frame, ROI), b.sample(frame, ROI));
            assert_eq!(sa, sb);
            assert_eq!((sa.width, sa.height), (64, 64));
            assert_eq!(sa.pixels.len(), 64 * 64);
            assert!((0.0..=255.0).contains(&sa.mean_gray));
        }
        let mut c = SyntheticCamera::new(8, 60, 640, 480);
        assert_ne!(a.sample(5, ROI), c.sample(5, ROI));
    }

    #[test]
    fn small_rois_get_one_sample_per_pixel() {
        let mut cam = SyntheticCamera::new(1, 60, 640, 480);
        let s = cam.sample(
            0,
            Rect {
                x1: 0,
                y1: 0,
                x2: 3,
                y2: 2,
            },
        );
        assert_eq!((s.width, s.height, s.pixels.len()), (3, 2, 6));
    }

    #[test]
    fn signal_files_parse_with_header_and_report_bad_lines() {
        let path = Path::new("x.csv");
        let s = SignalFile::parse("gray\n1.5\n2\n\n255\n", path, 640, 480).expect("valid");
        assert_eq!(s.values(), &[1.5, 2.0, 255.0]);
        let err = SignalFile::parse("gray\n1\n300\n", path, 640, 480)
            .err()
            .expect("300 is out of range");
        assert_eq!(
            err.to_string(),
            "x.csv:3: \"300\" is not a gray value between 0 and 255"
        );
        assert!(SignalFile::parse("gray\n", path, 640, 480).is_err());
    }
}
