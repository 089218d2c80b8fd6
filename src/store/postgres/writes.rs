//! The writer's statements on PostgreSQL, inside its batch transaction. Rollups follow the
//! rows by statement-level triggers (migrations/postgres): one upsert per key per batch.

use crate::store::writer::{BatchStatements, Finish};
use crate::store::{ClaimedRow, Lease, NewSubmission, RowUpdate, SessionLog};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::HashSet;
use std::time::Duration;

pub(super) struct Batch<'c>(pub(super) &'c mut PgConnection);

#[async_trait::async_trait]
impl BatchStatements for Batch<'_> {
    async fn insert_many(&mut self, rows: &[&NewSubmission]) -> anyhow::Result<Vec<(String, bool)>> {
        let mut query = crate::store::statements::insert_submissions::<Postgres>(rows);
        let inserted: HashSet<String> = query
            .build_query_scalar::<String>()
            .fetch_all(&mut *self.0)
            .await
            .context("inserting submissions")?
            .into_iter()
            .collect();
        let mut answers = Vec::with_capacity(rows.len());
        for row in rows {
            if inserted.contains(&row.id) {
                answers.push((row.id.clone(), true));
                continue;
            }
            let existing: String = sqlx::query_scalar(
                "SELECT id FROM submissions WHERE source_kind = $1 AND source = $2 AND idempotency_key = $3",
            )
            .bind(row.source_kind.as_str())
            .bind(&row.source)
            .bind(&row.idempotency_key)
            .fetch_one(&mut *self.0)
            .await
            .context("finding the earlier submission with the same idempotency key")?;
            answers.push((existing, false));
        }
        Ok(answers)
    }

    async fn finish_many(&mut self, finishes: &[Finish<'_>]) -> anyhow::Result<usize> {
        let attempts: Vec<_> = finishes
            .iter()
            .filter_map(|f| f.attempt.map(|a| (f.lease.id.as_str(), a)))
            .collect();
        // One statement for the round: the attempts as a CTE of the rows' UPDATE (a
        // data-modifying CTE runs whether or not the UPDATE reads it).
        let mut update: QueryBuilder<Postgres> = QueryBuilder::new("");
        if !attempts.is_empty() {
            update.push("WITH recorded AS (");
            crate::store::statements::push_insert_attempts(&mut update, &attempts);
            update.push(") ");
        }
        update.push(
            "UPDATE submissions SET status = v.new_status, attempts = attempts + v.new_added,
                 last_attempt_at = COALESCE(v.new_attempted_at, last_attempt_at),
                 last_http_status = CASE WHEN v.new_status = 'delivered' THEN v.new_http_status
                                         ELSE COALESCE(v.new_http_status, last_http_status) END,
                 delivered_at = CASE WHEN v.new_status = 'delivered' THEN now() ELSE delivered_at END,
                 conversation_id = COALESCE(v.new_conversation_id, conversation_id),
                 person_id = COALESCE(v.new_person_id, person_id),
                 person_status = COALESCE(v.new_person_status, person_status),
                 last_error = v.new_last_error, next_attempt_at = v.new_next_attempt_at,
                 leased_until = NULL, lease_token = NULL
             FROM (",
        );
        update.push_values(finishes, |mut row, f| {
            let counts = f.attempt.is_some() && !matches!(f.update, RowUpdate::RetryAt { counts: false, .. });
            let (status, ids, last_error, next_attempt_at) = f.update.columns();
            row.push_bind(f.lease.id.as_str())
                .push_bind(status.as_str())
                .push_bind(i64::from(counts))
                .push_bind(f.attempt.map(|a| crate::domain::utc_timestamp(a.started_at)))
                .push_unseparated("::timestamptz")
                .push_bind(f.attempt.and_then(|a| a.http_status).map(i64::from))
                .push_bind(ids.0)
                .push_bind(ids.1)
                .push_bind(ids.2)
                .push_bind(last_error)
                // Due after the wait the relay meant, by the database's clock.
                .push("clock_timestamp() + make_interval(secs => ")
                .push_bind_unseparated(next_attempt_at.map(seconds_from_now))
                .push_unseparated(")")
                .push_bind(f.lease.token.as_str());
        });
        update.push(
            ") AS v (new_id, new_status, new_added, new_attempted_at, new_http_status, new_conversation_id,
                     new_person_id, new_person_status, new_last_error, new_next_attempt_at, new_token)
             WHERE submissions.id = v.new_id AND submissions.lease_token = v.new_token",
        );
        let applied = update
            .build()
            .execute(&mut *self.0)
            .await
            .context("recording delivery attempts and outcomes")?
            .rows_affected();
        Ok(finishes.len().saturating_sub(applied as usize))
    }

    /// `FOR UPDATE SKIP LOCKED`: a row another relay is claiming at this moment is passed
    /// over, never claimed twice. The lease runs on the database's clock.
    async fn claim_due(&mut self, limit: usize, lease: Duration) -> anyhow::Result<Vec<ClaimedRow>> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query_as::<_, ClaimedRow>(concat!(
            "WITH due AS (SELECT id ",
            due_rows!(),
            " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
             UPDATE submissions s
             SET leased_until = clock_timestamp() + make_interval(secs => $2), lease_token = $3
             FROM due WHERE s.id = due.id
             RETURNING s.id, s.payload, s.attempts, relay_ts(s.received_at) AS received_at, s.request_id,
                       s.lease_token, s.trace_parent",
        ))
        .bind(limit as i64)
        .bind(lease.as_secs_f64())
        .bind(token)
        .fetch_all(&mut *self.0)
        .await
        .context("claiming due submissions")
    }

    async fn release(&mut self, leases: &[Lease], at: DateTime<Utc>) -> anyhow::Result<()> {
        if leases.is_empty() {
            return Ok(());
        }
        // Due again after the same wait by the database's clock as the relay meant by its own.
        let wait = seconds_from_now(at);
        let ids: Vec<&str> = leases.iter().map(|l| l.id.as_str()).collect();
        let tokens: Vec<&str> = leases.iter().map(|l| l.token.as_str()).collect();
        sqlx::query(
            "UPDATE submissions s
             SET leased_until = NULL, lease_token = NULL, next_attempt_at = clock_timestamp() + make_interval(secs => $3)
             FROM UNNEST($1::text[], $2::text[]) AS l (id, token)
             WHERE s.id = l.id AND s.lease_token = l.token AND s.status IN ('queued', 'retrying')",
        )
        .bind(ids)
        .bind(tokens)
        .bind(wait)
        .execute(&mut *self.0)
        .await
        .context("releasing claimed submissions")?;
        Ok(())
    }

    async fn log_session(&mut self, log: &SessionLog) -> anyhow::Result<()> {
        crate::store::statements::insert_session_log::<Postgres>(log)
            .build()
            .execute(&mut *self.0)
            .await
            .context("logging a session request")?;
        Ok(())
    }

    async fn heartbeat(&mut self) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO relay_heartbeat (id, at) VALUES (1, now())
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .execute(&mut *self.0)
        .await
        .context("writing the heartbeat row")?;
        Ok(())
    }
}

/// The wait until `at` by this relay's clock, to add to the database's clock: a relay whose
/// clock is skewed still means the same wait.
fn seconds_from_now(at: DateTime<Utc>) -> f64 {
    (at - Utc::now()).to_std().unwrap_or_default().as_secs_f64()
}
