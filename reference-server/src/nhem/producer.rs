//! The frame producer: ticks on absolute deadlines, runs the pipeline, serializes each frame
//! once and hands the same bytes to every client.
//!
//! Frame k of a run is due at `t0 + k / fps` and carries that *scheduled* time as its
//! timestamp, so a late tick shows up as latency at every receiver instead of hiding itself.
//! Sleeping until an absolute deadline (not for a period) means lateness never accumulates.

use crate::nhem::faults::{self, Fault};
use crate::nhem::pipeline::Pipeline;
use crate::nhem::state::{AppState, FrameRecord};
use protocol::nhem::{BroadcastFrame, DetectionStatus, EnhancedPeak, ServerMessage};
use protocol::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// When a run started: frame `first_frame` was due at `instant` / `wall`.
struct RunClock {
    instant: Instant,
    wall: SystemTime,
    first_frame: u64,
    fps: u32,
}

impl RunClock {
    fn due(&self, frame: u64) -> Instant {
        self.instant + self.offset(frame)
    }

    fn offset(&self, frame: u64) -> Duration {
        // k * 1e9 / fps computed whole each time: no rounding error accumulates over frames.
        let k = u128::from(frame - self.first_frame);
        Duration::from_nanos((k * 1_000_000_000 / u128::from(self.fps)) as u64)
    }

    fn wall_time(&self, frame: u64) -> OffsetDateTime {
        OffsetDateTime::from(self.wall + self.offset(frame))
    }
}

pub async fn run(state: Arc<AppState>, mut pipeline: Pipeline, shutdown: CancellationToken) {
    let fps = state.settings.fps;
    // Under the wrong-rate fault, frames come at half the rate that status advertises.
    let clock_fps = if state.settings.has_fault(Fault::WrongRate) {
        (fps / 2).max(1)
    } else {
        fps
    };
    let mut stale: Option<bytes::Bytes> = None;
    let mut clock: Option<RunClock> = None;
    let mut fps_window: (Instant, u64) = (Instant::now(), 0);
    loop {
        let (status, params, roi, next_frame, reset) = state.tick_inputs();
        if reset {
            pipeline.reset();
        }
        pipeline.set_params(params);
        if status != DetectionStatus::Running {
            clock = None;
            state.metrics.set_fps(0.0);
            tokio::select! {
                _ = state.detection_changed.notified() => continue,
                _ = shutdown.cancelled() => return,
            }
        }
        let run_clock = clock.get_or_insert_with(|| RunClock {
            instant: Instant::now(),
            wall: SystemTime::now(),
            first_frame: next_frame,
            fps: clock_fps,
        });
        let mut frame = next_frame;
        let mut deadline = run_clock.due(frame);
        // More than a second behind (a stalled machine): skip ahead rather than burst. The
        // skipped frame counts show up as gaps (loss) at every client.
        let now = Instant::now();
        if now > deadline + Duration::from_secs(1) {
            let behind =
                now.duration_since(run_clock.instant).as_nanos() * u128::from(fps) / 1_000_000_000;
            let skip_to = run_clock.first_frame + behind as u64;
            state
                .metrics
                .ticks_dropped_total
                .fetch_add(skip_to - frame, std::sync::atomic::Ordering::Relaxed);
            state.skip_frames(skip_to);
            frame = skip_to;
            deadline = run_clock.due(frame);
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => {}
            _ = state.detection_changed.notified() => continue,
            _ = shutdown.cancelled() => return,
        }
        let started = Instant::now();
        let late_ns = started.saturating_duration_since(deadline).as_nanos() as u64;
        let wall = run_clock.wall_time(frame);
        let t_s = frame as f64 / f64::from(fps);

        let sample = pipeline.step(frame, roi);
        let timestamp = Timestamp::from_datetime_micros(wall);
        let message = ServerMessage::Data(BroadcastFrame {
            timestamp: timestamp.clone(),
            frame_count: frame,
            current_value: sample.current_value,
            peak_signal: sample.detection.peak_signal,
            baseline: sample.detection.baseline,
            status: DetectionStatus::Running,
        });
        // Serialized once; every client gets a reference-counted clone of these bytes.
        let mut json = message.to_json();
        if let Some(mutated) = faults::mutate_frame(&state.settings.faults, &json) {
            json = mutated;
        }
        let bytes = crate::core::outgoing::text_frame(&json);
        state.fanout.send(bytes.clone());
        if state.settings.has_fault(Fault::NonMonotonic) {
            if frame % 30 == 0 {
                if let Some(old) = stale.take() {
                    state.fanout.send(old);
                }
            }
            if frame % 30 == 28 {
                stale = Some(bytes);
            }
        }

        let peak = sample.detection.confirmed.map(|p| EnhancedPeak {
            frame_count: p.frame_index,
            timestamp: Timestamp::from_datetime_micros(
                run_clock.wall_time(p.frame_index.max(run_clock.first_frame)),
            ),
            value: p.value.clamp(0.0, 255.0),
            prominence: p.prominence,
            interval_ms: p
                .interval_frames
                .map(|f| f as f64 * 1000.0 / f64::from(fps)),
        });
        state.record_frame(
            FrameRecord {
                frame_count: frame,
                timestamp,
                t_s,
                value: sample.current_value,
                baseline: sample.detection.baseline,
                peak_signal: sample.detection.peak_signal,
            },
            sample.roi,
            peak,
        );
        state
            .metrics
            .record_broadcast(started.elapsed().as_nanos() as u64, late_ns);

        fps_window.1 += 1;
        let window = fps_window.0.elapsed();
        if window >= Duration::from_secs(1) {
            state
                .metrics
                .set_fps(fps_window.1 as f64 / window.as_secs_f64());
            fps_window = (Instant::now(), 0);
        }
    }
}
