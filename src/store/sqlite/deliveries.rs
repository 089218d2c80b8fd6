//! Delivery state: claiming due rows with a lease and recording each attempt's outcome.
//! Every function is one short transaction; none is held across an HTTP call.

use super::SqliteStore;
use crate::domain::{now_timestamp, utc_timestamp, Status};
use crate::store::writer::Finish;
use crate::store::{AttemptRecord, ClaimedRow, Lease, QueueStats};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};

/// The rows a claim may take at `?1` (now): the claim and the idle check's count read the same.
macro_rules! due_rows {
    () => {
        "FROM submissions INDEXED BY submissions_due
         WHERE status IN ('queued', 'retrying') AND next_attempt_at <= ?1
           AND (leased_until IS NULL OR leased_until <= ?1)"
    };
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
    let token = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query_as::<_, ClaimedRow>(concat!(
        "UPDATE submissions SET leased_until = ?3, lease_token = ?4 WHERE id IN (SELECT id ",
        due_rows!(),
        " ORDER BY next_attempt_at LIMIT ?2)
         RETURNING id, payload, attempts, received_at, request_id, lease_token, trace_parent",
    ))
    .bind(utc_timestamp(now))
    .bind(limit as i64)
    .bind(utc_timestamp(lease_until))
    .bind(token)
    .fetch_all(&mut *conn)
    .await
    .context("claiming due submissions")
}

/// Records many outcomes in two statements: one multi-row INSERT of the attempts and one
/// UPDATE … FROM (VALUES …) of the rows (each statement is a round trip to SQLite's thread).
/// An attempt is always recorded (it happened); the row changes only under the claim's
/// token. Returns how many outcomes found their claim gone.
pub async fn finish_many(conn: &mut SqliteConnection, finishes: &[Finish<'_>]) -> anyhow::Result<usize> {
    let attempts: Vec<(&str, &AttemptRecord)> = finishes
        .iter()
        .filter_map(|f| f.attempt.map(|a| (f.lease.id.as_str(), a)))
        .collect();
    if !attempts.is_empty() {
        let mut insert = sqlx::QueryBuilder::<Sqlite>::new("");
        crate::store::statements::push_insert_attempts(&mut insert, &attempts);
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
             last_error = v.new_last_error, next_attempt_at = v.new_next_attempt_at,
             leased_until = NULL, lease_token = NULL
         FROM (SELECT column1 AS new_id, column2 AS new_status, column3 AS new_added, column4 AS new_attempted_at,
                      column5 AS new_http_status, column6 AS new_delivered_at, column7 AS new_conversation_id,
                      column8 AS new_person_id, column9 AS new_person_status, column10 AS new_last_error,
                      column11 AS new_next_attempt_at, column12 AS new_token FROM (",
    );
    update.push_values(finishes, |mut row, f| {
        let counts = f.uses_a_try();
        let http_status = f.attempt.and_then(|a| a.http_status).map(i64::from);
        let (status, ids, last_error, next_attempt_at) = f.update.columns();
        let delivered_at = (status == Status::Delivered).then(|| now.clone());
        let next_attempt_at = next_attempt_at.map(utc_timestamp);
        row.push_bind(f.lease.id.as_str())
            .push_bind(status.as_str())
            .push_bind(i64::from(counts))
            .push_bind(f.attempt.map(|a| utc_timestamp(a.started_at)))
            .push_bind(http_status)
            .push_bind(delivered_at)
            .push_bind(ids.0)
            .push_bind(ids.1)
            .push_bind(ids.2)
            .push_bind(last_error)
            .push_bind(next_attempt_at)
            .push_bind(f.lease.token.as_str());
    });
    update.push(")) AS v WHERE submissions.id = v.new_id AND submissions.lease_token = v.new_token");
    let applied = update
        .build()
        .execute(&mut *conn)
        .await
        .context("updating delivered submissions")?
        .rows_affected();
    Ok(finishes.len().saturating_sub(applied as usize))
}

/// Gives claimed rows back (shutdown, a pause, or no outbound budget left), due again at
/// `at`, without using up an attempt. A row whose claim has passed to another worker is
/// left alone.
pub async fn release(conn: &mut SqliteConnection, leases: &[Lease], at: DateTime<Utc>) -> anyhow::Result<()> {
    for lease in leases {
        sqlx::query(
            "UPDATE submissions SET leased_until = NULL, lease_token = NULL, next_attempt_at = ?2
             WHERE id = ?1 AND lease_token = ?3 AND status IN ('queued', 'retrying')",
        )
        .bind(&lease.id)
        .bind(utc_timestamp(at))
        .bind(&lease.token)
        .execute(&mut *conn)
        .await
        .context("releasing a claimed submission")?;
    }
    Ok(())
}

impl SqliteStore {
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
                "UPDATE submissions SET status = 'queued', attempts = 0, next_attempt_at = ?2,
                     leased_until = NULL, lease_token = NULL
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
                "UPDATE submissions SET status = 'queued', attempts = 0, next_attempt_at = ?2,
                     leased_until = NULL, lease_token = NULL
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
    /// The rows [`claim_due`] would take now, up to `limit`, counted on a reader.
    pub async fn due_now(&self, limit: usize) -> anyhow::Result<usize> {
        let due: i64 = sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM (SELECT 1 ",
            due_rows!(),
            " LIMIT ?2)"
        ))
        .bind(now_timestamp())
        .bind(limit as i64)
        .fetch_one(self.pool())
        .await
        .context("counting due submissions")?;
        Ok(usize::try_from(due).unwrap_or(0))
    }

    pub async fn queue_stats(&self) -> anyhow::Result<QueueStats> {
        let (depth, oldest_due, oldest_received_at): (i64, Option<String>, Option<String>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(CASE WHEN next_attempt_at <= ?1 THEN next_attempt_at END), MIN(received_at)
             FROM submissions WHERE status IN ('queued', 'retrying')",
        )
        .bind(now_timestamp())
        .fetch_one(self.pool())
        .await
        .context("reading the queue")?;
        let age = oldest_due
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map_or(0, |t| (Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0));
        Ok(QueueStats {
            depth,
            oldest_due_age_seconds: age,
            oldest_received_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RowUpdate;

    /// A worker whose lease ran out (a stalled process) must not overwrite what the worker
    /// that holds the row now recorded, nor give its row back.
    #[actix_web::test]
    async fn an_expired_claim_changes_nothing_once_another_holds_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("log.db")).await.unwrap();
        store.migrate().await.unwrap();
        let mut conn = store.dedicated_connection().await.unwrap();
        sqlx::query(
            "INSERT INTO submissions (id, received_at, source_kind, source, status, next_attempt_at, payload, fields)
             VALUES ('r1', ?1, 'form', 'demo', 'queued', ?1, '{}', '{}')",
        )
        .bind(now_timestamp())
        .execute(&mut conn)
        .await
        .unwrap();
        let stale = claim_due(&mut conn, 1, std::time::Duration::ZERO).await.unwrap();
        let current = claim_due(&mut conn, 1, std::time::Duration::from_secs(60))
            .await
            .unwrap();
        let (stale, current) = (stale[0].lease(), current[0].lease());
        assert_eq!(
            stale.id, current.id,
            "the expired lease let a second claim take the row"
        );
        assert_ne!(stale.token, current.token);

        let retry = RowUpdate::RetryAt {
            at: Utc::now(),
            counts: true,
            error: "timeout".into(),
        };
        let delivered = RowUpdate::Delivered {
            conversation_id: Some("c".into()),
            person_id: None,
            person_status: None,
        };
        release(&mut conn, std::slice::from_ref(&stale), Utc::now())
            .await
            .unwrap();
        // (the claim, the outcome) → how many outcomes found their claim gone
        for (lease, update, fenced) in [
            (&stale, &retry, 1),
            (&current, &delivered, 0),
            (&stale, &retry, 1),
        ] {
            let finish = Finish {
                lease,
                attempt: None,
                update,
            };
            assert_eq!(finish_many(&mut conn, &[finish]).await.unwrap(), fenced);
        }
        let (status, token): (String, Option<String>) =
            sqlx::query_as("SELECT status, lease_token FROM submissions WHERE id = 'r1'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!((status.as_str(), token), ("delivered", None));
    }
}
