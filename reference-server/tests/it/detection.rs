//! Detection quality on recorded signals with ground truth: precision and recall ≥ 0.98.

use reference_server::nhem::pipeline::{DetectionParams, PeakDetector, SignalFile};
use std::path::PathBuf;

/// Frames a detection may be off from the true peak and still count (±67 ms at 60 FPS).
const TOLERANCE_FRAMES: u64 = 4;

fn signals_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/signals")
}

/// Greedy one-to-one matching of detections to true peaks within the tolerance.
fn precision_recall(detected: &[u64], truth: &[u64]) -> (f64, f64) {
    let mut used = vec![false; truth.len()];
    let mut matched = 0usize;
    for d in detected {
        if let Some(i) =
            (0..truth.len()).find(|&i| !used[i] && truth[i].abs_diff(*d) <= TOLERANCE_FRAMES)
        {
            used[i] = true;
            matched += 1;
        }
    }
    (
        matched as f64 / detected.len().max(1) as f64,
        matched as f64 / truth.len().max(1) as f64,
    )
}

#[test]
fn precision_and_recall_are_at_least_0_98_on_every_signal() {
    let mut report = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(signals_dir())
        .expect("fixtures/signals exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        // Gray-level signals for NHEM carry ground truth; `ecg-*.csv` are mV for the ECG profile.
        .filter(|p| p.with_extension("peaks.json").exists())
        .collect();
    names.sort();
    assert!(
        names.len() >= 5,
        "expected the five shipped signals, found {names:?}"
    );
    for csv in names {
        let truth_path = csv.with_extension("peaks.json");
        let truth: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&truth_path).expect("ground truth"))
                .expect("JSON");
        assert_eq!(truth["fps"], 60);
        let truth: Vec<u64> = truth["peak_frames"]
            .as_array()
            .expect("peak_frames")
            .iter()
            .filter_map(|v| v.as_u64())
            .collect();
        let signal = SignalFile::load(&csv, 640, 480).expect("signal loads");
        let mut detector = PeakDetector::new(DetectionParams::default(), 60);
        let detected: Vec<u64> = signal
            .values()
            .iter()
            .enumerate()
            .filter_map(|(i, v)| detector.step(i as u64, *v).confirmed.map(|p| p.frame_index))
            .collect();
        let (precision, recall) = precision_recall(&detected, &truth);
        report.push(format!(
            "{}: precision {precision:.3} recall {recall:.3} ({} detected, {} true)",
            csv.display(),
            detected.len(),
            truth.len()
        ));
        assert!(precision >= 0.98 && recall >= 0.98, "{}", report.join("\n"));
    }
    println!("{}", report.join("\n"));
}
