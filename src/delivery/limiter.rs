//! Holds outbound requests under Ortto's two documented windows. A GCRA limiter with
//! burst `b` and interval `T` lets through at most `b + W/T` requests in any window `W`,
//! so `T` is chosen to keep that sum at the limit, with a 5% margin for clock skew.

use crate::config::OrttoSettings;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

pub struct OutboundLimiter {
    windows: Vec<DefaultDirectRateLimiter>,
}

impl OutboundLimiter {
    pub fn for_settings(settings: &OrttoSettings) -> Self {
        let (plan_10s, plan_60s) = settings.plan.quotas();
        let pick = |explicit: u32, plan: u32| if explicit > 0 { explicit } else { plan };
        Self::new(&[
            (pick(settings.requests_per_10s, plan_10s), Duration::from_secs(10)),
            (pick(settings.requests_per_60s, plan_60s), Duration::from_secs(60)),
        ])
    }

    pub fn new(windows: &[(u32, Duration)]) -> Self {
        let windows = windows
            .iter()
            .map(|&(limit, window)| {
                let limiter = RateLimiter::direct(window_quota(limit, window));
                // Start with the burst spent: a relay restarted right after a burst (a crash
                // loop) must not add a second burst to the same window.
                while limiter.check().is_ok() {}
                limiter
            })
            .collect();
        Self { windows }
    }

    /// Takes a slot now if one is free under every window; otherwise says how long until
    /// one may be. Nobody waits on the limiter: delivery takes its budget before it claims
    /// rows (a wait inside a lease could outlast it), and interactive calls must not queue.
    pub fn try_take(&self) -> Result<(), Duration> {
        for window in &self.windows {
            if let Err(not_until) = window.check() {
                return Err(not_until.wait_time_from(window.clock().now()));
            }
        }
        Ok(())
    }
}

fn window_quota(limit: u32, window: Duration) -> Quota {
    let limit = limit.max(1);
    let burst = (limit / 10).max(1);
    let steady = (limit - burst).max(1);
    let interval = window.mul_f64(1.05) / steady;
    Quota::with_period(interval)
        .expect("a window over a positive count is a positive interval")
        .allow_burst(NonZeroU32::new(burst).expect("burst is at least 1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_limiter_lets_nothing_through_at_once() {
        // Free plan's 10-second window: even the burst is spent at start, so a crash loop
        // cannot send a burst per restart.
        let limiter = OutboundLimiter::new(&[(20, Duration::from_secs(10))]);
        let granted = (0..100).filter(|_| limiter.try_take().is_ok()).count();
        assert_eq!(granted, 0);
    }
}
