//! The log: one storage contract ([`LogStore`]) and its two implementations, SQLite (the
//! embedded default, one relay per file) and PostgreSQL (any number of relays sharing one
//! database; docs/scale-out.md, "Running more than one relay"). Every write goes through the one
//! [`LogWriter`] of each process; reads and housekeeping go through the contract.

pub mod health;
mod model;
pub mod postgres;
pub mod sqlite;
mod statements;
mod writer;

pub use model::{
    AttemptRecord, AttemptRow, ClaimedRow, CountRow, Erased, ErasureTarget, HourCount, Lease, NewSubmission,
    PersonIds, QueueStats, ReasonCount, Removed, RowUpdate, SessionLog, SessionRow, SourceCount, Stats,
    SubmissionFilter, SubmissionRow, SubmissionSummary,
};
pub use postgres::PgStore;
pub use sqlite::{OpenSettings, SqliteStore};
pub use writer::{Done, LogWriter, RecordError, Recorded, Work, WriteSession};

use crate::config::{DatabaseSettings, DatabaseTarget};
use crate::domain::Status;
use crate::outbound::OutboundBudget;
use std::sync::Arc;

/// The storage contract both backends keep: the same tables, columns and rules.
#[async_trait::async_trait]
pub trait LogStore: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Brings the schema up to date. Instances that start together migrate once.
    async fn migrate(&self) -> anyhow::Result<()>;

    /// The log writer's own session (README, "How a submission flows": group commit).
    async fn write_session(
        &self,
        health: Arc<health::StorageHealth>,
    ) -> anyhow::Result<Box<dyn WriteSession>>;

    async fn submission(&self, id: &str) -> anyhow::Result<Option<SubmissionRow>>;

    /// Newest first; `before` is the cursor.
    async fn list_submissions(&self, filter: &SubmissionFilter) -> anyhow::Result<Vec<SubmissionSummary>>;

    async fn attempts_for(&self, id: &str) -> anyhow::Result<Vec<AttemptRow>>;

    /// Counts by source and status since `since`, and the queue's state now.
    async fn stats(&self, since: &str) -> anyhow::Result<Stats>;

    /// Rows waiting for delivery, and how many seconds the oldest due one has waited.
    async fn queue_stats(&self) -> anyhow::Result<QueueStats>;

    /// How many rows a claim could take now, up to `limit`: a read, so an idle relay's polls
    /// write nothing (docs/delivery.md, "The delivery loop").
    async fn due_now(&self, limit: usize) -> anyhow::Result<usize>;

    /// Claims up to `limit` due rows for `lease` beside the writer's batches, where the
    /// backend lets a claim run at the same time as other writes (PostgreSQL's row locks):
    /// then a claim never waits behind a batch of outcomes, nor turns it into a transaction.
    /// `None`: claims go through the [`LogWriter`] (SQLite has one write lock).
    async fn claim_beside_writer(
        &self,
        _limit: usize,
        _lease: std::time::Duration,
    ) -> Option<anyhow::Result<Vec<ClaimedRow>>> {
        None
    }

    /// Re-queues rows with a fresh attempt budget: by id (any row with a payload that is not
    /// delivered and not in flight) or by status (`dead`, `dry_run`). Returns how many.
    async fn replay(&self, ids: &[String], status: Option<Status>) -> anyhow::Result<u64>;

    /// Deletes rows received before `cutoff`, `batch` at a time; rows still waiting for
    /// delivery are kept.
    async fn purge_before(&self, cutoff: &str, batch: i64) -> anyhow::Result<Removed>;

    /// Deletes quarantined (`spam`) rows received before `cutoff`, `batch` at a time, each
    /// batch its own short transaction (`retention.spam_days`). Returns how many.
    async fn purge_spam_before(&self, cutoff: &str, batch: i64) -> anyhow::Result<u64> {
        let mut removed = 0;
        loop {
            let gone = self.purge_spam_batch(cutoff, batch).await?;
            removed += gone;
            if gone < batch as u64 {
                return Ok(removed);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// The quarantine's most frequent reasons since `day` (`YYYY-MM-DD`), from the rollup.
    async fn spam_reasons(&self, day: &str, limit: i64) -> anyhow::Result<Vec<ReasonCount>>;

    /// One batch of [`LogStore::purge_spam_before`].
    async fn purge_spam_batch(&self, cutoff: &str, batch: i64) -> anyhow::Result<u64>;

    /// Releases or confirms a row still in the quarantine; `false` when it is not (or no
    /// longer) there (docs/spam.md, "The quarantine").
    async fn review(&self, id: &str, review: Review<'_>, at: &str) -> anyhow::Result<bool>;

    /// Removes every row of one person from every table (docs/operations.md, "Operating it").
    async fn erase_email(&self, email: &str) -> anyhow::Result<Erased>;

    /// Per hour since `since` (`YYYY-MM-DDTHH`): submissions by status, and deliveries by latency
    /// bucket, from the hourly rollups (docs/log.md): the status page's charts.
    async fn hourly(&self, since: &str) -> anyhow::Result<(Vec<HourCount>, Vec<HourCount>)>;

    /// Submissions per source since `since` (`YYYY-MM-DDTHH`), from the hourly rollup.
    async fn sources_since(&self, since: &str) -> anyhow::Result<Vec<SourceCount>>;

    /// The ids of one person's rows, found as erasure finds them.
    async fn find_person(&self, email: &str) -> anyhow::Result<PersonIds>;

    /// Session log rows by id.
    async fn sessions(&self, ids: &[String]) -> anyhow::Result<Vec<SessionRow>>;

    /// Background upkeep between batches; SQLite copies WAL pages into the database and
    /// answers how many frames are left. `None`: nothing to do on this backend.
    async fn checkpoint(&self) -> anyhow::Result<Option<u64>>;

    /// The fleet's shared outbound budget and pause, if this backend is shared by several
    /// relays; `None`: the process keeps its own ([`crate::outbound::OutboundLimiter`]).
    fn shared_budget(&self, windows: &[(u32, std::time::Duration)]) -> Option<Arc<dyn OutboundBudget>>;

    /// The key that signs the thank-you page's back link and attachment links, kept in the
    /// log so that it outlives a restart and is shared by a fleet (made by whichever relay
    /// asks first); `None`: each process makes its own.
    async fn shared_link_key(&self) -> anyhow::Result<Option<String>> {
        Ok(None)
    }

    /// The newest dead rows, for the status page.
    async fn latest_dead(&self, limit: i64) -> anyhow::Result<Vec<SubmissionSummary>> {
        self.list_submissions(&SubmissionFilter {
            status: Some(Status::Dead.as_str().to_owned()),
            limit: Some(limit),
            ..Default::default()
        })
        .await
    }

    async fn submission_with_attempts(
        &self,
        id: &str,
    ) -> anyhow::Result<Option<(SubmissionRow, Vec<AttemptRow>)>> {
        let Some(row) = self.submission(id).await? else {
            return Ok(None);
        };
        Ok(Some((row, self.attempts_for(id).await?)))
    }
}

/// The shared handle to the log, whichever backend holds it.
pub type Store = Arc<dyn LogStore>;

/// The most rows a list answers with.
pub(crate) const MAX_LIST: i64 = 500;

/// Opens the database `[database]` names (docs/configuration.md, "Configuration": `database.url`).
pub async fn open(database: &DatabaseSettings) -> anyhow::Result<Store> {
    Ok(match database.target()? {
        DatabaseTarget::Sqlite(path) => {
            Arc::new(SqliteStore::open_with(&path, OpenSettings::of(database)).await?)
        }
        DatabaseTarget::Postgres(url) => Arc::new(PgStore::connect(&url, database.pool_size).await?),
    })
}

/// The driver's error behind `error`, if it came from the database at all: what each
/// backend's `cannot_write` classifies.
fn driver_error(error: &anyhow::Error) -> Option<&sqlx::Error> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
}

/// What an operator decided about a quarantined row.
#[derive(Debug, Clone, Copy)]
pub enum Review<'a> {
    /// Not spam: deliver it, with this payload (its permission context says it was released).
    Release(&'a str),
    /// Spam: keep it out of delivery until retention removes it.
    Confirm,
}

/// Opens and migrates (the CLI's commands and the server's start).
pub async fn open_migrated(database: &DatabaseSettings) -> anyhow::Result<Store> {
    let store = open(database).await?;
    store.migrate().await?;
    Ok(store)
}
