//! Reads and housekeeping for operators: listing, stats, retention purges, erasure.

use super::SqliteStore;
use crate::store::{
    AttemptRow, CountRow, Erased, ErasureTarget, PersonIds, Removed, Stats, SubmissionFilter,
    SubmissionSummary,
};
use anyhow::Context;
use sqlx::{QueryBuilder, Sqlite};

impl SqliteStore {
    pub async fn list_submissions(
        &self,
        filter: &SubmissionFilter,
    ) -> anyhow::Result<Vec<SubmissionSummary>> {
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, received_at, source_kind, source, status, attempts, next_attempt_at, delivered_at,
                    last_http_status, last_error, email, subject, consent, spam_verdict, spam_score, files
             FROM submissions WHERE true",
        );
        filter.push_to(&mut query, "");
        query
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .context("listing submissions")
    }

    pub async fn attempts_for(&self, id: &str) -> anyhow::Result<Vec<AttemptRow>> {
        sqlx::query_as(
            "SELECT attempt, started_at, duration_ms, http_status, error_kind, error, response_excerpt
             FROM delivery_attempts WHERE submission_id = ? ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await
        .context("reading delivery attempts")
    }

    /// Counts by source and status since `since`, and the queue's state now.
    pub async fn stats(&self, since: &str) -> anyhow::Result<Stats> {
        let counts = sqlx::query_as::<_, CountRow>(
            "SELECT source_kind, source, status, COUNT(*) AS count FROM submissions
             WHERE received_at >= ? GROUP BY source_kind, source, status ORDER BY source, status",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await
        .context("counting submissions")?;
        let queue = self.queue_stats().await?;
        Ok(Stats {
            since: since.to_owned(),
            counts,
            queue_depth: queue.depth,
            oldest_waiting_received_at: queue.oldest_received_at,
            oldest_due_age_seconds: queue.oldest_due_age_seconds,
        })
    }

    /// Deletes rows received before `cutoff`, `batch` at a time, so intake never waits
    /// long for the single SQLite writer. Rows still waiting for delivery are kept.
    pub async fn purge_before(&self, cutoff: &str, batch: i64) -> anyhow::Result<Removed> {
        let mut removed = Removed::default();
        loop {
            let mut tx = self.pool().begin().await?;
            let attempts = sqlx::query(
                "DELETE FROM delivery_attempts WHERE submission_id IN (
                     SELECT id FROM submissions WHERE received_at < ?1 AND status NOT IN ('queued', 'retrying')
                     ORDER BY received_at LIMIT ?2)",
            )
            .bind(cutoff)
            .bind(batch)
            .execute(&mut *tx)
            .await
            .context("purging delivery attempts")?
            .rows_affected();
            let rows = sqlx::query(
                "DELETE FROM submissions WHERE id IN (
                     SELECT id FROM submissions WHERE received_at < ?1 AND status NOT IN ('queued', 'retrying')
                     ORDER BY received_at LIMIT ?2)",
            )
            .bind(cutoff)
            .bind(batch)
            .execute(&mut *tx)
            .await
            .context("purging submissions")?
            .rows_affected();
            tx.commit().await?;
            removed.submissions += rows;
            removed.delivery_attempts += attempts;
            if rows < batch as u64 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        removed.talk_sessions = sqlx::query("DELETE FROM talk_sessions WHERE requested_at < ?")
            .bind(cutoff)
            .execute(self.pool())
            .await
            .context("purging session logs")?
            .rows_affected();
        Ok(removed)
    }

    /// The ids of one person's submissions and session logs: whose email matches or whose
    /// submitted fields mention the address, as intake normalises it, non-ASCII ones included
    /// (what erasure removes and `export-person` shows).
    pub async fn find_person(&self, email: &str) -> anyhow::Result<PersonIds> {
        let target = ErasureTarget::parse(email)?;
        let candidates: Vec<(String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, email, fields FROM submissions
              WHERE ?1 = '' OR instr(lower(coalesce(email, '')), ?1) > 0 OR instr(lower(fields), ?1) > 0",
        )
        .bind(&target.narrow)
        .fetch_all(self.pool())
        .await
        .context("finding the person's submissions")?;
        let submission_ids = target.submissions(candidates);
        let sessions: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, email FROM talk_sessions WHERE email IS NOT NULL AND (?1 = '' OR instr(lower(email), ?1) > 0)",
        )
        .bind(&target.narrow)
        .fetch_all(self.pool())
        .await
        .context("finding the person's session logs")?;
        let session_ids = target.sessions(sessions);
        Ok(PersonIds {
            submissions: submission_ids,
            sessions: session_ids,
        })
    }

    /// Removes every row of one person (a GDPR erasure request): submissions whose email
    /// matches or whose submitted fields mention the address, their attempts, and session
    /// logs. Addresses match as intake normalises them, non-ASCII ones included. The deletes
    /// run with `secure_delete` and the WAL is then truncated, so the bytes leave the files
    /// (docs/operations.md, "Operating it").
    pub async fn erase_email(&self, email: &str) -> anyhow::Result<Erased> {
        let PersonIds {
            submissions: submission_ids,
            sessions: session_ids,
        } = self.find_person(email).await?;

        let mut conn = self.pool().acquire().await?;
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await?;
        let mut removed = Removed::default();
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for id in &submission_ids {
            removed.delivery_attempts += delete_by_id(
                &mut tx,
                "DELETE FROM delivery_attempts WHERE submission_id = ?",
                id,
            )
            .await?;
            removed.submissions += delete_by_id(&mut tx, "DELETE FROM submissions WHERE id = ?", id).await?;
        }
        for id in &session_ids {
            removed.talk_sessions +=
                delete_by_id(&mut tx, "DELETE FROM talk_sessions WHERE id = ?", id).await?;
        }
        tx.commit().await.context("committing the erasure")?;
        // Earlier versions of these rows (a status update rewrites a whole record) may sit in
        // pages already on the free list, which secure_delete never revisits: VACUUM rewrites
        // the file without them. It takes the write lock for as long as it runs.
        let vacuumed = sqlx::query("VACUUM").execute(&mut *conn).await;
        sqlx::query("PRAGMA secure_delete = OFF")
            .execute(&mut *conn)
            .await?;
        vacuumed.context("rewriting the database without the erased rows (VACUUM)")?;
        let wal_truncated = truncate_wal(&mut conn).await?;
        Ok(Erased {
            submission_ids,
            removed,
            residue: (!wal_truncated).then(|| {
                "a reader kept the WAL open; the erased bytes stay in it until the next truncation \
                 (a running relay truncates it within a second of being idle)"
                    .to_owned()
            }),
        })
    }
}

/// Runs one erasure `DELETE … WHERE … = ?` for `id`; answers how many rows went.
async fn delete_by_id(conn: &mut sqlx::SqliteConnection, sql: &'static str, id: &str) -> anyhow::Result<u64> {
    Ok(sqlx::query(sql)
        .bind(id)
        .execute(conn)
        .await
        .with_context(|| format!("erasing: {sql}"))?
        .rows_affected())
}

/// Truncates the WAL, where the old page images of erased rows live on; a reader (a running
/// relay's dashboard) may hold it for a moment, so this tries for a few seconds. Answers
/// whether it was truncated.
async fn truncate_wal(conn: &mut sqlx::SqliteConnection) -> anyhow::Result<bool> {
    for _ in 0..50 {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *conn)
            .await
            .context("truncating the WAL")?;
        if busy == 0 {
            return Ok(true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(false)
}
