//! Delivery state: claiming due rows with a lease and recording each attempt's outcome.
//! Every function is one short transaction; none is held across an HTTP call.

use super::Store;
use crate::domain::{now_timestamp, utc_timestamp, Status};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use sqlx::SqliteConnection;

/// A row a worker holds the lease on.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedRow {
    pub id: String,
    pub payload: Option<String>,
    pub attempts: i64,
    pub received_at: String,
    pub request_id: Option<String>,
}

/// One attempt, as `delivery_attempts` keeps it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub http_status: Option<u16>,
    pub error_kind: Option<&'static str>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// What happens to the submission row after an attempt.
#[derive(Debug, Clone)]
pub enum RowUpdate {
    Delivered {
        conversation_id: Option<String>,
        person_id: Option<String>,
        person_status: Option<String>,
    },
    /// Try again at `at`; `counts` says whether the attempt used up one of the row's tries.
    RetryAt {
        at: DateTime<Utc>,
        counts: bool,
        error: String,
    },
    Dead {
        error: String,
    },
    DryRun,
}

// Writes: run by the log writer, inside its batch transaction.

/// Claims up to `limit` due rows for `lease`, in one `UPDATE … RETURNING`.
pub async fn claim_due(
    conn: &mut SqliteConnection,
    limit: usize,
    lease: std::time::Duration,
) -> anyhow::Result<Vec<ClaimedRow>> {
    let now = Utc::now();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    sqlx::query_as::<_, ClaimedRow>(
        "UPDATE submissions SET leased_until = ?1
         WHERE id IN (
             SELECT id FROM submissions INDEXED BY submissions_due
             WHERE status IN ('queued', 'retrying') AND next_attempt_at <= ?2
               AND (leased_until IS NULL OR leased_until <= ?2)
             ORDER BY next_attempt_at LIMIT ?3)
         RETURNING id, payload, attempts, received_at, request_id",
    )
    .bind(utc_timestamp(lease_until))
    .bind(utc_timestamp(now))
    .bind(limit as i64)
    .fetch_all(&mut *conn)
    .await
    .context("claiming due submissions")
}

/// Records an attempt and the row's new state in one transaction. Without an
/// attempt (dry run, local rejection) only the row changes.
pub async fn finish_attempt(
    conn: &mut SqliteConnection,
    id: &str,
    attempt: Option<&AttemptRecord>,
    update: &RowUpdate,
) -> anyhow::Result<()> {
    let http_status = attempt.and_then(|a| a.http_status).map(i64::from);
    if let Some(a) = attempt {
        sqlx::query(
            "INSERT INTO delivery_attempts (submission_id, attempt, started_at, duration_ms,
                 http_status, error_kind, error, response_excerpt)
             VALUES (?1, (SELECT COUNT(*) + 1 FROM delivery_attempts WHERE submission_id = ?1),
                     ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(id)
        .bind(utc_timestamp(a.started_at))
        .bind(a.duration_ms)
        .bind(http_status)
        .bind(a.error_kind)
        .bind(&a.error)
        .bind(&a.response_excerpt)
        .execute(&mut *conn)
        .await
        .context("recording a delivery attempt")?;
    }
    let attempted_at = attempt.map(|a| utc_timestamp(a.started_at));
    let counts = attempt.is_some() && !matches!(update, RowUpdate::RetryAt { counts: false, .. });
    let added = i64::from(counts);
    let query = match update {
        RowUpdate::Delivered { conversation_id, person_id, person_status } => sqlx::query(
            "UPDATE submissions SET status = 'delivered', attempts = attempts + ?2,
                 last_attempt_at = COALESCE(?3, last_attempt_at), last_http_status = ?4,
                 delivered_at = ?5, conversation_id = ?6, person_id = ?7, person_status = ?8,
                 last_error = NULL, next_attempt_at = NULL, leased_until = NULL
             WHERE id = ?1",
        )
        .bind(id)
        .bind(added)
        .bind(attempted_at)
        .bind(http_status)
        .bind(now_timestamp())
        .bind(conversation_id)
        .bind(person_id)
        .bind(person_status),
        RowUpdate::RetryAt { at, error, .. } => sqlx::query(
            "UPDATE submissions SET status = 'retrying', attempts = attempts + ?2,
                 last_attempt_at = COALESCE(?3, last_attempt_at), last_http_status = COALESCE(?4, last_http_status),
                 last_error = ?5, next_attempt_at = ?6, leased_until = NULL
             WHERE id = ?1",
        )
        .bind(id)
        .bind(added)
        .bind(attempted_at)
        .bind(http_status)
        .bind(error)
        .bind(utc_timestamp(*at)),
        RowUpdate::Dead { error } => sqlx::query(
            "UPDATE submissions SET status = 'dead', attempts = attempts + ?2,
                 last_attempt_at = COALESCE(?3, last_attempt_at), last_http_status = COALESCE(?4, last_http_status),
                 last_error = ?5, next_attempt_at = NULL, leased_until = NULL
             WHERE id = ?1",
        )
        .bind(id)
        .bind(added)
        .bind(attempted_at)
        .bind(http_status)
        .bind(error),
        RowUpdate::DryRun => sqlx::query(
            "UPDATE submissions SET status = 'dry_run', next_attempt_at = NULL, leased_until = NULL,
                 last_error = 'dry run: no Ortto API key configured'
             WHERE id = ?1",
        )
        .bind(id),
    };
    query
        .execute(&mut *conn)
        .await
        .context("updating a delivered submission")?;
    Ok(())
}

/// Gives claimed rows back (shutdown, or a pause that began after they were claimed),
/// due again at `at`, without using up an attempt.
pub async fn release(conn: &mut SqliteConnection, ids: &[String], at: DateTime<Utc>) -> anyhow::Result<()> {
    for id in ids {
        sqlx::query("UPDATE submissions SET leased_until = NULL, next_attempt_at = ?2 WHERE id = ?1 AND status IN ('queued', 'retrying')")
            .bind(id)
            .bind(utc_timestamp(at))
            .execute(&mut *conn)
            .await
            .context("releasing a claimed submission")?;
    }
    Ok(())
}

impl Store {
    /// Re-queues rows for delivery with a fresh attempt budget: by id (any row that has
    /// a payload and is not delivered) or by status (`dead`, `dry_run`). Returns how many.
    pub async fn replay(&self, ids: &[String], status: Option<Status>) -> anyhow::Result<u64> {
        let now = now_timestamp();
        let mut requeued = 0;
        let replayable = "payload IS NOT NULL AND status IN ('dead', 'dry_run', 'retrying', 'queued')";
        for id in ids {
            requeued += sqlx::query(&format!(
                "UPDATE submissions SET status = 'queued', attempts = 0, next_attempt_at = ?2, leased_until = NULL
                 WHERE id = ?1 AND {replayable}"
            ))
            .bind(id)
            .bind(&now)
            .execute(self.pool())
            .await
            .context("re-queueing a submission")?
            .rows_affected();
        }
        if let Some(status) = status {
            anyhow::ensure!(
                matches!(status, Status::Dead | Status::DryRun),
                "only `dead` and `dry_run` rows can be replayed by status"
            );
            requeued += sqlx::query(&format!(
                "UPDATE submissions SET status = 'queued', attempts = 0, next_attempt_at = ?2, leased_until = NULL
                 WHERE status = ?1 AND {replayable}"
            ))
            .bind(status.as_str())
            .bind(&now)
            .execute(self.pool())
            .await
            .context("re-queueing submissions by status")?
            .rows_affected();
        }
        Ok(requeued)
    }

    /// Rows waiting for delivery (queued or retrying), and how many seconds the oldest
    /// due one has been waiting.
    pub async fn queue_stats(&self) -> anyhow::Result<(i64, i64)> {
        let (depth, oldest_due): (i64, Option<String>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(CASE WHEN next_attempt_at <= ?1 THEN next_attempt_at END)
             FROM submissions WHERE status IN ('queued', 'retrying')",
        )
        .bind(now_timestamp())
        .fetch_one(self.pool())
        .await
        .context("reading the queue")?;
        let age = oldest_due
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map_or(0, |t| (Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0));
        Ok((depth, age))
    }
}
