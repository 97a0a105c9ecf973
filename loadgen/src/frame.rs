//! Reading just what a load test needs from a broadcast frame, fast.
//!
//! At thousands of clients × 60 frames/s the generator parses >100k messages a second, so it
//! reads only `type`, `frame_count` and `timestamp` (serde skips the rest without building it)
//! and parses the timestamp with `protocol`'s hand-written parser (property-tested there
//! against the `time` crate).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct FrameHead<'a> {
    #[serde(rename = "type", borrow)]
    pub ty: Option<&'a str>,
    pub frame_count: Option<u64>,
    #[serde(borrow)]
    pub timestamp: Option<&'a str>,
    pub target_fps: Option<f64>,
    pub success: Option<bool>,
}

pub fn head(text: &str) -> Option<FrameHead<'_>> {
    serde_json::from_str(text).ok()
}

pub use client_io::clock::now_us;
pub use protocol::timestamp::unix_micros as timestamp_us;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_head_of_a_frame() {
        let h = head(r#"{"type":"data","timestamp":"2025-12-05T12:30:45.123456Z","frame_count":7,"current_value":1.5,"peak_signal":null,"baseline":1,"status":"running"}"#).expect("frame");
        assert_eq!((h.ty, h.frame_count), (Some("data"), Some(7)));
        assert!(head("{not json").is_none());
    }
}
