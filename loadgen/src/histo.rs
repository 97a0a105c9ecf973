//! HdrHistograms in microseconds, and their portable encoding.
//!
//! Histograms travel inside `report.json` as base64 of the V2 + DEFLATE serialization, so
//! reports from shards can be merged exactly: adding histograms is exact, averaging
//! percentiles is not.

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies and durations from 1 µs to 10 minutes, 3 significant digits.
pub fn new_us() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Records `us`, clamped into the histogram's range (a value beyond 10 minutes is 10 minutes).
pub fn record(h: &mut Histogram<u64>, us: u64) {
    let _ = h.record(us.clamp(1, 600_000_000));
}

pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Debug, thiserror::Error)]
#[error("histogram data is not valid base64 V2 HdrHistogram: {0}")]
pub struct DecodeError(String);

pub fn decode(text: &str) -> Result<Histogram<u64>, DecodeError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| DecodeError(e.to_string()))?;
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| DecodeError(format!("{e:?}")))?;
    // Re-home into our standard bounds so merges never fail on range.
    let mut h = new_us();
    h.add(&decoded).map_err(|e| DecodeError(format!("{e:?}")))?;
    Ok(h)
}

/// The figures a report shows for one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            min_ms: ms(h.min()),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_histogram_merged_equals_the_whole() {
        let mut whole = new_us();
        let (mut a, mut b) = (new_us(), new_us());
        for i in 0..10_000u64 {
            let v = (i * 7919) % 50_000 + 1;
            record(&mut whole, v);
            record(if i % 3 == 0 { &mut a } else { &mut b }, v);
        }
        let mut merged = decode(&encode(&a)).expect("round trip");
        merged
            .add(decode(&encode(&b)).expect("round trip"))
            .expect("same bounds");
        assert_eq!(merged, whole);
        assert_eq!(Percentiles::of(&merged), Percentiles::of(&whole));
    }

    #[test]
    fn bad_encodings_are_errors_not_panics() {
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
    }
}
