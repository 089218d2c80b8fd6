//! One delivery attempt for one claimed row, start to recorded outcome.

use super::{DeliveryState, PauseReason, RetrySchedule};
use crate::metrics::{Metrics, Outcome};
use crate::ortto::{classify_compose, ComposeOutcome, Delivered, OrttoClient};
use crate::store::{AttemptRecord, ClaimedRow, LogWriter, RowUpdate};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every attempt on this worker shares.
pub struct AttemptContext {
    pub writer: LogWriter,
    pub client: Option<OrttoClient>,
    pub state: Arc<DeliveryState>,
    pub schedule: RetrySchedule,
    pub auth_pause: Duration,
    pub metrics: Arc<Metrics>,
}

/// Sends one row and records what happened. The worker has already taken the outbound
/// budget for it, so nothing here waits longer than the send itself. Recording failures
/// leave the lease to expire, so the row is tried again rather than lost.
pub async fn deliver(row: ClaimedRow, ctx: &AttemptContext) -> anyhow::Result<()> {
    let Some(payload) = row.payload.as_deref() else {
        let error = "nothing to deliver: the row has no payload".to_owned();
        return ctx
            .writer
            .finish_attempt(row.lease(), None, RowUpdate::Dead { error })
            .await;
    };
    let Some(client) = &ctx.client else {
        ctx.count(Outcome::DryRun);
        return ctx
            .writer
            .finish_attempt(row.lease(), None, RowUpdate::DryRun)
            .await;
    };
    // A pause may have begun since the row was claimed (another row's answer).
    if let Some(until) = ctx.state.paused_until() {
        return ctx.writer.release(vec![row.lease()], until).await;
    }

    let started_at = Utc::now();
    let clock = Instant::now();
    let result = client.compose(payload).await;
    let duration = clock.elapsed();
    ctx.metrics.attempt_seconds.observe(duration.as_secs_f64());
    let outcome = classify_compose(&result);
    ctx.count(outcome_label(&outcome));
    let record = AttemptRecord {
        started_at,
        duration_ms: duration.as_millis() as i64,
        http_status: result.as_ref().ok().map(|r| r.status),
        error_kind: error_kind(&outcome),
        error: error_text(&outcome),
        response_excerpt: result
            .as_ref()
            .ok()
            .map(|r| crate::ortto::response_excerpt(&r.body)),
    };
    let update = row_update(&row, outcome, ctx);
    if matches!(update, RowUpdate::Dead { .. }) {
        ctx.metrics.dead_rows.inc();
    }
    ctx.writer.finish_attempt(row.lease(), Some(record), update).await
}

fn row_update(row: &ClaimedRow, outcome: ComposeOutcome, ctx: &AttemptContext) -> RowUpdate {
    let attempt = u32::try_from(row.attempts).unwrap_or(u32::MAX).saturating_add(1);
    match outcome {
        ComposeOutcome::Success(Delivered {
            conversation_id,
            person_id,
            person_status,
            ..
        }) => {
            ctx.state.delivery_succeeded();
            tracing::info!(attempt, "delivered");
            RowUpdate::Delivered {
                conversation_id,
                person_id,
                person_status,
            }
        }
        ComposeOutcome::Retry { error, .. } => retry_or_give_up(row, attempt, error, ctx),
        ComposeOutcome::RateLimited { wait } => {
            let until = ctx.state.pause(wait, PauseReason::RateLimited);
            tracing::warn!(
                wait_ms = wait.as_millis() as u64,
                "Ortto rate limit: every delivery paused"
            );
            RowUpdate::RetryAt {
                at: until,
                counts: false,
                error: format!(
                    "rate limited by Ortto; deliveries paused for {} s",
                    wait.as_secs()
                ),
            }
        }
        ComposeOutcome::KeyRejected { status, error } => {
            let until = ctx
                .state
                .pause(ctx.auth_pause, PauseReason::KeyRejected { status });
            tracing::error!(
                status,
                pause_s = ctx.auth_pause.as_secs(),
                "Ortto rejected the API key: every delivery is paused; check the key (and the Ortto account)"
            );
            RowUpdate::RetryAt {
                at: until,
                counts: false,
                error,
            }
        }
        ComposeOutcome::Rejected { error, .. } => refused(error, ctx),
    }
}

/// Ortto refused the payload: the row is dead, and several in a row pause every delivery.
fn refused(error: String, ctx: &AttemptContext) -> RowUpdate {
    tracing::error!(%error, "Ortto refused the payload; the row is dead");
    if let Some(until) = ctx.state.payload_refused() {
        ctx.count(Outcome::PausedForRefusals);
        tracing::error!(
            until = %crate::domain::utc_timestamp(until),
            "Ortto refused several payloads in a row: every delivery is paused before Ortto bans this IP"
        );
    }
    RowUpdate::Dead { error }
}

/// A failure worth another try: due again after the backoff, or `dead` once the attempts or
/// the row's age run out (docs/delivery.md, "Retry schedule").
fn retry_or_give_up(row: &ClaimedRow, attempt: u32, error: String, ctx: &AttemptContext) -> RowUpdate {
    let received_at = DateTime::parse_from_rfc3339(&row.received_at)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    match ctx.schedule.next_attempt(attempt, received_at) {
        Some(at) => {
            tracing::warn!(attempt, %error, retry_at = %at, "delivery failed; will retry");
            RowUpdate::RetryAt {
                at,
                counts: true,
                error,
            }
        }
        None => {
            tracing::error!(attempt, %error, "delivery failed; giving up");
            RowUpdate::Dead {
                error: format!("gave up after {attempt} attempts: {error}"),
            }
        }
    }
}

impl AttemptContext {
    fn count(&self, outcome: Outcome) {
        self.metrics
            .deliveries
            .get_or_create(&crate::metrics::OutcomeLabels { outcome })
            .inc();
    }
}

fn outcome_label(outcome: &ComposeOutcome) -> Outcome {
    match outcome {
        ComposeOutcome::Success(_) => Outcome::Delivered,
        ComposeOutcome::Retry { .. } => Outcome::Retry,
        ComposeOutcome::RateLimited { .. } => Outcome::RateLimited,
        ComposeOutcome::KeyRejected { .. } => Outcome::KeyRejected,
        ComposeOutcome::Rejected { .. } => Outcome::Rejected,
    }
}

fn error_kind(outcome: &ComposeOutcome) -> Option<&'static str> {
    match outcome {
        ComposeOutcome::Success(_) => None,
        ComposeOutcome::Retry { kind, .. } => Some(kind),
        ComposeOutcome::RateLimited { .. } => Some("rate_limited"),
        ComposeOutcome::KeyRejected { .. } => Some("key_rejected"),
        ComposeOutcome::Rejected { .. } => Some("rejected"),
    }
}

fn error_text(outcome: &ComposeOutcome) -> Option<String> {
    match outcome {
        ComposeOutcome::Success(_) => None,
        ComposeOutcome::Retry { error, .. }
        | ComposeOutcome::KeyRejected { error, .. }
        | ComposeOutcome::Rejected { error, .. } => Some(error.clone()),
        ComposeOutcome::RateLimited { wait } => Some(format!("rate limited; try in {} s", wait.as_secs())),
    }
}
