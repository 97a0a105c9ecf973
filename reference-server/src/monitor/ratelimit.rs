//! The per-connection rate limit: at most `limit` client messages in each fixed window,
//! windows aligned to the connection's open. The first message over the limit gets one
//! `RATE_LIMIT_EXCEEDED` with the milliseconds until the window resets; the rest of that
//! window's messages are dropped silently.

use std::time::{Duration, Instant};

/// What to do with one client message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Handle,
    /// The first message over the limit in this window: answer it with the error.
    Exceeded {
        retry_after_ms: u64,
    },
    /// Over the limit and already told: drop it.
    Drop,
}

pub struct RateWindow {
    opened: Instant,
    window: Duration,
    limit: u32,
    /// Which window `count` is of (0 from the open).
    index: u128,
    count: u32,
}

impl RateWindow {
    pub fn new(opened: Instant, window: Duration, limit: u32) -> Self {
        RateWindow {
            opened,
            window,
            limit,
            index: 0,
            count: 0,
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.opened);
        let window_ns = self.window.as_nanos().max(1);
        let index = elapsed.as_nanos() / window_ns;
        if index != self.index {
            self.index = index;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        if self.count <= self.limit {
            return Verdict::Handle;
        }
        if self.count > self.limit.saturating_add(1) {
            return Verdict::Drop;
        }
        let resets_ns = (index + 1) * window_ns - elapsed.as_nanos();
        Verdict::Exceeded {
            retry_after_ms: resets_ns.div_ceil(1_000_000) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_error_per_window_then_silence_then_a_fresh_window() {
        let t0 = Instant::now();
        let mut limit = RateWindow::new(t0, Duration::from_secs(60), 3);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(limit.check(at(1)), Verdict::Handle);
        assert_eq!(limit.check(at(2)), Verdict::Handle);
        assert_eq!(limit.check(at(3)), Verdict::Handle);
        assert_eq!(
            limit.check(at(10_000)),
            Verdict::Exceeded {
                retry_after_ms: 50_000
            }
        );
        assert_eq!(limit.check(at(10_001)), Verdict::Drop);
        assert_eq!(limit.check(at(60_000)), Verdict::Handle, "a new window");
    }
}
