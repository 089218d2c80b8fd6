//! The delivery loop: take the outbound budget, claim at most that many due rows under a
//! lease (giving back the tokens it could not use), send them concurrently, sleep until
//! intake wakes it, the poll interval passes or the budget refills; on stop, let in-flight
//! rows finish within a bound and release the rest. A pause this relay starts (a 429, a
//! rejected key) is passed to every relay sharing the budget.

use super::attempt::{deliver, AttemptContext};
use super::{DeliveryState, OutboundBudget, RetrySchedule};
use crate::config::{DeliverySettings, OrttoSettings};
use crate::metrics::Metrics;
use crate::ortto::OrttoClient;
use crate::store::{Lease, LogWriter};
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

impl WorkerSettings {
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            delivery: config.delivery.clone(),
            ortto: config.ortto.clone(),
            api_key: config.ortto_api_key.clone(),
        }
    }
}

/// What the loop keeps between rounds: the deliveries in flight, their leases, and when the
/// outbound budget has a slot again after a claim found it spent.
#[derive(Default)]
pub(crate) struct Flight {
    tasks: JoinSet<String>,
    claimed: HashMap<String, Lease>,
    budget_at: Option<Instant>,
    /// The last claim took every row it asked for, so more are likely due: the next round
    /// claims without counting first.
    backlog: bool,
}

impl Flight {
    /// Forgets the deliveries that have finished.
    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next() {
            self.finished(done);
        }
    }

    fn finished(&mut self, done: Result<String, tokio::task::JoinError>) {
        if let Ok(id) = done {
            self.claimed.remove(&id);
        }
    }
}

/// What a round decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Every slot was filled and budget remains: claim again at once.
    Again,
    /// Deliveries are paused (a 429, a rejected key, refusals): sleep this long.
    Paused(Duration),
    /// Nothing more to do now: nap this long, or until intake wakes the worker or a delivery ends.
    Nap(Duration),
}

/// The delivery loop's parts, built by `startup`.
pub struct DeliveryWorker {
    pub writer: LogWriter,
    /// The log, read to see whether anything is due before the budget is taken or a claim
    /// is written: an idle relay's polls write nothing.
    pub log: crate::store::Store,
    pub settings: WorkerSettings,
    pub state: Arc<DeliveryState>,
    pub budget: Option<Arc<dyn OutboundBudget>>,
    pub wake: Arc<Notify>,
    pub metrics: Arc<Metrics>,
}

impl DeliveryWorker {
    /// Runs on the current (actix) thread until `stop` is cancelled: [`DeliveryWorker::step`]
    /// after step, napping between them until intake wakes it, the poll interval passes, the
    /// budget refills or a delivery finishes.
    pub async fn run_until_stopped(self, stop: CancellationToken) {
        let ctx = Rc::new(self.attempt_context());
        let mut flight = Flight::default();
        while !stop.is_cancelled() {
            flight.reap();
            match self.step(&ctx, &mut flight).await {
                Next::Again => {}
                Next::Paused(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.cancelled() => break,
                    }
                }
                Next::Nap(nap) => {
                    tokio::select! {
                        _ = self.wake.notified(), if flight.budget_at.is_none() => {}
                        _ = tokio::time::sleep(nap) => {}
                        Some(done) = flight.tasks.join_next(), if !flight.tasks.is_empty() => {
                            flight.finished(done);
                        }
                        _ = stop.cancelled() => {}
                    }
                }
            }
        }
        self.drain(flight.tasks, flight.claimed).await;
    }

    /// One round of the loop run to its end, for tests and tools that drive delivery by hand:
    /// [`DeliveryWorker::step`], then wait until every delivery it started is recorded.
    pub async fn round(&self) -> Next {
        let ctx = Rc::new(self.attempt_context());
        let mut flight = Flight::default();
        let next = self.step(&ctx, &mut flight).await;
        while let Some(done) = flight.tasks.join_next().await {
            flight.finished(done);
        }
        next
    }

    /// One round: share a pause this relay started, honour any pause, then claim as many due
    /// rows as the free slots and the outbound budget allow (in batches: when idle, or once a
    /// quarter of the slots are free) and start sending them. Answers what to do next. It
    /// counts the due rows first (a read) unless the last claim came back full: an idle relay
    /// writes nothing, a busy one saves the read.
    pub(crate) async fn step(&self, ctx: &Rc<AttemptContext>, flight: &mut Flight) -> Next {
        let settings = &self.settings.delivery;
        self.share_pause().await;
        if let Some(wait) = self.state.remaining() {
            return Next::Paused(wait);
        }
        let room = settings.concurrency.saturating_sub(flight.tasks.len());
        let mut filled = false;
        flight.budget_at = flight.budget_at.filter(|at| *at > Instant::now());
        if flight.budget_at.is_none()
            && room > 0
            && (flight.tasks.is_empty() || room >= (settings.concurrency / 4).max(1))
        {
            let due = if flight.backlog {
                room
            } else {
                self.due(room).await
            };
            if due > 0 {
                let (allowed, next_slot) = self.take_budget(due).await;
                flight.budget_at = next_slot.map(|wait| Instant::now() + wait);
                if allowed > 0 {
                    let started = self.claim_and_start(ctx, flight, allowed).await;
                    filled = started == room;
                    // Only a claim that got all it asked for, when the count (or the last
                    // claim) filled the free slots, says that more rows may be waiting.
                    flight.backlog = started == allowed && due == room;
                    self.refund(allowed - started).await;
                }
            }
        }
        if filled && flight.budget_at.is_none() {
            return Next::Again;
        }
        let poll = Duration::from_millis(settings.poll_interval_ms);
        Next::Nap(
            flight
                .budget_at
                .map_or(poll, |at| at.saturating_duration_since(Instant::now())),
        )
    }

    /// Claims up to `allowed` due rows under a lease and starts a delivery for each; answers
    /// how many rows the claim returned.
    async fn claim_and_start(&self, ctx: &Rc<AttemptContext>, flight: &mut Flight, allowed: usize) -> usize {
        let lease = Duration::from_millis(self.settings.delivery.lease_ms);
        self.metrics.delivery_claims.inc();
        let rows = match self.writer.claim_due(allowed, lease).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "could not claim submissions");
                Vec::new()
            }
        };
        let claimed = rows.len();
        for row in rows {
            // Its lease ran out while it was in flight here: that task records the outcome.
            if flight.claimed.contains_key(&row.id) {
                tracing::warn!(submission_id = %row.id, "claimed a row already in flight here; not sending it twice");
                continue;
            }
            flight.claimed.insert(row.id.clone(), row.lease());
            flight.tasks.spawn_local(attempt_task(row, ctx.clone()));
        }
        claimed
    }

    /// How many rows are due now, up to `room` (a read). When the log cannot say, `room`: the
    /// claim then finds out.
    async fn due(&self, room: usize) -> usize {
        self.metrics.due_checks.inc();
        match self.log.due_now(room).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "could not count due submissions; claiming anyway");
                room
            }
        }
    }

    fn attempt_context(&self) -> AttemptContext {
        let settings = &self.settings.delivery;
        AttemptContext {
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
        }
    }

    /// How many rows this round may claim: tokens taken from the outbound budget before
    /// the claim, never waited for (docs/delivery.md, "Delivery guarantees"). With none, the answer
    /// says when the next one may be free; a fleet-wide pause is taken on here. A dry run
    /// needs no budget.
    async fn take_budget(&self, room: usize) -> (usize, Option<Duration>) {
        let Some(budget) = self.budget.as_ref().filter(|_| self.settings.api_key.is_some()) else {
            return (room, None);
        };
        match budget.take(room).await {
            Ok(grant) => {
                if let Some((wait, reason)) = grant.paused {
                    self.state.adopt(wait, reason);
                    return (0, None);
                }
                (grant.granted, grant.next_slot)
            }
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "could not take the outbound budget; trying again shortly");
                (
                    0,
                    Some(Duration::from_millis(self.settings.delivery.poll_interval_ms)),
                )
            }
        }
    }

    /// Gives back tokens a claim could not use (fewer rows were due).
    async fn refund(&self, unused: usize) {
        let Some(budget) = self
            .budget
            .as_ref()
            .filter(|_| unused > 0 && self.settings.api_key.is_some())
        else {
            return;
        };
        if let Err(error) = budget.refund(unused).await {
            tracing::warn!(error = %format!("{error:#}"), unused, "could not give back unused outbound tokens");
        }
    }

    /// Tells every relay sharing the budget about a pause this one started.
    async fn share_pause(&self) {
        let Some((wait, reason)) = self.state.take_unshared() else {
            return;
        };
        if let Some(budget) = &self.budget {
            if let Err(error) = budget.pause_all(wait, reason).await {
                tracing::error!(error = %format!("{error:#}"), "could not share a delivery pause with the other relays");
            }
        }
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
        otel.name = "delivery attempt",
        otel.kind = "client",
        submission_id = %row.id,
        attempt = row.attempts + 1,
        request_id = %row.request_id.as_deref().unwrap_or("-")
    );
    // The attempt joins its submission's trace, across the queue (docs/operations.md, "Traces").
    crate::traces::continue_trace(&span, row.trace_parent.as_deref());
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
