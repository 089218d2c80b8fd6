//! Delivery state: claiming due rows with a lease and recording each attempt's outcome.
//! Every function is one short transaction; none is held across an HTTP call.

use super::Store;
use crate::domain::{now_timestamp, utc_timestamp, Status};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use sqlx::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};

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

/// One delivery outcome to record: the row, the attempt made (none for a dry run or a local
/// rejection) and the row's new state.
pub struct Finish<'a> {
    pub id: &'a str,
    pub attempt: Option<&'a AttemptRecord>,
    pub update: &'a RowUpdate,
}

/// Records many outcomes in two statements: one multi-row INSERT of the attempts and one
/// UPDATE … FROM (VALUES …) of the rows (each statement is a round trip to SQLite's thread).
pub async fn finish_many(conn: &mut SqliteConnection, finishes: &[Finish<'_>]) -> anyhow::Result<()> {
    let attempts: Vec<(&str, &AttemptRecord)> = finishes
        .iter()
        .filter_map(|f| f.attempt.map(|a| (f.id, a)))
        .collect();
    if !attempts.is_empty() {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO delivery_attempts (submission_id, attempt, started_at, duration_ms,
                 http_status, error_kind, error, response_excerpt) ",
        );
        insert.push_values(&attempts, |mut row, (id, a)| {
            row.push_bind(*id)
                .push("(SELECT COUNT(*) + 1 FROM delivery_attempts WHERE submission_id = ")
                .push_bind_unseparated(*id)
                .push_unseparated(")")
                .push_bind(utc_timestamp(a.started_at))
                .push_bind(a.duration_ms)
                .push_bind(a.http_status.map(i64::from))
                .push_bind(a.error_kind)
                .push_bind(a.error.clone())
                .push_bind(a.response_excerpt.clone());
        });
        insert
            .build()
            .execute(&mut *conn)
            .await
            .context("recording delivery attempts")?;
    }
    let now = now_timestamp();
    let mut update: QueryBuilder<Sqlite> = QueryBuilder::new(
        "UPDATE submissions SET status = v.new_status, attempts = attempts + v.new_added,
             last_attempt_at = COALESCE(v.new_attempted_at, last_attempt_at),
             last_http_status = CASE WHEN v.new_status = 'delivered' THEN v.new_http_status
                                     ELSE COALESCE(v.new_http_status, last_http_status) END,
             delivered_at = COALESCE(v.new_delivered_at, delivered_at),
             conversation_id = COALESCE(v.new_conversation_id, conversation_id),
             person_id = COALESCE(v.new_person_id, person_id),
             person_status = COALESCE(v.new_person_status, person_status),
             last_error = v.new_last_error, next_attempt_at = v.new_next_attempt_at, leased_until = NULL
         FROM (SELECT column1 AS new_id, column2 AS new_status, column3 AS new_added, column4 AS new_attempted_at,
                      column5 AS new_http_status, column6 AS new_delivered_at, column7 AS new_conversation_id,
                      column8 AS new_person_id, column9 AS new_person_status, column10 AS new_last_error,
                      column11 AS new_next_attempt_at FROM (",
    );
    update.push_values(finishes, |mut row, f| {
        let counts = f.attempt.is_some() && !matches!(f.update, RowUpdate::RetryAt { counts: false, .. });
        let http_status = f.attempt.and_then(|a| a.http_status).map(i64::from);
        let (status, delivered_at, ids, last_error, next_attempt_at) = match f.update {
            RowUpdate::Delivered {
                conversation_id,
                person_id,
                person_status,
            } => (
                Status::Delivered,
                Some(now.clone()),
                (conversation_id.clone(), person_id.clone(), person_status.clone()),
                None,
                None,
            ),
            RowUpdate::RetryAt { at, error, .. } => (
                Status::Retrying,
                None,
                (None, None, None),
                Some(error.clone()),
                Some(utc_timestamp(*at)),
            ),
            RowUpdate::Dead { error } => (Status::Dead, None, (None, None, None), Some(error.clone()), None),
            RowUpdate::DryRun => (
                Status::DryRun,
                None,
                (None, None, None),
                Some("dry run: no Ortto API key configured".to_owned()),
                None,
            ),
        };
        row.push_bind(f.id)
            .push_bind(status.as_str())
            .push_bind(i64::from(counts))
            .push_bind(f.attempt.map(|a| utc_timestamp(a.started_at)))
            .push_bind(http_status)
            .push_bind(delivered_at)
            .push_bind(ids.0)
            .push_bind(ids.1)
            .push_bind(ids.2)
            .push_bind(last_error)
            .push_bind(next_attempt_at);
    });
    update.push(")) AS v WHERE submissions.id = v.new_id");
    update
        .build()
        .execute(&mut *conn)
        .await
        .context("updating delivered submissions")?;
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
    /// a payload, is not delivered and is not in flight) or by status (`dead`, `dry_run`).
    /// Returns how many.
    pub async fn replay(&self, ids: &[String], status: Option<Status>) -> anyhow::Result<u64> {
        let now = now_timestamp();
        let mut requeued = 0;
        // A row a worker holds under a live lease is in flight: replaying it could send it twice.
        let replayable = "payload IS NOT NULL AND status IN ('dead', 'dry_run', 'retrying', 'queued')
                          AND (leased_until IS NULL OR leased_until <= ?2)";
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
