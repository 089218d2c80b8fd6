//! Failed admin logins, throttled per client (docs/operations.md, "Admin API").

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed admin logins are throttled per client: after [`MAX_FAILURES`] in [`FAILURE_WINDOW`]
/// every admin request from that client gets 429 until the oldest failure ages out, so a
/// token cannot be guessed at full speed. Memory stays bounded: at most [`MAX_CLIENTS`]
/// clients are tracked, and a full table forgets failures older than the window.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

pub const MAX_FAILURES: usize = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
const MAX_CLIENTS: usize = 10_000;

impl LoginThrottle {
    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds until `client` may try again, while it is throttled.
    pub fn retry_after(&self, client: IpAddr, now: Instant) -> Option<u64> {
        let mut failures = self.failures();
        let recent = failures.get_mut(&client)?;
        while recent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= FAILURE_WINDOW)
        {
            recent.pop_front();
        }
        let oldest = *recent.front()?;
        (recent.len() >= MAX_FAILURES).then(|| (FAILURE_WINDOW - now.duration_since(oldest)).as_secs() + 1)
    }

    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut failures = self.failures();
        if failures.len() >= MAX_CLIENTS && !failures.contains_key(&client) {
            failures.retain(|_, recent| {
                recent
                    .back()
                    .is_some_and(|at| now.duration_since(*at) < FAILURE_WINDOW)
            });
            if failures.len() >= MAX_CLIENTS {
                return;
            }
        }
        let recent = failures.entry(client).or_default();
        recent.push_back(now);
        if recent.len() > MAX_FAILURES {
            recent.pop_front();
        }
    }
}
