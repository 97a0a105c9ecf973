//! A server stream started by `streams.start`: `stream_start`, then `stream_data` numbered
//! from 0 on absolute deadlines (the k-th at start + k × interval, never drifting with the
//! time a send takes), then `stream_end` at start + duration.

use super::methods::{js_number, StreamRequest};
use crate::core::outgoing::text_frame;
use crate::core::Mailbox;
use protocol::handler::server::{StreamDataS2c, StreamEndS2c, StreamStartS2c};
use protocol::handler::{Label, Name, Sequence, ServerMessage};
use protocol::Timestamp;
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn frame(message: impl Into<ServerMessage>) -> bytes::Bytes {
    text_frame(&message.into().to_value().to_string())
}

/// A reading between 0 and 100 for message `k`: a slow wave, so a plot shows movement.
fn reading(k: u64) -> f64 {
    let value = 50.0 + 40.0 * (k as f64 * 0.2).sin() + 10.0 * (k as f64 * 1.3).cos();
    (value.clamp(0.0, 100.0) * 100.0).round() / 100.0
}

/// Runs the stream until it ends, `stop` is cancelled (a client `stream_end`, a replacing
/// `streams.start`, the connection closing) or the mailbox refuses a frame.
pub async fn run(
    request: StreamRequest,
    stream_id: String,
    mailbox: Mailbox,
    stop: CancellationToken,
) {
    let start = Instant::now();
    let wall_start = OffsetDateTime::now_utc();
    let at = |offset: Duration| Timestamp::from_datetime_millis(wall_start + offset);
    let id = Name(stream_id);
    let opening = StreamStartS2c {
        stream_id: id.clone(),
        stream_type: Label(request.stream_type.clone()),
        timestamp: at(Duration::ZERO),
    };
    if !mailbox.post(frame(opening)) {
        return;
    }
    let mut k: u64 = 0;
    loop {
        let offset = request
            .interval
            .saturating_mul(k.min(u32::MAX as u64) as u32);
        if offset >= request.duration {
            break;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(start + offset) => {}
        }
        if stop.is_cancelled() {
            return;
        }
        let scheduled = at(offset);
        let data = StreamDataS2c {
            stream_id: id.clone(),
            data: json!({"timestamp": scheduled.as_str(), "value": js_number(reading(k))}),
            sequence_number: Some(Sequence(k)),
            timestamp: scheduled,
        };
        if !mailbox.post(frame(data)) {
            return;
        }
        k += 1;
    }
    tokio::select! {
        () = stop.cancelled() => return,
        () = tokio::time::sleep_until(start + request.duration) => {}
    }
    let end = StreamEndS2c {
        stream_id: id,
        timestamp: at(request.duration),
    };
    mailbox.post(frame(end));
    // Ended by itself: the session forgets it at its next streams.start.
    stop.cancel();
}

#[cfg(test)]
mod tests {
    #[test]
    fn readings_stay_between_0_and_100() {
        assert!((0..10_000)
            .map(super::reading)
            .all(|v| (0.0..=100.0).contains(&v)));
    }
}
