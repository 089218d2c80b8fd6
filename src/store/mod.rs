//! Every SQL statement the relay runs. SQLite in WAL mode: dashboards read while the
//! relay writes; every write goes through the one [`LogWriter`], reads use a small pool.

mod admin;
mod deliveries;
mod sessions;
mod submissions;
mod writer;

pub use admin::{AttemptRow, Removed, Stats, SubmissionFilter, SubmissionSummary};
pub use deliveries::{AttemptRecord, ClaimedRow, RowUpdate};
pub use sessions::SessionLog;
pub use submissions::{NewSubmission, SubmissionRow};
pub use writer::{LogWriter, RecordError, Recorded};

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection, SqlitePool};
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Shared handle to the log: a small pool for reads and delivery-state writes.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    options: SqliteConnectOptions,
}

impl Store {
    /// Opens (creating if missing) the database file, with the pragmas the log relies on.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, crate::config::Durability::Full).await
    }

    pub async fn open_with(path: &Path, durability: crate::config::Durability) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the database directory {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                crate::config::Durability::Full => SqliteSynchronous::Full,
                crate::config::Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .log_statements(tracing::log::LevelFilter::Trace);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening the database {}", path.display()))?;
        Ok(Self { pool, options })
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
    /// checkpoints the WAL itself, so commits never wait for one: [`Store::checkpoint`] does.
    pub async fn dedicated_connection(&self) -> anyhow::Result<SqliteConnection> {
        let options = self.options.clone().pragma("wal_autocheckpoint", "0");
        options
            .connect()
            .await
            .context("opening a dedicated database connection")
    }

    /// Copies committed WAL pages into the database without blocking the writer or readers.
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await
            .context("checkpointing the WAL")?;
        Ok(())
    }

    pub async fn submission(&self, id: &str) -> anyhow::Result<Option<SubmissionRow>> {
        submissions::by_id(&self.pool, id).await
    }
}

/// Proves the database takes writes (for `/readyz`).
async fn touch_heartbeat(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO relay_heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
    )
    .bind(crate::domain::now_timestamp())
    .execute(&mut *conn)
    .await
    .context("writing the heartbeat row")?;
    Ok(())
}
