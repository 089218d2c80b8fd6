//! Whether deliveries may go out now. Shared by every delivery and by `/readyz`.

use crate::outbound::{PauseReason, REFUSALS_BEFORE_PAUSE, REFUSAL_WINDOW};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Inner {
    paused_until: Option<DateTime<Utc>>,
    reason: Option<PauseReason>,
    /// Set by a 401/403 and cleared only by a successful delivery.
    key_rejected: Option<u16>,
    /// When Ortto last refused payloads (4xx other than 401/403/429), within the window.
    refusals: VecDeque<Instant>,
    /// A pause this relay started that the other relays sharing its budget have not heard of.
    unshared: Option<(Duration, PauseReason)>,
}

#[derive(Debug)]
pub struct DeliveryState {
    dry_run: bool,
    inner: Mutex<Inner>,
}

impl DeliveryState {
    pub fn new(dry_run: bool) -> Self {
        Self {
            dry_run,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Pauses every delivery for `wait` (a longer pause already in force stays), here and,
    /// through the delivery worker, on every relay sharing the budget.
    pub fn pause(&self, wait: Duration, reason: PauseReason) -> DateTime<Utc> {
        {
            let mut inner = self.lock();
            if inner.unshared.is_none_or(|(longest, _)| longest < wait) {
                inner.unshared = Some((wait, reason));
            }
        }
        self.adopt(wait, reason)
    }

    /// The pause to tell the other relays about, once.
    pub fn take_unshared(&self) -> Option<(Duration, PauseReason)> {
        self.lock().unshared.take()
    }

    /// Takes on a pause another relay started (or this one, through [`Self::pause`]).
    pub fn adopt(&self, wait: Duration, reason: PauseReason) -> DateTime<Utc> {
        let until = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
        let mut inner = self.lock();
        if inner.paused_until.is_none_or(|current| current < until) {
            inner.paused_until = Some(until);
            inner.reason = Some(reason);
        }
        if let PauseReason::KeyRejected { status } = reason {
            inner.key_rejected = Some(status);
        }
        inner.paused_until.unwrap_or(until)
    }

    /// When deliveries may resume, if they are paused now.
    pub fn paused_until(&self) -> Option<DateTime<Utc>> {
        let inner = self.lock();
        inner.paused_until.filter(|until| *until > Utc::now())
    }

    pub fn remaining(&self) -> Option<Duration> {
        self.paused_until()
            .and_then(|until| (until - Utc::now()).to_std().ok())
    }

    /// Notes that Ortto refused a payload. Returns when deliveries resume if this refusal
    /// is one too many for the window, having paused them.
    pub fn payload_refused(&self) -> Option<DateTime<Utc>> {
        let now = Instant::now();
        let crowded = {
            let mut inner = self.lock();
            inner
                .refusals
                .retain(|at| now.duration_since(*at) < REFUSAL_WINDOW);
            inner.refusals.push_back(now);
            let crowded = inner.refusals.len() >= REFUSALS_BEFORE_PAUSE;
            if crowded {
                inner.refusals.clear();
            }
            crowded
        };
        crowded.then(|| self.pause(REFUSAL_WINDOW, PauseReason::Refusals))
    }

    pub fn delivery_succeeded(&self) {
        let mut inner = self.lock();
        if inner.key_rejected.take().is_some() {
            tracing::info!("Ortto accepted a delivery again: the key problem is over");
        }
    }

    /// For `/readyz`: `Err(reason)` while the key is rejected (until a delivery succeeds).
    pub fn readiness(&self) -> Result<Option<(PauseReason, DateTime<Utc>)>, String> {
        let inner = self.lock();
        if let Some(status) = inner.key_rejected {
            return Err(PauseReason::KeyRejected { status }.describe());
        }
        let active = inner.paused_until.filter(|until| *until > Utc::now());
        Ok(active.zip(inner.reason).map(|(until, reason)| (reason, until)))
    }
}
