//! Detection quality, scored: precision, recall and F1 at ±100 ms on every recording with
//! ground truth, through the live server's path (a `SignalFile` source in a `Pipeline`, the
//! default ROI and parameters). The synthetic fixtures (`fixtures/signals/*.csv`) must reach
//! F1 ≥ 0.98; the simulated PPG set (`fixtures/signals/ppg/`, ground truth from the simulator)
//! F1 ≥ 0.97. Every peak must be confirmed within 300 ms of its maximum. The table is printed
//! (`cargo test -p reference-server --test it detection -- --nocapture`) and goes to
//! `docs/DETECTION.md`.

use reference_server::nhem::pipeline::{DetectionParams, Pipeline, SignalFile};
use std::path::{Path, PathBuf};

const FPS: u32 = 60;
/// ±100 ms at 60 FPS.
const TOLERANCE_FRAMES: u64 = 6;
/// A peak is confirmed at most 300 ms after its maximum.
const MAX_CONFIRM_FRAMES: u64 = 18;
/// Peaks in the first second (warm-up, 0.5 s by default, then a first beat to learn from)
/// and in the last 300 ms (no time left to confirm) are scored neither way.
const SKIP_START_FRAMES: u64 = 60;

fn signals_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/signals")
}

/// Recordings in `dir` that carry ground truth (`ecg-*.csv` are mV for the ECG profile).
fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "csv"))
                .filter(|p| p.with_extension("peaks.json").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn truth(csv: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(csv.with_extension("peaks.json")).expect("ground truth");
    let truth: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(truth["fps"], FPS, "{}", csv.display());
    truth["peak_frames"]
        .as_array()
        .expect("peak_frames")
        .iter()
        .filter_map(|v| v.as_u64())
        .collect()
}

/// Each detection's peak frame and the frame it was confirmed on, as the live server runs,
/// and the recording's length in frames.
fn detect(csv: &Path) -> (Vec<(u64, u64)>, u64) {
    let (width, height) = (640, 480);
    let signal = SignalFile::load(csv, width, height).expect("signal loads");
    let frames = signal.values().len() as u64;
    let mut pipeline = Pipeline::new(Box::new(signal), DetectionParams::default(), FPS);
    let roi = protocol::nhem::Rect {
        x1: 288,
        y1: 208,
        x2: 352,
        y2: 272,
    };
    let detections = (0..frames)
        .filter_map(|i| {
            let sample = pipeline.step(i, roi);
            sample.detection.confirmed.map(|peak| (peak.frame_index, i))
        })
        .collect();
    (detections, frames)
}

struct Score {
    precision: f64,
    recall: f64,
    f1: f64,
    detected: usize,
    truth: usize,
    worst_confirm_ms: f64,
}

/// Greedy one-to-one matching of detections to true peaks within the tolerance, over the
/// frames `SKIP_START_FRAMES..frames - MAX_CONFIRM_FRAMES`.
fn score(detections: &[(u64, u64)], truth: &[u64], frames: u64) -> Score {
    let scored = SKIP_START_FRAMES..frames.saturating_sub(MAX_CONFIRM_FRAMES);
    let detections: Vec<(u64, u64)> = detections
        .iter()
        .copied()
        .filter(|(peak, _)| scored.contains(peak))
        .collect();
    let truth: Vec<u64> = truth
        .iter()
        .copied()
        .filter(|t| scored.contains(t))
        .collect();
    let mut used = vec![false; truth.len()];
    let mut matched = 0usize;
    for &(peak, _) in &detections {
        if let Some(i) =
            (0..truth.len()).find(|&i| !used[i] && truth[i].abs_diff(peak) <= TOLERANCE_FRAMES)
        {
            used[i] = true;
            matched += 1;
        }
    }
    let precision = matched as f64 / detections.len().max(1) as f64;
    let recall = matched as f64 / truth.len().max(1) as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let worst = detections
        .iter()
        .map(|(peak, confirmed)| confirmed - peak)
        .max()
        .unwrap_or(0);
    Score {
        precision,
        recall,
        f1,
        detected: detections.len(),
        truth: truth.len(),
        worst_confirm_ms: worst as f64 * 1000.0 / f64::from(FPS),
    }
}

#[test]
fn every_recording_scores_its_f1_and_confirms_within_300_ms() {
    let sets = [
        ("synthetic", signals_dir(), 0.98),
        ("simulated PPG", signals_dir().join("ppg"), 0.97),
    ];
    let mut table = vec![
        "| set | recording | beats | detected | precision | recall | F1 | worst confirmation |"
            .to_owned(),
        "| --- | --- | --- | --- | --- | --- | --- | --- |".to_owned(),
    ];
    let mut below = Vec::new();
    for (set, dir, required_f1) in &sets {
        let files = recordings(dir);
        assert!(
            files.len() >= 5,
            "{set}: expected at least 5 recordings in {}, found {}",
            dir.display(),
            files.len()
        );
        for csv in files {
            let (detections, frames) = detect(&csv);
            let s = score(&detections, &truth(&csv), frames);
            let name = csv
                .file_stem()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            table.push(format!(
                "| {set} | `{name}` | {} | {} | {:.3} | {:.3} | {:.3} | {:.0} ms |",
                s.truth, s.detected, s.precision, s.recall, s.f1, s.worst_confirm_ms
            ));
            if s.f1 < *required_f1 {
                below.push(format!("{name}: F1 {:.3} < {required_f1}", s.f1));
            }
            if s.worst_confirm_ms > (MAX_CONFIRM_FRAMES * 1000 / u64::from(FPS)) as f64 {
                below.push(format!(
                    "{name}: a peak confirmed {:.0} ms after its maximum",
                    s.worst_confirm_ms
                ));
            }
        }
    }
    println!("{}", table.join("\n"));
    assert!(
        below.is_empty(),
        "{}\n{}",
        below.join("\n"),
        table.join("\n")
    );
}
