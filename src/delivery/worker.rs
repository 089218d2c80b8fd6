//! The delivery loop: take the outbound budget, claim at most that many due rows under a
//! lease, send them concurrently, sleep until intake wakes it, the poll interval passes or
//! the budget refills; on stop, let in-flight rows finish within a bound and release the rest.

use super::attempt::{deliver, AttemptContext};
use super::{DeliveryState, OutboundLimiter, RetrySchedule};
use crate::config::{DeliverySettings, OrttoSettings};
use crate::metrics::Metrics;
use crate::ortto::OrttoClient;
use crate::store::{ClaimedRow, Lease, LogWriter};
use secrecy::SecretString;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What the worker needs to know: its own settings, and how to reach Ortto.
pub struct WorkerSettings {
    pub delivery: DeliverySettings,
    pub ortto: OrttoSettings,
    /// `None`: dry run.
    pub api_key: Option<SecretString>,
}

pub struct DeliveryWorker {
    writer: LogWriter,
    settings: WorkerSettings,
    state: Arc<DeliveryState>,
    limiter: Option<Arc<OutboundLimiter>>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
}

impl DeliveryWorker {
    pub fn new(
        writer: LogWriter,
        settings: WorkerSettings,
        state: Arc<DeliveryState>,
        limiter: Option<Arc<OutboundLimiter>>,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            writer,
            settings,
            state,
            limiter,
            wake,
            metrics,
        }
    }

    /// Runs on the current (actix) thread until `stop` is cancelled.
    pub async fn run_until_stopped(self, stop: CancellationToken) {
        let settings = &self.settings.delivery;
        let ctx = Rc::new(AttemptContext {
            writer: self.writer.clone(),
            // awc clients are per thread: this worker's lives here.
            client: self
                .settings
                .api_key
                .clone()
                .map(|key| OrttoClient::new(&self.settings.ortto, key)),
            state: self.state.clone(),
            schedule: RetrySchedule::from_settings(settings),
            auth_pause: Duration::from_millis(settings.auth_pause_ms),
            metrics: self.metrics.clone(),
        });
        let lease = Duration::from_millis(settings.lease_ms);
        let poll = Duration::from_millis(settings.poll_interval_ms);
        let mut in_flight: JoinSet<String> = JoinSet::new();
        let mut claimed: HashMap<String, Lease> = HashMap::new();
        // When the outbound budget has a slot again, after a claim found it spent.
        let mut budget_at: Option<Instant> = None;

        while !stop.is_cancelled() {
            while let Some(done) = in_flight.try_join_next() {
                if let Ok(id) = done {
                    claimed.remove(&id);
                }
            }
            if let Some(wait) = self.state.remaining() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => break,
                }
                continue;
            }
            let room = settings.concurrency.saturating_sub(in_flight.len());
            let mut filled = false;
            budget_at = budget_at.filter(|at| *at > Instant::now());
            // Claim in batches (every claim is a write): when idle, or once half the slots are free.
            if budget_at.is_none()
                && room > 0
                && (in_flight.is_empty() || room >= (settings.concurrency / 2).max(1))
            {
                match self.writer.claim_due(room, lease).await {
                    Ok(rows) => {
                        filled = rows.len() == room;
                        let (granted, over_budget) = self.take_budget(rows).await;
                        budget_at = over_budget.map(|wait| Instant::now() + wait);
                        for row in granted {
                            // Its lease ran out while it was in flight here: that task records the outcome.
                            if claimed.contains_key(&row.id) {
                                tracing::warn!(submission_id = %row.id, "claimed a row already in flight here; not sending it twice");
                                continue;
                            }
                            claimed.insert(row.id.clone(), row.lease());
                            in_flight.spawn_local(attempt_task(row, ctx.clone()));
                        }
                    }
                    Err(error) => {
                        tracing::error!(error = %format!("{error:#}"), "could not claim submissions")
                    }
                }
            }
            if filled && budget_at.is_none() {
                continue;
            }
            let nap = budget_at.map_or(poll, |at| at.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = self.wake.notified(), if budget_at.is_none() => {}
                _ = tokio::time::sleep(nap) => {}
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(id) = done {
                        claimed.remove(&id);
                    }
                }
                _ = stop.cancelled() => {}
            }
        }
        self.drain(in_flight, claimed).await;
    }

    /// Takes one outbound slot per claimed row, now or never: a row never waits for the
    /// limiter while it holds a lease (the wait could outlast the lease, and another claim
    /// would send it again). Rows beyond the budget go straight back, due when the next
    /// slot is; the answer says how long that is. A dry run needs no budget.
    async fn take_budget(&self, rows: Vec<ClaimedRow>) -> (Vec<ClaimedRow>, Option<Duration>) {
        let Some(limiter) = self.limiter.as_ref().filter(|_| self.settings.api_key.is_some()) else {
            return (rows, None);
        };
        let mut granted = Vec::with_capacity(rows.len());
        let mut over: Vec<Lease> = Vec::new();
        let mut wait = None;
        for row in rows {
            if wait.is_none() {
                match limiter.try_take() {
                    Ok(()) => {
                        granted.push(row);
                        continue;
                    }
                    Err(next_slot) => wait = Some(next_slot.max(Duration::from_millis(1))),
                }
            }
            over.push(row.lease());
        }
        if let (false, Some(wait)) = (over.is_empty(), wait) {
            let due = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            if let Err(error) = self.writer.release(over, due).await {
                tracing::error!(error = %format!("{error:#}"), "could not release rows over the outbound budget; their leases will expire");
            }
        }
        (granted, wait)
    }

    /// Lets in-flight deliveries finish within the grace period, then gives the rest back.
    async fn drain(&self, mut in_flight: JoinSet<String>, mut claimed: HashMap<String, Lease>) {
        let grace = Duration::from_millis(self.settings.delivery.shutdown_grace_ms);
        let finished = tokio::time::timeout(grace, async {
            while let Some(done) = in_flight.join_next().await {
                if let Ok(id) = done {
                    claimed.remove(&id);
                }
            }
        })
        .await;
        if finished.is_err() {
            in_flight.abort_all();
            let leases: Vec<Lease> = claimed.into_values().collect();
            tracing::warn!(
                rows = leases.len(),
                "shutdown: releasing deliveries that did not finish in time"
            );
            if let Err(error) = self.writer.release(leases, chrono::Utc::now()).await {
                tracing::error!(error = %format!("{error:#}"), "could not release rows; their leases will expire");
            }
        }
        tracing::info!("delivery worker stopped");
    }
}

async fn attempt_task(row: crate::store::ClaimedRow, ctx: Rc<AttemptContext>) -> String {
    let id = row.id.clone();
    let span = tracing::info_span!(
        "delivery",
        submission_id = %row.id,
        request_id = %row.request_id.as_deref().unwrap_or("-")
    );
    if let Err(error) = deliver(row, &ctx).instrument(span.clone()).await {
        span.in_scope(|| {
            tracing::error!(
                error = %format!("{error:#}"),
                "could not record a delivery outcome; the lease will expire and the row will be retried"
            )
        });
    }
    id
}
