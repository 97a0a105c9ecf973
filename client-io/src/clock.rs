//! One clock for every measurement: wall time for one-way latency against a peer's
//! timestamps, in the units the callers compare in.

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since.as_micros() as i64
}

/// Nanoseconds since the Unix epoch, now.
pub fn wall_nanos() -> i128 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since.as_nanos() as i128
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_units_read_the_same_clock() {
        let (us, ns) = (super::now_us(), super::wall_nanos());
        assert!(
            (ns / 1000 - i128::from(us)).abs() < 1_000_000,
            "{us} µs vs {ns} ns"
        );
    }
}
