//! One captured window of the broadcast, judged several ways.

use super::{all_valid, case, fail, info, pass, Ctx};
use crate::outcome::{CaseResult, Evidence, Outcome};
use crate::wire::{Event, WsConn};
use protocol::Timestamp;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const IDS: [&str; 9] = [
    "nhem.ws.data.schema",
    "nhem.ws.data.rate_60fps",
    "nhem.ws.data.jitter",
    "nhem.ws.data.frame_count_monotonic",
    "nhem.ws.data.no_gaps",
    "nhem.ws.data.timestamp_microseconds",
    "nhem.ws.data.timestamp_scheduled",
    "nhem.ws.data.latency",
    "nhem.ws.data.peaks",
];

/// One received data frame and what could be read from it.
struct Frame {
    message: Value,
    at: Instant,
    wall_ns: i128,
    frame_count: Option<u64>,
    timestamp_ns: Option<i128>,
}

pub async fn run(ctx: &Ctx) -> Vec<CaseResult> {
    let Ok(mut conn) = WsConn::connect(&ctx.ws_url, Duration::from_secs(3)).await else {
        return IDS
            .iter()
            .map(|id| info(id, "not evaluated: no connection"))
            .collect();
    };
    conn.send_json(&json!({"type": "auth", "password": ctx.secret}))
        .await;
    let mut target_fps = 60.0;
    let mut frames = Vec::new();
    let end = Instant::now() + ctx.window;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match conn.next_event(left).await {
            Event::Json { value, at, wall_ns } if value["type"] == "data" => {
                let timestamp_ns = value["timestamp"]
                    .as_str()
                    .and_then(Timestamp::parse)
                    .and_then(|t| t.unix_nanos());
                frames.push(Frame {
                    frame_count: value["frame_count"].as_u64(),
                    timestamp_ns,
                    message: value,
                    at,
                    wall_ns,
                });
            }
            Event::Json { value, .. } if value["type"] == "status" => {
                if let Some(fps) = value["target_fps"].as_f64().filter(|f| *f > 0.0) {
                    target_fps = fps;
                }
            }
            Event::Closed(_) | Event::Timeout => break,
            _ => {}
        }
    }
    conn.close().await;
    if frames.len() < 3 {
        let note = format!(
            "only {} data frames in {:.1} s (is detection running?)",
            frames.len(),
            ctx.window.as_secs_f64()
        );
        let mut out = vec![fail(
            "nhem.ws.data.rate_60fps",
            Evidence::note(note.clone()),
        )];
        out.extend(
            IDS.iter()
                .filter(|id| **id != "nhem.ws.data.rate_60fps")
                .map(|id| info(id, note.clone())),
        );
        return out;
    }
    let messages: Vec<Value> = frames.iter().map(|f| f.message.clone()).collect();
    vec![
        all_valid(ctx, "nhem.ws.data.schema", "data", &messages),
        rate(&frames, target_fps),
        jitter(&frames),
        monotonic(&frames),
        gaps(&frames),
        microseconds(&frames),
        scheduled(&frames, target_fps),
        latency(&frames),
        peaks(&frames),
    ]
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn rate(frames: &[Frame], target: f64) -> CaseResult {
    let id = "nhem.ws.data.rate_60fps";
    let span = frames[frames.len() - 1]
        .at
        .duration_since(frames[0].at)
        .as_secs_f64();
    let measured = (frames.len() - 1) as f64 / span.max(1e-9);
    let error = (measured - target).abs() / target;
    let evidence = Evidence::note(format!(
        "{measured:.2} frames/s against {target} advertised ({:.1}% off)",
        error * 100.0
    ))
    .with_measured("fps", measured, "frames/s");
    let outcome = if error <= 0.05 {
        Outcome::Pass
    } else if error <= 0.15 {
        Outcome::NonStrict
    } else {
        Outcome::Fail
    };
    case(id, outcome, vec![evidence])
}

/// Frames whose frame_count is above every earlier one: the in-order stream. Late duplicates
/// are judged by the monotonicity case, not again by latency and jitter.
fn in_order(frames: &[Frame]) -> Vec<&Frame> {
    let mut highest = None;
    frames
        .iter()
        .filter(|f| match (f.frame_count, highest) {
            (Some(n), Some(h)) if n <= h => false,
            (Some(n), _) => {
                highest = Some(n);
                true
            }
            (None, _) => false,
        })
        .collect()
}

fn latencies_ms(frames: &[&Frame]) -> Vec<f64> {
    let mut ms: Vec<f64> = frames
        .iter()
        .filter_map(|f| f.timestamp_ns.map(|ts| (f.wall_ns - ts) as f64 / 1e6))
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn not_evaluable(id: &'static str) -> CaseResult {
    info(
        id,
        "not evaluated: frame_count or timestamp could not be read (see nhem.ws.data.schema)",
    )
}

fn jitter(frames: &[Frame]) -> CaseResult {
    let id = "nhem.ws.data.jitter";
    let ms = latencies_ms(&in_order(frames));
    if ms.len() < 3 {
        return not_evaluable(id);
    }
    let jitter = percentile(&ms, 0.99) - percentile(&ms, 0.5);
    let evidence = Evidence::note(format!(
        "p99 − p50 of one-way latency over {} frames: {jitter:.2} ms",
        ms.len()
    ))
    .with_measured("jitter_p99_minus_p50", jitter, "ms");
    let outcome = if jitter <= 5.0 {
        Outcome::Pass
    } else if jitter <= 1000.0 / 60.0 {
        Outcome::NonStrict
    } else {
        Outcome::Fail
    };
    case(id, outcome, vec![evidence])
}

fn monotonic(frames: &[Frame]) -> CaseResult {
    let id = "nhem.ws.data.frame_count_monotonic";
    let counts: Vec<(u64, &Value)> = frames
        .iter()
        .filter_map(|f| f.frame_count.map(|n| (n, &f.message)))
        .collect();
    if counts.len() < 2 {
        return not_evaluable(id);
    }
    let mut highest = counts[0].0;
    for (n, message) in &counts[1..] {
        if *n <= highest {
            return fail(
                id,
                Evidence::note(format!("frame_count {n} arrived after {highest}"))
                    .with_message((*message).clone()),
            );
        }
        highest = *n;
    }
    pass(id, format!("{} frames, strictly increasing", counts.len()))
}

fn gaps(frames: &[Frame]) -> CaseResult {
    let id = "nhem.ws.data.no_gaps";
    let mut counts: Vec<u64> = frames.iter().filter_map(|f| f.frame_count).collect();
    if counts.len() < 2 {
        return not_evaluable(id);
    }
    counts.sort_unstable();
    counts.dedup();
    let span = counts[counts.len() - 1] - counts[0] + 1;
    let missing = span - counts.len() as u64;
    let loss = missing as f64 / span as f64;
    let evidence = Evidence::note(format!("{missing} of {span} frame counts missing"))
        .with_measured("loss", loss * 100.0, "%");
    let outcome = if missing == 0 {
        Outcome::Pass
    } else if loss <= 0.01 {
        Outcome::NonStrict
    } else {
        Outcome::Fail
    };
    case(id, outcome, vec![evidence])
}

fn microseconds(frames: &[Frame]) -> CaseResult {
    let id = "nhem.ws.data.timestamp_microseconds";
    let digits = |f: &Frame| {
        f.message["timestamp"]
            .as_str()
            .and_then(|t| t.split_once('.'))
            .map_or(0, |(_, frac)| frac.trim_end_matches('Z').len())
    };
    let fewest = frames.iter().map(digits).min().unwrap_or(0);
    if fewest >= 6 {
        pass(id, format!("at least {fewest} fractional digits"))
    } else {
        case(id, Outcome::NonStrict, vec![Evidence::note(format!("some timestamps have only {fewest} fractional digits; sub-millisecond latency cannot be measured"))])
    }
}

fn scheduled(frames: &[Frame], target_fps: f64) -> CaseResult {
    let id = "nhem.ws.data.timestamp_scheduled";
    let offsets: Vec<f64> = in_order(frames)
        .iter()
        .filter_map(|f| {
            Some(f.timestamp_ns? as f64 / 1e6 - f.frame_count? as f64 * 1000.0 / target_fps)
        })
        .collect();
    if offsets.len() < 3 {
        return not_evaluable(id);
    }
    let spread = offsets.iter().cloned().fold(f64::MIN, f64::max)
        - offsets.iter().cloned().fold(f64::MAX, f64::min);
    let evidence = Evidence::note(format!(
        "timestamp − frame_count / fps varies by {spread:.3} ms over {} frames",
        offsets.len()
    ))
    .with_measured("schedule_spread", spread, "ms");
    // Scheduled stamps differ only by float rounding; build-time stamps wander with the tick.
    case(
        id,
        if spread <= 1.0 {
            Outcome::Pass
        } else {
            Outcome::NonStrict
        },
        vec![evidence],
    )
}

fn latency(frames: &[Frame]) -> CaseResult {
    let id = "nhem.ws.data.latency";
    let ms = latencies_ms(&in_order(frames));
    if ms.is_empty() {
        return not_evaluable(id);
    }
    let (p50, p99, max) = (
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms[ms.len() - 1],
    );
    let evidence = Evidence::note(format!("one-way latency p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms over {} frames (same-host clocks)", ms.len())).with_measured("latency_p99", p99, "ms");
    case(id, Outcome::Informational, vec![evidence])
}

fn peaks(frames: &[Frame]) -> CaseResult {
    let id = "nhem.ws.data.peaks";
    let peaks = frames
        .iter()
        .filter(|f| f.message["peak_signal"] == 1)
        .count();
    if peaks > 0 {
        pass(id, format!("{peaks} peaks in {} frames", frames.len()))
    } else {
        info(
            id,
            format!(
                "no peak_signal 1 in {} frames (a quiet signal, or a window shorter than one beat)",
                frames.len()
            ),
        )
    }
}
