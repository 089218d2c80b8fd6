//! The writer's statements on PostgreSQL, inside its batch transaction. Rollups follow the
//! rows by statement-level triggers (migrations/postgres): one upsert per key per batch.

use crate::store::writer::{BatchStatements, Finish};
use crate::store::{ClaimedRow, Lease, NewSubmission, SessionLog};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres};
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

    /// One statement for the round, the same text for any number of outcomes (so the server
    /// prepares it once): the outcomes arrive as arrays, unnested; the attempts are inserted
    /// in a CTE of the rows' `UPDATE` (a data-modifying CTE runs whether or not it is read).
    async fn finish_many(&mut self, finishes: &[Finish<'_>]) -> anyhow::Result<usize> {
        let c = OutcomeColumns::of(finishes);
        let applied = sqlx::query(
            "WITH v AS (
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::text[],
                                      $7::text[], $8::text[], $9::text[], $10::float8[], $11::text[], $12::bool[],
                                      $13::int8[], $14::text[], $15::text[], $16::text[])
                 AS v (new_id, new_status, new_added, new_attempted_at, new_http_status, new_conversation_id,
                       new_person_id, new_person_status, new_last_error, new_wait, new_token, attempted,
                       new_duration_ms, new_error_kind, new_error, new_excerpt)
             ), recorded AS (
                 INSERT INTO delivery_attempts (submission_id, attempt, started_at, duration_ms,
                     http_status, error_kind, error, response_excerpt)
                 SELECT new_id, (SELECT COUNT(*) + 1 FROM delivery_attempts d WHERE d.submission_id = v.new_id),
                        new_attempted_at::timestamptz, new_duration_ms, new_http_status, new_error_kind, new_error,
                        new_excerpt
                 FROM v WHERE attempted
             )
             UPDATE submissions SET status = v.new_status, attempts = attempts + v.new_added,
                 last_attempt_at = COALESCE(v.new_attempted_at::timestamptz, last_attempt_at),
                 last_http_status = CASE WHEN v.new_status = 'delivered' THEN v.new_http_status
                                         ELSE COALESCE(v.new_http_status, last_http_status) END,
                 delivered_at = CASE WHEN v.new_status = 'delivered' THEN now() ELSE delivered_at END,
                 conversation_id = COALESCE(v.new_conversation_id, conversation_id),
                 person_id = COALESCE(v.new_person_id, person_id),
                 person_status = COALESCE(v.new_person_status, person_status),
                 last_error = v.new_last_error,
                 -- Due after the wait the relay meant, by the database's clock.
                 next_attempt_at = clock_timestamp() + make_interval(secs => v.new_wait),
                 leased_until = NULL, lease_token = NULL
             FROM v WHERE submissions.id = v.new_id AND submissions.lease_token = v.new_token",
        )
        .bind(c.id)
        .bind(c.status)
        .bind(c.added)
        .bind(c.attempted_at)
        .bind(c.http_status)
        .bind(c.conversation_id)
        .bind(c.person_id)
        .bind(c.person_status)
        .bind(c.last_error)
        .bind(c.wait)
        .bind(c.token)
        .bind(c.attempted)
        .bind(c.duration_ms)
        .bind(c.error_kind)
        .bind(c.error)
        .bind(c.excerpt)
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

/// A round's outcomes column by column, as [`Batch::finish_many`] binds them.
#[derive(Default)]
struct OutcomeColumns<'a> {
    id: Vec<&'a str>,
    status: Vec<&'static str>,
    added: Vec<i64>,
    attempted_at: Vec<Option<String>>,
    http_status: Vec<Option<i64>>,
    conversation_id: Vec<Option<String>>,
    person_id: Vec<Option<String>>,
    person_status: Vec<Option<String>>,
    last_error: Vec<Option<String>>,
    wait: Vec<Option<f64>>,
    token: Vec<&'a str>,
    attempted: Vec<bool>,
    duration_ms: Vec<Option<i64>>,
    error_kind: Vec<Option<&'static str>>,
    error: Vec<Option<String>>,
    excerpt: Vec<Option<String>>,
}

impl<'a> OutcomeColumns<'a> {
    fn of(finishes: &[Finish<'a>]) -> Self {
        let mut c = Self::default();
        for f in finishes {
            let (status, ids, last_error, next_attempt_at) = f.update.columns();
            c.id.push(f.lease.id.as_str());
            c.status.push(status.as_str());
            c.added.push(i64::from(f.uses_a_try()));
            c.attempted_at
                .push(f.attempt.map(|a| crate::domain::utc_timestamp(a.started_at)));
            c.http_status
                .push(f.attempt.and_then(|a| a.http_status).map(i64::from));
            c.conversation_id.push(ids.0);
            c.person_id.push(ids.1);
            c.person_status.push(ids.2);
            c.last_error.push(last_error);
            c.wait.push(next_attempt_at.map(seconds_from_now));
            c.token.push(f.lease.token.as_str());
            c.attempted.push(f.attempt.is_some());
            c.duration_ms.push(f.attempt.map(|a| a.duration_ms));
            c.error_kind.push(f.attempt.and_then(|a| a.error_kind));
            c.error.push(f.attempt.and_then(|a| a.error.clone()));
            c.excerpt.push(f.attempt.and_then(|a| a.response_excerpt.clone()));
        }
        c
    }
}

/// The wait until `at` by this relay's clock, to add to the database's clock: a relay whose
/// clock is skewed still means the same wait.
fn seconds_from_now(at: DateTime<Utc>) -> f64 {
    (at - Utc::now()).to_std().unwrap_or_default().as_secs_f64()
}
