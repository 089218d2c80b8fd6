//! When to try again: exponential backoff with full jitter, and when to give up.

use crate::config::DeliverySettings;
use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetrySchedule {
    base: Duration,
    cap: Duration,
    max_attempts: u32,
    max_age: Duration,
}

impl RetrySchedule {
    pub fn from_settings(settings: &DeliverySettings) -> Self {
        Self {
            base: Duration::from_millis(settings.backoff_base_ms),
            cap: Duration::from_millis(settings.backoff_cap_ms),
            max_attempts: settings.max_attempts,
            max_age: Duration::from_secs(settings.max_age_hours * 3600),
        }
    }

    /// After failed attempt number `attempt` (1-based) of a row received at
    /// `received_at`: the time to try again, or `None` when the row has used up its tries.
    pub fn next_attempt(&self, attempt: u32, received_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if attempt >= self.max_attempts {
            return None;
        }
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.cap);
        let delay = Duration::from_millis(rand::rng().random_range(0..=ceiling.as_millis() as u64));
        let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        let deadline =
            received_at + chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::MAX);
        (at <= deadline).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> RetrySchedule {
        RetrySchedule {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
            max_attempts: 5,
            max_age: Duration::from_secs(3600),
        }
    }

    #[test]
    fn delays_grow_within_the_jittered_ceiling_and_stop_at_the_cap() {
        let now = Utc::now();
        for attempt in 1..5u32 {
            let ceiling = (2i64 * 2i64.pow(attempt - 1)).min(60);
            for _ in 0..50 {
                let at = schedule().next_attempt(attempt, now).unwrap();
                let delay = (at - Utc::now()).num_milliseconds();
                assert!(delay <= ceiling * 1000 + 5, "attempt {attempt}: {delay} ms");
            }
        }
    }

    #[test]
    fn gives_up_after_max_attempts_or_max_age() {
        assert!(schedule().next_attempt(5, Utc::now()).is_none());
        let old = Utc::now() - chrono::Duration::hours(2);
        assert!(schedule().next_attempt(1, old).is_none());
    }
}
