//! The scale-out backend: any number of relays sharing one PostgreSQL database (docs/scale-out.md,
//! "Running more than one relay"). Each relay keeps one writer session (group commit) and a
//! small pool for reads, the shared budget and housekeeping. Claims lock with `FOR UPDATE
//! SKIP LOCKED` and lease by the database's clock, so relays never claim one row at once, and
//! whatever the relays' own clocks say.

/// The rows a claim may take now, by the database's clock: the claim and the idle check's
/// count read the same.
macro_rules! due_rows {
    () => {
        "FROM submissions
         WHERE status IN ('queued', 'retrying') AND next_attempt_at <= clock_timestamp()
           AND (leased_until IS NULL OR leased_until <= clock_timestamp())"
    };
}

mod admin;
mod budget;
mod writes;

use super::health::StorageHealth;
use super::writer::{apply_in, BatchStatements, Done, Work, WriteSession};
use super::{
    AttemptRow, ClaimedRow, Erased, LogStore, QueueStats, ReasonCount, Removed, Stats, SubmissionFilter,
    SubmissionRow, SubmissionSummary,
};
use crate::domain::Status;
use crate::outbound::OutboundBudget;
use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The columns of [`SubmissionSummary`], timestamps as the relay reads them.
const SUMMARY_COLUMNS: &str =
    "id, relay_ts(received_at) AS received_at, source_kind, source, status, attempts,
    relay_ts(next_attempt_at) AS next_attempt_at, relay_ts(delivered_at) AS delivered_at,
    last_http_status, last_error, email, subject, consent::int::int8 AS consent, spam_verdict, spam_score, files";

/// A PostgreSQL log.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
}

impl PgStore {
    /// Connects; the URL may hold a password, so errors never repeat it.
    pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| anyhow::anyhow!("database.url is not a valid postgres:// URL"))?
            .application_name("talk-relay")
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .context("connecting to PostgreSQL (database.url)")?;
        Ok(Self { pool, options })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl LogStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    /// sqlx holds an advisory lock while it migrates, so relays that start together
    /// migrate once: the others wait, then find nothing to do.
    async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("running database migrations")
    }

    async fn write_session(&self, _health: Arc<StorageHealth>) -> anyhow::Result<Box<dyn WriteSession>> {
        Ok(Box::new(PgWriteSession {
            conn: None,
            options: self.options.clone(),
        }))
    }

    async fn submission(&self, id: &str) -> anyhow::Result<Option<SubmissionRow>> {
        sqlx::query_as::<_, SubmissionRow>(&format!(
            "SELECT {SUMMARY_COLUMNS}, relay_ts(last_attempt_at) AS last_attempt_at, consent_note, client_ip,
                    user_agent, origin, page_url, idempotency_key, conversation_id, person_id, person_status,
                    payload, fields, captcha, spam_reasons, review, relay_ts(reviewed_at) AS reviewed_at, consent_proof
             FROM submissions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a submission")
    }

    async fn list_submissions(&self, filter: &SubmissionFilter) -> anyhow::Result<Vec<SubmissionSummary>> {
        admin::list_submissions(&self.pool, filter).await
    }

    async fn attempts_for(&self, id: &str) -> anyhow::Result<Vec<AttemptRow>> {
        sqlx::query_as(
            "SELECT attempt, relay_ts(started_at) AS started_at, duration_ms, http_status, error_kind, error,
                    response_excerpt
             FROM delivery_attempts WHERE submission_id = $1 ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .context("reading delivery attempts")
    }

    async fn stats(&self, since: &str) -> anyhow::Result<Stats> {
        admin::stats(self, since).await
    }

    async fn queue_stats(&self) -> anyhow::Result<QueueStats> {
        let (depth, age, oldest_received_at): (i64, Option<i64>, Option<String>) = sqlx::query_as(
            "SELECT COUNT(*),
                    EXTRACT(EPOCH FROM now() - MIN(next_attempt_at) FILTER (WHERE next_attempt_at <= now()))::int8,
                    relay_ts(MIN(received_at))
             FROM submissions WHERE status IN ('queued', 'retrying')",
        )
        .fetch_one(&self.pool)
        .await
        .context("reading the queue")?;
        Ok(QueueStats {
            depth,
            oldest_due_age_seconds: age.unwrap_or(0).max(0),
            oldest_received_at,
        })
    }

    async fn due_now(&self, limit: usize) -> anyhow::Result<usize> {
        let due: i64 = sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM (SELECT 1 ",
            due_rows!(),
            " LIMIT $1) AS due"
        ))
        .bind(limit as i64)
        .fetch_one(&self.pool)
        .await
        .context("counting due submissions")?;
        Ok(usize::try_from(due).unwrap_or(0))
    }

    /// On the pool, one statement: `FOR UPDATE SKIP LOCKED` keeps it from taking a row that
    /// another claim, here or on another relay, holds at that moment.
    async fn claim_beside_writer(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Option<anyhow::Result<Vec<ClaimedRow>>> {
        Some(
            async {
                let mut conn = self.pool.acquire().await.context("claiming due submissions")?;
                writes::Batch(&mut conn).claim_due(limit, lease).await
            }
            .await,
        )
    }

    async fn replay(&self, ids: &[String], status: Option<Status>) -> anyhow::Result<u64> {
        admin::replay(&self.pool, ids, status).await
    }

    async fn spam_reasons(&self, day: &str, limit: i64) -> anyhow::Result<Vec<ReasonCount>> {
        let mut query = super::statements::spam_reasons::<sqlx::Postgres>(day, limit);
        let found = query.build_query_as().fetch_all(&self.pool).await;
        found.context("reading the quarantine's reasons")
    }

    async fn purge_spam_batch(&self, cutoff: &str, batch: i64) -> anyhow::Result<u64> {
        let mut query = super::statements::purge_spam::<sqlx::Postgres>(cutoff, batch);
        let done = query.build().execute(&self.pool).await;
        Ok(done.context("purging quarantined submissions")?.rows_affected())
    }

    async fn review(&self, id: &str, review: super::Review<'_>, at: &str) -> anyhow::Result<bool> {
        let mut query = super::statements::review::<sqlx::Postgres>(id, review, at);
        let done = query.build().execute(&self.pool).await;
        Ok(done
            .context("reviewing a quarantined submission")?
            .rows_affected()
            == 1)
    }

    async fn purge_before(&self, cutoff: &str, batch: i64) -> anyhow::Result<Removed> {
        admin::purge_before(&self.pool, cutoff, batch).await
    }

    async fn erase_email(&self, email: &str) -> anyhow::Result<Erased> {
        admin::erase_email(&self.pool, email).await
    }

    async fn hourly(&self, since: &str) -> anyhow::Result<(Vec<super::HourCount>, Vec<super::HourCount>)> {
        let mut statuses =
            super::statements::hourly::<sqlx::Postgres>("status_rollup_hourly", "status", since);
        let mut latency =
            super::statements::hourly::<sqlx::Postgres>("delivery_latency_hourly", "le_seconds", since);
        Ok((
            statuses
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .context("reading the hourly status rollup")?,
            latency
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .context("reading the hourly latency rollup")?,
        ))
    }

    async fn sources_since(&self, since: &str) -> anyhow::Result<Vec<super::SourceCount>> {
        let mut query = super::statements::sources_since::<sqlx::Postgres>(since);
        query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .context("reading the hourly source rollup")
    }

    async fn find_person(&self, email: &str) -> anyhow::Result<super::PersonIds> {
        admin::find_person(&self.pool, email).await
    }

    async fn sessions(&self, ids: &[String]) -> anyhow::Result<Vec<super::SessionRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = super::statements::sessions_by_id::<sqlx::Postgres>(ids);
        query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .context("reading session logs")
    }

    /// PostgreSQL checkpoints on its own.
    async fn checkpoint(&self) -> anyhow::Result<Option<u64>> {
        Ok(None)
    }

    fn shared_budget(&self, windows: &[(u32, Duration)]) -> Option<Arc<dyn OutboundBudget>> {
        Some(Arc::new(budget::SharedBudget::new(self.pool.clone(), windows)))
    }

    /// One key for the fleet in `relay_keys`: the first relay's random key wins, and every
    /// relay reads the winner. A relay whose insert lost a race to one that had not committed
    /// when its statement began sees no row yet; the next statement does.
    async fn shared_link_key(&self) -> anyhow::Result<Option<String>> {
        for _ in 0..5 {
            let key: Option<(String,)> = sqlx::query_as(
                "WITH made AS (
                     INSERT INTO relay_keys (name, value) VALUES ('thanks_link', $1)
                     ON CONFLICT (name) DO NOTHING RETURNING value)
                 SELECT value FROM made
                 UNION ALL SELECT value FROM relay_keys WHERE name = 'thanks_link'
                 LIMIT 1",
            )
            .bind(hex::encode(rand::random::<[u8; 32]>()))
            .fetch_optional(&self.pool)
            .await
            .context("reading the fleet's link key")?;
            if let Some((key,)) = key {
                return Ok(Some(key));
            }
        }
        anyhow::bail!("the fleet's link key in relay_keys could not be read")
    }
}

/// The writer's PostgreSQL side: one connection of its own, opened on first use and again
/// after any failure.
struct PgWriteSession {
    conn: Option<PgConnection>,
    options: PgConnectOptions,
}

/// Whether the batch is one statement: only intake rows (one INSERT; a duplicate's earlier id
/// is then read), only delivery outcomes (one statement), or one claim. Such a batch needs no
/// transaction around it, since one statement is atomic and commits alone, and BEGIN and
/// COMMIT would be two more round trips (docs/scale-out.md, "Round trips").
fn one_statement(works: &[&Work]) -> bool {
    works.iter().all(|work| matches!(work, Work::Record(_)))
        || works.iter().all(|work| matches!(work, Work::Finish { .. }))
        || matches!(works, [Work::Claim { .. }])
}

/// Deadlock and serialization failures: the batch is tried again as a whole.
const RETRYABLE: [&str; 2] = ["40P01", "40001"];

#[async_trait::async_trait]
impl WriteSession for PgWriteSession {
    async fn apply(&mut self, works: &[&Work]) -> anyhow::Result<Vec<Done>> {
        let mut tries = 0;
        loop {
            if self.conn.is_none() {
                self.conn = Some(
                    self.options
                        .connect()
                        .await
                        .context("opening the log writer's PostgreSQL connection")?,
                );
            }
            let conn = self.conn.as_mut().expect("just opened");
            let result = async {
                if one_statement(works) {
                    return apply_in(&mut writes::Batch(conn), works).await;
                }
                let mut tx = conn.begin().await?;
                let done = apply_in(&mut writes::Batch(&mut tx), works).await?;
                tx.commit().await?;
                anyhow::Ok(done)
            }
            .await;
            tries += 1;
            match result {
                Err(error)
                    if tries < 3
                        && sqlstate(&error).is_some_and(|code| RETRYABLE.contains(&code.as_str())) =>
                {
                    tracing::debug!(error = %format!("{error:#}"), "batch conflicted with another relay's; trying it again");
                }
                other => return other,
            }
        }
    }

    fn reset(&mut self) {
        self.conn = None;
    }

    /// Unreachable, out of connections, read-only, disk full, shutting down.
    fn cannot_write(&self, error: &anyhow::Error) -> bool {
        match super::driver_error(error) {
            None => true,
            Some(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
                // Class 08 connection, 53 resources, 57 operator intervention, 58 system,
                // 25006 read-only transaction.
                ["08", "53", "57", "58"].contains(&&code[..2.min(code.len())]) || code == "25006"
            }),
            Some(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed,
            ) => true,
            Some(_) => false,
        }
    }
}

fn sqlstate(error: &anyhow::Error) -> Option<String> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .and_then(|e| e.as_database_error())
        .and_then(|db| db.code())
        .map(|code| code.into_owned())
}
