//! ECG samples in mV: a seeded synthetic PQRST signal, or a recording replayed in a loop.
//!
//! Every sample is rounded to 3 decimals and formatted as JSON text once, at start-up, so a
//! frame is built by joining pre-formatted numbers: no float formatting per frame per client.

use std::path::{Path, PathBuf};

/// Heart rate of the synthetic signal: 72 beats in exactly 60 s, so a 60 s loop is seamless.
const BPM: f64 = 72.0;
const LOOP_SECONDS: usize = 60;

/// The samples of one loop, as numbers and as their JSON text.
#[derive(Debug, Clone)]
pub struct Signal {
    values: Vec<f64>,
    texts: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("cannot read ECG source {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: {value:?} is not a number of mV (one value per line, optional header `mv`)"
    )]
    BadValue {
        path: PathBuf,
        line: usize,
        value: String,
    },
    #[error("{path} holds no samples")]
    Empty { path: PathBuf },
}

/// SplitMix64, as the NHEM camera uses: the noise is a pure function of (seed, sample).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One beat as a sum of Gaussians (P, Q, R, S, T), `t` seconds from the R peak.
fn pqrst(t: f64) -> f64 {
    const WAVES: [(f64, f64, f64); 5] = [
        // (amplitude mV, centre s, width s)
        (0.15, -0.20, 0.025),
        (-0.12, -0.035, 0.010),
        (1.20, 0.0, 0.012),
        (-0.25, 0.035, 0.012),
        (0.30, 0.25, 0.045),
    ];
    WAVES
        .iter()
        .map(|(a, c, w)| a * (-((t - c) / w).powi(2) / 2.0).exp())
        .sum()
}

impl Signal {
    /// 60 s of PQRST at 72 bpm with a little seeded noise and baseline wander.
    pub fn synthetic(seed: u64, sample_rate: u32) -> Self {
        let n = LOOP_SECONDS * sample_rate as usize;
        let beat = 60.0 / BPM;
        let values = (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(sample_rate);
                let phase = (t + beat / 2.0) % beat - beat / 2.0;
                let wander = 0.05 * (2.0 * std::f64::consts::PI * t / 7.5).sin();
                let noise =
                    ((mix(seed ^ mix(i as u64)) >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.02;
                round3(pqrst(phase) + wander + noise)
            })
            .collect();
        Self::from_values(values)
    }

    /// A recording: one value in mV per line, optional header `mv`, extra CSV columns ignored.
    pub fn load(path: &Path) -> Result<Self, SignalError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignalError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut values = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let field = line.split(',').next().unwrap_or_default().trim();
            if field.is_empty() || (i == 0 && field.eq_ignore_ascii_case("mv")) {
                continue;
            }
            match field.parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(round3(v)),
                _ => {
                    return Err(SignalError::BadValue {
                        path: path.to_owned(),
                        line: i + 1,
                        value: field.chars().take(40).collect(),
                    })
                }
            }
        }
        if values.is_empty() {
            return Err(SignalError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self::from_values(values))
    }

    fn from_values(values: Vec<f64>) -> Self {
        let texts = values
            .iter()
            .map(|v| {
                serde_json::Number::from_f64(*v).map_or_else(|| "0".to_owned(), |n| n.to_string())
            })
            .collect();
        Signal { values, texts }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn value(&self, sample: u64) -> f64 {
        self.values[(sample % self.values.len() as u64) as usize]
    }

    /// Appends `count` samples from `first` (looping) as a JSON array.
    pub fn write_points(&self, first: u64, count: usize, out: &mut String) {
        out.push('[');
        for i in 0..count as u64 {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&self.texts[((first + i) % self.texts.len() as u64) as usize]);
        }
        out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_signal_is_deterministic_beats_at_72_bpm_and_stays_in_range() {
        let a = Signal::synthetic(7, 250);
        assert_eq!(a.len(), 15_000);
        assert_eq!(a.values, Signal::synthetic(7, 250).values);
        assert!(a.values.iter().all(|v| (-1.0..=2.0).contains(v)));
        // R peaks: local maxima above 0.8 mV, one per beat, counted around the loop (the
        // first sample is an R peak: the loop is seamless).
        let n = a.len();
        let at = |i: usize| a.values[i % n];
        let peaks = (n..2 * n)
            .filter(|&i| at(i) > 0.8 && at(i) >= at(i - 1) && at(i) > at(i + 1))
            .count();
        assert_eq!(peaks, 72);
    }

    #[test]
    fn points_loop_and_parse_back() {
        let signal = Signal::from_values(vec![1.0, -0.5, 2.25]);
        let mut out = String::new();
        signal.write_points(2, 4, &mut out);
        let parsed: Vec<f64> = serde_json::from_str(&out).expect("JSON array");
        assert_eq!(parsed, vec![2.25, 1.0, -0.5, 2.25]);
    }

    #[test]
    fn recordings_need_numbers() {
        let dir = std::env::temp_dir().join(format!("ecg-signal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("good.csv");
        std::fs::write(&good, "mv\n0.1\n-0.25\n").expect("write");
        assert_eq!(Signal::load(&good).expect("loads").values, vec![0.1, -0.25]);
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, "mv\n0.1\nNaN\n").expect("write");
        assert!(matches!(
            Signal::load(&bad),
            Err(SignalError::BadValue { line: 3, .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
