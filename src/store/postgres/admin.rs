//! Reads and housekeeping for operators on PostgreSQL: listing, stats, replay, retention
//! purges, erasure. The same answers as the SQLite log's.

use super::{PgStore, SUMMARY_COLUMNS};
use crate::domain::Status;
use crate::store::{
    CountRow, Erased, ErasureTarget, LogStore, PersonIds, Removed, Stats, SubmissionFilter, SubmissionSummary,
};
use anyhow::Context;
use sqlx::{PgPool, Postgres, QueryBuilder};

pub(super) async fn list_submissions(
    pool: &PgPool,
    filter: &SubmissionFilter,
) -> anyhow::Result<Vec<SubmissionSummary>> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS} FROM submissions WHERE true"));
    filter.push_to(&mut query, "::timestamptz");
    query
        .build_query_as()
        .fetch_all(pool)
        .await
        .context("listing submissions")
}

pub(super) async fn stats(store: &PgStore, since: &str) -> anyhow::Result<Stats> {
    let counts = sqlx::query_as::<_, CountRow>(
        "SELECT source_kind, source, status, COUNT(*) AS count FROM submissions
         WHERE received_at >= $1::timestamptz GROUP BY source_kind, source, status ORDER BY source, status",
    )
    .bind(since)
    .fetch_all(store.pool())
    .await
    .context("counting submissions")?;
    let queue = store.queue_stats().await?;
    Ok(Stats {
        since: since.to_owned(),
        counts,
        queue_depth: queue.depth,
        oldest_waiting_received_at: queue.oldest_received_at,
        oldest_due_age_seconds: queue.oldest_due_age_seconds,
    })
}

pub(super) async fn replay(pool: &PgPool, ids: &[String], status: Option<Status>) -> anyhow::Result<u64> {
    // A row a worker holds under a live lease is in flight: replaying it could send it twice.
    const REQUEUE: &str = "UPDATE submissions SET status = 'queued', attempts = 0, next_attempt_at = now(),
             leased_until = NULL, lease_token = NULL
         WHERE payload IS NOT NULL AND status IN ('dead', 'dry_run', 'retrying', 'queued')
           AND (leased_until IS NULL OR leased_until <= now())";
    let mut requeued = 0;
    if !ids.is_empty() {
        requeued += sqlx::query(&format!("{REQUEUE} AND id = ANY($1)"))
            .bind(ids)
            .execute(pool)
            .await
            .context("re-queueing submissions")?
            .rows_affected();
    }
    if let Some(status) = status {
        anyhow::ensure!(
            matches!(status, Status::Dead | Status::DryRun),
            "only `dead` and `dry_run` rows can be replayed by status"
        );
        requeued += sqlx::query(&format!("{REQUEUE} AND status = $1"))
            .bind(status.as_str())
            .execute(pool)
            .await
            .context("re-queueing submissions by status")?
            .rows_affected();
    }
    Ok(requeued)
}

/// Deletes `batch` rows at a time, each batch its own short transaction.
pub(super) async fn purge_before(pool: &PgPool, cutoff: &str, batch: i64) -> anyhow::Result<Removed> {
    let mut removed = Removed::default();
    loop {
        let (rows, attempts): (i64, i64) = sqlx::query_as(
            "WITH doomed AS (
                 SELECT id FROM submissions
                 WHERE received_at < $1::timestamptz AND status NOT IN ('queued', 'retrying')
                 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED),
             gone_attempts AS (
                 DELETE FROM delivery_attempts WHERE submission_id IN (SELECT id FROM doomed) RETURNING 1),
             gone AS (
                 DELETE FROM submissions WHERE id IN (SELECT id FROM doomed) RETURNING 1)
             SELECT (SELECT COUNT(*) FROM gone), (SELECT COUNT(*) FROM gone_attempts)",
        )
        .bind(cutoff)
        .bind(batch)
        .fetch_one(pool)
        .await
        .context("purging submissions and their attempts")?;
        removed.submissions += rows as u64;
        removed.delivery_attempts += attempts as u64;
        if rows < batch {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    removed.talk_sessions = sqlx::query("DELETE FROM talk_sessions WHERE requested_at < $1::timestamptz")
        .bind(cutoff)
        .execute(pool)
        .await
        .context("purging session logs")?
        .rows_affected();
    Ok(removed)
}

/// Removes every row of one person from every table that holds personal data. Addresses
/// match as intake normalises them: Rust's Unicode lowercasing decides, whatever the
/// database's collation does with `lower()`.
/// The ids of one person's submissions and session logs (what erasure removes and
/// `export-person` shows), matched as on SQLite.
pub(super) async fn find_person(pool: &PgPool, email: &str) -> anyhow::Result<PersonIds> {
    let target = ErasureTarget::parse(email)?;
    let candidates: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT id, email, fields FROM submissions
          WHERE $1 = '' OR strpos(lower(coalesce(email, '')), $1) > 0 OR strpos(lower(fields), $1) > 0",
    )
    .bind(&target.narrow)
    .fetch_all(pool)
    .await
    .context("finding the person's submissions")?;
    let submission_ids = target.submissions(candidates);
    let sessions: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, email FROM talk_sessions WHERE email IS NOT NULL AND ($1 = '' OR strpos(lower(email), $1) > 0)",
    )
    .bind(&target.narrow)
    .fetch_all(pool)
    .await
    .context("finding the person's session logs")?;
    let session_ids = target.sessions(sessions);
    Ok(PersonIds {
        submissions: submission_ids,
        sessions: session_ids,
    })
}

pub(super) async fn erase_email(pool: &PgPool, email: &str) -> anyhow::Result<Erased> {
    let PersonIds {
        submissions: submission_ids,
        sessions: session_ids,
    } = find_person(pool, email).await?;

    let mut tx = pool.begin().await?;
    let delivery_attempts = sqlx::query("DELETE FROM delivery_attempts WHERE submission_id = ANY($1)")
        .bind(&submission_ids)
        .execute(&mut *tx)
        .await
        .context("erasing delivery attempts")?
        .rows_affected();
    let submissions = sqlx::query("DELETE FROM submissions WHERE id = ANY($1)")
        .bind(&submission_ids)
        .execute(&mut *tx)
        .await
        .context("erasing submissions")?
        .rows_affected();
    let talk_sessions = sqlx::query("DELETE FROM talk_sessions WHERE id = ANY($1)")
        .bind(&session_ids)
        .execute(&mut *tx)
        .await
        .context("erasing session logs")?
        .rows_affected();
    let removed = Removed {
        submissions,
        delivery_attempts,
        talk_sessions,
    };
    tx.commit().await.context("committing the erasure")?;
    // Dead row versions stay in the table's pages until a vacuum reclaims them.
    sqlx::query("VACUUM submissions, delivery_attempts, talk_sessions")
        .execute(pool)
        .await
        .context("vacuuming the erased rows")?;
    Ok(Erased {
        submission_ids,
        removed,
        residue: Some(
            "PostgreSQL vacuumed the tables, so the rows are gone from them; their bytes can stay in \
             reused pages until overwritten, in the WAL archive and in backups until those rotate"
                .to_owned(),
        ),
    })
}
