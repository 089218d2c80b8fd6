//! The embedded backend: one SQLite file in WAL mode, one relay per file. Dashboards read
//! while the relay writes; every write goes through the process's one writer session, reads
//! use a small pool.

mod admin;
mod deliveries;
mod session_log;
mod submissions;
mod wal;

use super::health::{StorageHealth, WalStamp};
use super::writer::{apply_in, BatchStatements, Done, Finish, Work, WriteSession};
use super::{
    AttemptRow, ClaimedRow, Erased, Lease, LogStore, NewSubmission, QueueStats, ReasonCount, Removed,
    SessionLog, Stats, SubmissionFilter, SubmissionRow, SubmissionSummary,
};
use crate::domain::Status;
use crate::outbound::OutboundBudget;
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection, SqlitePool};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A SQLite log: a small pool for reads and housekeeping.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    options: SqliteConnectOptions,
    busy_timeout: Duration,
}

/// How the log's connections are opened (from `[database]`).
#[derive(Debug, Clone, Copy)]
pub struct OpenSettings {
    pub durability: crate::config::Durability,
    pub busy_timeout: Duration,
    /// The WAL is truncated to this size whenever SQLite restarts it.
    pub max_wal_bytes: u64,
    /// Fault injection for tests (0 = no cap).
    pub max_page_count: u64,
}

impl Default for OpenSettings {
    fn default() -> Self {
        Self {
            durability: crate::config::Durability::Full,
            busy_timeout: Duration::from_secs(5),
            max_wal_bytes: 64 * crate::config::MB,
            max_page_count: 0,
        }
    }
}

impl OpenSettings {
    pub fn of(database: &crate::config::DatabaseSettings) -> Self {
        Self {
            durability: database.synchronous,
            busy_timeout: Duration::from_millis(database.busy_timeout_ms),
            max_wal_bytes: database.max_wal_bytes(),
            max_page_count: database.max_page_count,
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file, with the pragmas the log relies on.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, OpenSettings::default()).await
    }

    pub async fn open_with(path: &Path, settings: OpenSettings) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the database directory {}", dir.display()))?;
        }
        let mut options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match settings.durability {
                crate::config::Durability::Full => SqliteSynchronous::Full,
                crate::config::Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(settings.busy_timeout)
            .foreign_keys(true)
            .pragma("journal_size_limit", settings.max_wal_bytes.to_string())
            .log_statements(tracing::log::LevelFilter::Trace);
        if settings.max_page_count > 0 {
            options = options.pragma("max_page_count", settings.max_page_count.to_string());
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening the database {}", path.display()))?;
        Ok(Self {
            pool,
            options,
            busy_timeout: settings.busy_timeout,
        })
    }

    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("running database migrations")
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A connection of its own, outside the pool (the log writer owns one). It never
    /// checkpoints the WAL on commit, so commits never wait for one: the background
    /// checkpoint does, and the writer truncates the WAL between batches. It never creates
    /// the file: a database deleted under a running relay stays an error, not a new empty file.
    pub async fn dedicated_connection(&self) -> anyhow::Result<SqliteConnection> {
        let options = self
            .options
            .clone()
            .create_if_missing(false)
            .pragma("wal_autocheckpoint", "0");
        options
            .connect()
            .await
            .context("opening a dedicated database connection")
    }

    pub async fn submission(&self, id: &str) -> anyhow::Result<Option<SubmissionRow>> {
        submissions::by_id(&self.pool, id).await
    }
}

#[async_trait::async_trait]
impl LogStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        SqliteStore::migrate(self).await
    }

    async fn write_session(&self, health: Arc<StorageHealth>) -> anyhow::Result<Box<dyn WriteSession>> {
        Ok(Box::new(SqliteWriteSession {
            conn: Some(self.dedicated_connection().await?),
            store: self.clone(),
            health,
            last_blocked_truncate: None,
            wal_seen: ((0, None), Instant::now()),
            restarted: None,
        }))
    }

    async fn submission(&self, id: &str) -> anyhow::Result<Option<SubmissionRow>> {
        SqliteStore::submission(self, id).await
    }

    async fn list_submissions(&self, filter: &SubmissionFilter) -> anyhow::Result<Vec<SubmissionSummary>> {
        SqliteStore::list_submissions(self, filter).await
    }

    async fn attempts_for(&self, id: &str) -> anyhow::Result<Vec<AttemptRow>> {
        SqliteStore::attempts_for(self, id).await
    }

    async fn stats(&self, since: &str) -> anyhow::Result<Stats> {
        SqliteStore::stats(self, since).await
    }

    async fn queue_stats(&self) -> anyhow::Result<QueueStats> {
        SqliteStore::queue_stats(self).await
    }

    async fn due_now(&self, limit: usize) -> anyhow::Result<usize> {
        SqliteStore::due_now(self, limit).await
    }

    async fn replay(&self, ids: &[String], status: Option<Status>) -> anyhow::Result<u64> {
        SqliteStore::replay(self, ids, status).await
    }

    async fn spam_reasons(&self, day: &str, limit: i64) -> anyhow::Result<Vec<ReasonCount>> {
        let mut query = super::statements::spam_reasons::<sqlx::Sqlite>(day, limit);
        let found = query.build_query_as().fetch_all(self.pool()).await;
        found.context("reading the quarantine's reasons")
    }

    async fn purge_spam_batch(&self, cutoff: &str, batch: i64) -> anyhow::Result<u64> {
        let mut query = super::statements::purge_spam::<sqlx::Sqlite>(cutoff, batch);
        let done = query.build().execute(self.pool()).await;
        Ok(done.context("purging quarantined submissions")?.rows_affected())
    }

    async fn review(&self, id: &str, review: super::Review<'_>, at: &str) -> anyhow::Result<bool> {
        let mut query = super::statements::review::<sqlx::Sqlite>(id, review, at);
        let done = query.build().execute(self.pool()).await;
        Ok(done
            .context("reviewing a quarantined submission")?
            .rows_affected()
            == 1)
    }

    async fn purge_before(&self, cutoff: &str, batch: i64) -> anyhow::Result<Removed> {
        SqliteStore::purge_before(self, cutoff, batch).await
    }

    async fn erase_email(&self, email: &str) -> anyhow::Result<Erased> {
        SqliteStore::erase_email(self, email).await
    }

    async fn hourly(&self, since: &str) -> anyhow::Result<(Vec<super::HourCount>, Vec<super::HourCount>)> {
        let mut statuses = super::statements::hourly::<sqlx::Sqlite>("status_rollup_hourly", "status", since);
        let mut latency =
            super::statements::hourly::<sqlx::Sqlite>("delivery_latency_hourly", "le_seconds", since);
        Ok((
            statuses
                .build_query_as()
                .fetch_all(self.pool())
                .await
                .context("reading the hourly status rollup")?,
            latency
                .build_query_as()
                .fetch_all(self.pool())
                .await
                .context("reading the hourly latency rollup")?,
        ))
    }

    async fn sources_since(&self, since: &str) -> anyhow::Result<Vec<super::SourceCount>> {
        let mut query = super::statements::sources_since::<sqlx::Sqlite>(since);
        query
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .context("reading the hourly source rollup")
    }

    async fn find_person(&self, email: &str) -> anyhow::Result<super::PersonIds> {
        SqliteStore::find_person(self, email).await
    }

    async fn sessions(&self, ids: &[String]) -> anyhow::Result<Vec<super::SessionRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = super::statements::sessions_by_id::<sqlx::Sqlite>(ids);
        query
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .context("reading session logs")
    }

    /// Copies committed WAL pages into the database without blocking the writer or readers.
    /// Answers how many WAL frames are still not copied into the database.
    async fn checkpoint(&self) -> anyhow::Result<Option<u64>> {
        let (_, log, done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await
            .context("checkpointing the WAL")?;
        Ok(Some(u64::try_from(log - done).unwrap_or(0)))
    }

    async fn shared_link_key(&self) -> anyhow::Result<Option<String>> {
        sqlx::query("INSERT OR IGNORE INTO relay_keys (name, value) VALUES ('thanks_link', ?)")
            .bind(hex::encode(rand::random::<[u8; 32]>()))
            .execute(self.pool())
            .await
            .context("making the relay's link key")?;
        let (key,): (String,) = sqlx::query_as("SELECT value FROM relay_keys WHERE name = 'thanks_link'")
            .fetch_one(self.pool())
            .await
            .context("reading the relay's link key")?;
        Ok(Some(key))
    }

    /// One process per file: the in-process limiter is the whole budget.
    fn shared_budget(&self, _windows: &[(u32, Duration)]) -> Option<Arc<dyn OutboundBudget>> {
        None
    }
}

/// The writer's SQLite side: its own connection (reopened after any failed write, so the
/// next batch never starts inside a transaction SQLite rolled back on its own) and the
/// WAL's bound.
pub(super) struct SqliteWriteSession {
    store: SqliteStore,
    conn: Option<SqliteConnection>,
    health: Arc<StorageHealth>,
    /// When a reader last blocked a truncation (the next try waits a little).
    last_blocked_truncate: Option<Instant>,
    /// The WAL file's size and modification time when last looked at, and since when it
    /// has been so.
    wal_seen: (WalStamp, Instant),
    /// The WAL file's stamp right after the writer last restarted it.
    restarted: Option<WalStamp>,
}

impl SqliteWriteSession {
    /// The connection, reopened if a failure dropped it.
    async fn connection(&mut self) -> anyhow::Result<&mut SqliteConnection> {
        if self.conn.is_none() {
            self.conn = Some(self.store.dedicated_connection().await?);
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }
}

#[async_trait::async_trait]
impl WriteSession for SqliteWriteSession {
    async fn apply(&mut self, works: &[&Work]) -> anyhow::Result<Vec<Done>> {
        let conn = self.connection().await?;
        let mut tx = conn.begin().await?;
        let done = apply_in(&mut Batch(&mut tx), works).await?;
        tx.commit().await?;
        Ok(done)
    }

    fn reset(&mut self) {
        self.conn = None;
    }

    /// Busy or locked past the busy timeout, full, I/O, read-only, gone, corrupt.
    fn cannot_write(&self, error: &anyhow::Error) -> bool {
        match super::driver_error(error) {
            // Not from SQLite: the file is missing or was replaced.
            None => true,
            Some(sqlx::Error::Database(db)) => db
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 7 | 8 | 10 | 11 | 13 | 14 | 26)),
            Some(sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed | sqlx::Error::PoolTimedOut) => true,
            Some(_) => false,
        }
    }

    async fn upkeep(&mut self) {
        self.bound_wal().await;
    }
}

/// A batch's statements on the writer's open transaction.
struct Batch<'c>(&'c mut SqliteConnection);

#[async_trait::async_trait]
impl BatchStatements for Batch<'_> {
    async fn insert_many(&mut self, rows: &[&NewSubmission]) -> anyhow::Result<Vec<(String, bool)>> {
        submissions::insert_many(self.0, rows).await
    }

    async fn finish_many(&mut self, finishes: &[Finish<'_>]) -> anyhow::Result<usize> {
        deliveries::finish_many(self.0, finishes).await
    }

    async fn claim_due(&mut self, limit: usize, lease: Duration) -> anyhow::Result<Vec<ClaimedRow>> {
        deliveries::claim_due(self.0, limit, lease).await
    }

    async fn release(&mut self, leases: &[Lease], at: DateTime<Utc>) -> anyhow::Result<()> {
        deliveries::release(self.0, leases, at).await
    }

    async fn log_session(&mut self, log: &SessionLog) -> anyhow::Result<()> {
        session_log::insert_session_log(self.0, log).await
    }

    /// A 64 KB probe, larger than any submission row, so a disk too full for submissions
    /// fails it too.
    async fn heartbeat(&mut self) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO relay_heartbeat (id, at, probe) VALUES (1, ?, randomblob(65536))
             ON CONFLICT (id) DO UPDATE SET at = excluded.at, probe = excluded.probe",
        )
        .bind(crate::domain::now_timestamp())
        .execute(&mut *self.0)
        .await
        .context("writing the heartbeat row")?;
        Ok(())
    }
}
