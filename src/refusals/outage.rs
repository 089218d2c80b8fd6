//! What intake logs while it cannot record (docs/faults.md, "Faults"): the first refusal of an outage
//! at ERROR, then at most one summary every [`SUMMARY_EVERY`] with how many were refused
//! meanwhile, and one line when a submission is recorded again. A full disk or a database
//! outage under load refuses thousands of requests a second; the log says so in a few lines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct OutageLog {
    /// Set while refusals go on: the recorded path checks it without the lock.
    failing: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last_logged: Option<Instant>,
    /// Refusals since the last line.
    unlogged: u64,
    /// Refusals since the outage began.
    total: u64,
}

impl OutageLog {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A submission could not be recorded, for `cause`.
    pub fn refused(&self, cause: &dyn std::fmt::Display) {
        let now = Instant::now();
        let first = !self.failing.swap(true, Ordering::SeqCst);
        let mut state = self.state();
        state.total += 1;
        let due = state
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= SUMMARY_EVERY);
        if first {
            *state = State {
                last_logged: Some(now),
                unlogged: 0,
                total: 1,
            };
            tracing::error!(error = %cause, "could not record a submission; refusing with 503 until the log takes writes again");
        } else if due {
            let refused = state.unlogged + 1;
            state.last_logged = Some(now);
            state.unlogged = 0;
            tracing::error!(error = %cause, refused, "still could not record: {refused} submission(s) refused since the last line");
        } else {
            state.unlogged += 1;
        }
    }

    /// A submission was recorded: an outage, if there was one, is over.
    pub fn recorded(&self) {
        if self.failing.load(Ordering::Relaxed) && self.failing.swap(false, Ordering::SeqCst) {
            let total = std::mem::take(&mut *self.state()).total;
            tracing::warn!(
                refused = total,
                "recording submissions again after {total} refusal(s)"
            );
        }
    }
}
