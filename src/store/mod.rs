//! Every SQL statement the relay runs. SQLite in WAL mode: dashboards read while the
//! relay writes; every write goes through the one [`LogWriter`], reads use a small pool.

mod admin;
mod deliveries;
pub mod health;
mod session_log;
mod submissions;
mod wal;
mod writer;

pub use admin::{AttemptRow, Erased, Removed, Stats, SubmissionFilter, SubmissionSummary};
pub use deliveries::{AttemptRecord, ClaimedRow, Lease, RowUpdate};
pub use session_log::SessionLog;
pub use submissions::{NewSubmission, SubmissionRow};
pub use writer::{LogWriter, RecordError, Recorded};

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection, SqlitePool};
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Shared handle to the log: a small pool for reads and delivery-state writes.
#[derive(Clone)]
pub struct Store {
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
            max_wal_bytes: 64 << 20,
            max_page_count: 0,
        }
    }
}

impl OpenSettings {
    pub fn of(database: &crate::config::DatabaseSettings) -> Self {
        Self {
            durability: database.synchronous,
            busy_timeout: Duration::from_millis(database.busy_timeout_ms),
            max_wal_bytes: database.max_wal_mb << 20,
            max_page_count: database.max_page_count,
        }
    }
}

impl Store {
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
    /// checkpoints the WAL on commit, so commits never wait for one: [`Store::checkpoint`]
    /// does, and the writer truncates the WAL between batches. It never creates the file:
    /// a database deleted under a running relay stays an error, not a new empty file.
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

    /// Copies committed WAL pages into the database without blocking the writer or readers.
    /// Answers how many WAL frames are still not copied into the database.
    pub async fn checkpoint(&self) -> anyhow::Result<u64> {
        let (_, log, done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await
            .context("checkpointing the WAL")?;
        Ok(u64::try_from(log - done).unwrap_or(0))
    }

    pub async fn submission(&self, id: &str) -> anyhow::Result<Option<SubmissionRow>> {
        submissions::by_id(&self.pool, id).await
    }
}

/// Proves the database takes writes (for `/readyz`): a 64 KB probe, larger than any
/// submission row, so a disk too full for submissions fails it too.
async fn touch_heartbeat(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO relay_heartbeat (id, at, probe) VALUES (1, ?, randomblob(65536))
         ON CONFLICT (id) DO UPDATE SET at = excluded.at, probe = excluded.probe",
    )
    .bind(crate::domain::now_timestamp())
    .execute(&mut *conn)
    .await
    .context("writing the heartbeat row")?;
    Ok(())
}
