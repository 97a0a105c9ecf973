//! Token buckets per client address: for the password-protected POST routes, and for failed
//! WebSocket authentications.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter {
    rate_per_s: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate_per_s` requests a second on average, bursts of twice that (at least 1).
    pub fn new(rate_per_s: f64) -> Self {
        let rate_per_s = rate_per_s.max(0.001);
        RateLimiter {
            rate_per_s,
            burst: (2.0 * rate_per_s).max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` when `client` may proceed now, else `Err(seconds until it may)`; takes a token.
    pub fn check(&self, client: IpAddr) -> Result<(), f64> {
        self.take(client, 1.0)
    }

    /// Like [`check`](Self::check), without taking a token: whether `client` has one left.
    pub fn peek(&self, client: IpAddr) -> Result<(), f64> {
        self.take(client, 0.0)
    }

    fn take(&self, client: IpAddr, cost: f64) -> Result<(), f64> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .expect("rate limiter lock is never poisoned");
        if buckets.len() > 10_000 {
            // Forget addresses whose bucket has refilled: bounded memory under address churn.
            let full_after = self.burst / self.rate_per_s;
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() < full_after);
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.rate_per_s).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= cost;
            Ok(())
        } else {
            Err((1.0 - *tokens) / self.rate_per_s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_says_when_to_retry() {
        let limiter = RateLimiter::new(5.0);
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..10 {
            assert!(limiter.check(ip).is_ok());
        }
        let retry_after = limiter.check(ip).expect_err("burst used up");
        assert!(retry_after > 0.0 && retry_after <= 0.2, "{retry_after}");
        assert!(
            limiter.check([10, 0, 0, 1].into()).is_ok(),
            "other clients are not limited"
        );
    }
}
