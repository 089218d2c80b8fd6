//! The log's one writer. SQLite has a single write lock; rather than let intake and the
//! delivery worker fight for it (and sleep in its busy handler), every write is a job for
//! this task, which owns one connection and applies whatever is waiting as one transaction:
//! group commit for intake rows (one multi-row INSERT), delivery claims and outcomes, session
//! logs and heartbeats. Each caller is answered only after its batch is on disk. Idle, a
//! batch is one job, so a lone request waits for nothing but its own fsync.

use super::deliveries::{self, AttemptRecord, ClaimedRow, Lease, RowUpdate};
use super::health::StorageHealth;
use super::session_log::{self, SessionLog};
use super::submissions::{self, NewSubmission};
use super::wal::IDLE;
use super::{touch_heartbeat, Store};
use crate::domain::Status;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use sqlx::{Connection, SqliteConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

const MAX_BATCH: usize = 64;
const QUEUE_DEPTH: usize = 4096;

/// How a record request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Committed under this id.
    New(String),
    /// The idempotency key was seen before; this is the first submission's id.
    Duplicate(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the submission could not be committed")]
    Failed(#[source] anyhow::Error),
    #[error("the log writer has stopped")]
    Stopped,
    /// Refused before writing: too little disk, or the database file is gone.
    #[error("{0}")]
    Refused(String),
}

enum Work {
    Record(Box<NewSubmission>),
    Finish {
        lease: Lease,
        attempt: Option<AttemptRecord>,
        update: RowUpdate,
    },
    Claim {
        limit: usize,
        lease: Duration,
    },
    Release {
        leases: Vec<Lease>,
        at: DateTime<Utc>,
    },
    LogSession(SessionLog),
    Heartbeat,
}

enum Done {
    Recorded(Recorded),
    Claimed(Vec<ClaimedRow>),
    Applied,
}

struct Job {
    work: Work,
    reply: oneshot::Sender<anyhow::Result<Done>>,
}

/// The one door through which the relay writes its log.
#[derive(Clone)]
pub struct LogWriter {
    jobs: mpsc::Sender<Job>,
}

impl LogWriter {
    /// Starts the writer on the current runtime with a connection of its own; `wake` is
    /// notified whenever rows for delivery were committed, and `health` hears every outcome.
    pub async fn start(
        store: &Store,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
        health: Arc<StorageHealth>,
    ) -> anyhow::Result<Self> {
        let conn = store.dedicated_connection().await?;
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        let writer = Writer {
            store: store.clone(),
            conn: Some(conn),
            metrics,
            health,
            last_blocked_truncate: None,
            wal_seen: (0, Instant::now()),
        };
        tokio::spawn(writer.run(queue, wake));
        Ok(Self { jobs })
    }

    async fn submit(&self, work: Work) -> anyhow::Result<Done> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { work, reply })
            .await
            .map_err(|_| anyhow::anyhow!("the log writer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the log writer has stopped"))?
    }

    /// Returns once the row is committed to disk (or known to be a duplicate).
    pub async fn record(&self, row: NewSubmission) -> Result<Recorded, RecordError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            work: Work::Record(Box::new(row)),
            reply,
        };
        self.jobs.send(job).await.map_err(|_| RecordError::Stopped)?;
        match answer.await.map_err(|_| RecordError::Stopped)? {
            Ok(Done::Recorded(recorded)) => Ok(recorded),
            Ok(_) => unreachable!("a record job answers Recorded"),
            Err(error) => Err(RecordError::Failed(error)),
        }
    }

    /// Claims up to `limit` due rows for `lease`.
    pub async fn claim_due(&self, limit: usize, lease: Duration) -> anyhow::Result<Vec<ClaimedRow>> {
        match self.submit(Work::Claim { limit, lease }).await? {
            Done::Claimed(rows) => Ok(rows),
            _ => unreachable!("a claim job answers Claimed"),
        }
    }

    /// Records an attempt (if one was made) and, while `lease` still holds, the row's new state.
    pub async fn finish_attempt(
        &self,
        lease: Lease,
        attempt: Option<AttemptRecord>,
        update: RowUpdate,
    ) -> anyhow::Result<()> {
        self.submit(Work::Finish {
            lease,
            attempt,
            update,
        })
        .await
        .map(|_| ())
    }

    /// Gives claimed rows back, due again at `at`, without using up an attempt.
    pub async fn release(&self, leases: Vec<Lease>, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.submit(Work::Release { leases, at }).await.map(|_| ())
    }

    pub async fn log_session(&self, log: SessionLog) -> anyhow::Result<()> {
        self.submit(Work::LogSession(log)).await.map(|_| ())
    }

    /// Proves the database takes writes, through the same path intake uses.
    pub async fn heartbeat(&self) -> anyhow::Result<()> {
        self.submit(Work::Heartbeat).await.map(|_| ())
    }
}

/// The writer task's own state: its connection (reopened after any failed write, so the
/// next batch never starts inside a transaction SQLite rolled back on its own) and the
/// health it reports to.
pub(super) struct Writer {
    pub(super) store: Store,
    pub(super) conn: Option<SqliteConnection>,
    metrics: Arc<Metrics>,
    pub(super) health: Arc<StorageHealth>,
    /// When a reader last blocked a truncation (the next try waits a little).
    pub(super) last_blocked_truncate: Option<Instant>,
    /// The WAL's size when last measured, and since when it has been that size.
    pub(super) wal_seen: (u64, Instant),
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>, wake: Arc<Notify>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            match tokio::time::timeout(IDLE, queue.recv_many(&mut batch, MAX_BATCH)).await {
                Err(_idle) => {
                    self.bound_wal().await;
                    continue;
                }
                Ok(0) => break,
                Ok(_) => {}
            }
            let deliverable = batch.iter().any(|job| match &job.work {
                Work::Record(row) => row.status == Status::Queued,
                Work::Release { .. } => true,
                _ => false,
            });
            let committed = self.apply_batch(&mut batch).await;
            if deliverable && committed {
                wake.notify_one();
            }
            self.bound_wal().await;
        }
        tracing::debug!("log writer stopped: every sender is gone");
    }

    /// The connection, reopened if a failure dropped it.
    pub(super) async fn connection(&mut self) -> anyhow::Result<&mut SqliteConnection> {
        if self.conn.is_none() {
            self.conn = Some(self.store.dedicated_connection().await?);
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }

    async fn try_apply(&mut self, works: &[&Work]) -> anyhow::Result<Vec<Done>> {
        if let Some(problem) = self.health.file_problem() {
            anyhow::bail!(problem);
        }
        let result = match self.connection().await {
            Ok(conn) => apply_all(conn, works).await,
            Err(error) => Err(error),
        };
        match &result {
            // Only a submission or the padded probe proves there is room for submissions.
            Ok(_)
                if works
                    .iter()
                    .any(|w| matches!(w, Work::Record(_) | Work::Heartbeat)) =>
            {
                self.health.write_succeeded()
            }
            Ok(_) => {}
            // Back to a known state: whatever SQLite did with the failed transaction, the
            // next write starts on a fresh connection, outside any transaction.
            Err(_) => self.conn = None,
        }
        result
    }

    /// Applies a batch as one transaction. If that fails because the database cannot take
    /// writes (full, locked, I/O, gone), every job in it fails at once; otherwise each job
    /// gets its own try, so one bad job fails only its own caller. Returns whether anything
    /// was committed. The writer's metrics count the whole of it.
    async fn apply_batch(&mut self, batch: &mut Vec<Job>) -> bool {
        let started = Instant::now();
        self.metrics.writer_batches.inc();
        self.metrics.writer_jobs.inc_by(batch.len() as u64);
        let works: Vec<&Work> = batch.iter().map(|job| &job.work).collect();
        let applied = self.try_apply(&works).await;
        tracing::debug!(
            target: "talk_relay::writer",
            jobs = works.len(),
            records = works.iter().filter(|w| matches!(w, Work::Record(_))).count(),
            finishes = works.iter().filter(|w| matches!(w, Work::Finish { .. })).count(),
            micros = started.elapsed().as_micros() as u64,
            "batch committed"
        );
        let committed = match applied {
            Ok(done) => {
                for (job, done) in batch.drain(..).zip(done) {
                    let _ = job.reply.send(Ok(done));
                }
                true
            }
            Err(batch_error) if cannot_write(&batch_error) => {
                let reason = format!("{batch_error:#}");
                self.health.write_failed(&reason);
                for job in batch.drain(..) {
                    let _ = job
                        .reply
                        .send(Err(anyhow::anyhow!("the database cannot take writes: {reason}")));
                }
                false
            }
            Err(batch_error) => {
                tracing::warn!(error = %format!("{batch_error:#}"), jobs = batch.len(), "batch failed; retrying its jobs one by one");
                let mut any = false;
                for job in batch.drain(..) {
                    let single = self.try_apply(&[&job.work]).await.map(|mut done| done.remove(0));
                    match (&single, &job.work) {
                        (Ok(_), _) => any = true,
                        (Err(error), Work::Heartbeat) => self.health.write_failed(&format!("{error:#}")),
                        _ => {}
                    }
                    let _ = job.reply.send(single);
                }
                any
            }
        };
        self.metrics
            .writer_busy_seconds
            .inc_by(started.elapsed().as_secs_f64());
        committed
    }
}

/// Whether an error says the database cannot take writes at all (rather than refusing one
/// job's data): busy or locked past the busy timeout, full, I/O, read-only, gone, corrupt.
fn cannot_write(error: &anyhow::Error) -> bool {
    match error
        .chain()
        .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
    {
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
async fn apply_all(conn: &mut SqliteConnection, works: &[&Work]) -> anyhow::Result<Vec<Done>> {
    let mut tx = conn.begin().await?;
    let rows: Vec<&NewSubmission> = works
        .iter()
        .filter_map(|work| {
            if let Work::Record(row) = work {
                Some(row.as_ref())
            } else {
                None
            }
        })
        .collect();
    let mut recorded = if rows.is_empty() {
        Vec::new()
    } else {
        submissions::insert_many(&mut tx, &rows).await?
    }
    .into_iter()
    .map(|(id, new)| {
        if new {
            Recorded::New(id)
        } else {
            Recorded::Duplicate(id)
        }
    });
    // Every delivery outcome in the batch, in two statements.
    let finishes: Vec<deliveries::Finish<'_>> = works
        .iter()
        .filter_map(|work| match work {
            Work::Finish {
                lease,
                attempt,
                update,
            } => Some(deliveries::Finish {
                lease,
                attempt: attempt.as_ref(),
                update,
            }),
            _ => None,
        })
        .collect();
    if !finishes.is_empty() {
        let fenced = deliveries::finish_many(&mut tx, &finishes).await?;
        if fenced > 0 {
            tracing::warn!(
                outcomes = fenced,
                "delivery outcomes not applied: the lease expired and another claim holds the row"
            );
        }
    }
    let mut done = Vec::with_capacity(works.len());
    for work in works {
        done.push(match work {
            Work::Record(_) => Done::Recorded(recorded.next().expect("one answer per row")),
            Work::Finish { .. } => Done::Applied,
            Work::Claim { limit, lease } => {
                Done::Claimed(deliveries::claim_due(&mut tx, *limit, *lease).await?)
            }
            Work::Release { leases, at } => {
                deliveries::release(&mut tx, leases, *at).await?;
                Done::Applied
            }
            Work::LogSession(log) => {
                session_log::insert_session_log(&mut tx, log).await?;
                Done::Applied
            }
            Work::Heartbeat => {
                touch_heartbeat(&mut tx).await?;
                Done::Applied
            }
        });
    }
    tx.commit().await?;
    Ok(done)
}
