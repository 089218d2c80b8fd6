//! The log's one writer. SQLite has a single write lock; rather than let intake and the
//! delivery worker fight for it (and sleep in its busy handler), every write is a job for
//! this task, which owns one connection and applies whatever is waiting as one transaction:
//! group commit for intake rows (one multi-row INSERT), delivery claims and outcomes, session
//! logs and heartbeats. Each caller is answered only after its batch is on disk. Idle, a
//! batch is one job, so a lone request waits for nothing but its own fsync.

use super::deliveries::{self, AttemptRecord, ClaimedRow, RowUpdate};
use super::sessions::{self, SessionLog};
use super::submissions::{self, NewSubmission};
use super::{touch_heartbeat, Store};
use crate::domain::Status;
use crate::ops::Metrics;
use chrono::{DateTime, Utc};
use sqlx::{Connection, SqliteConnection};
use std::sync::Arc;
use std::time::Duration;
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
}

enum Work {
    Record(NewSubmission),
    Finish {
        id: String,
        attempt: Option<AttemptRecord>,
        update: RowUpdate,
    },
    Claim {
        limit: usize,
        lease: Duration,
    },
    Release {
        ids: Vec<String>,
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
    /// notified whenever rows for delivery were committed.
    pub async fn start(store: &Store, wake: Arc<Notify>, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let conn = store.dedicated_connection().await?;
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run_writer(conn, queue, wake, metrics));
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
            work: Work::Record(row),
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

    /// Records an attempt (if one was made) and the row's new state.
    pub async fn finish_attempt(
        &self,
        id: &str,
        attempt: Option<AttemptRecord>,
        update: RowUpdate,
    ) -> anyhow::Result<()> {
        self.submit(Work::Finish {
            id: id.to_owned(),
            attempt,
            update,
        })
        .await
        .map(|_| ())
    }

    /// Gives claimed rows back, due again at `at`, without using up an attempt.
    pub async fn release(&self, ids: Vec<String>, at: DateTime<Utc>) -> anyhow::Result<()> {
        self.submit(Work::Release { ids, at }).await.map(|_| ())
    }

    pub async fn log_session(&self, log: SessionLog) -> anyhow::Result<()> {
        self.submit(Work::LogSession(log)).await.map(|_| ())
    }

    /// Proves the database takes writes, through the same path intake uses.
    pub async fn heartbeat(&self) -> anyhow::Result<()> {
        self.submit(Work::Heartbeat).await.map(|_| ())
    }
}

async fn run_writer(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Job>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let deliverable = batch.iter().any(|job| match &job.work {
            Work::Record(row) => row.status == Status::Queued,
            Work::Release { .. } => true,
            _ => false,
        });
        apply_batch(&mut conn, &mut batch, &metrics).await;
        if deliverable {
            wake.notify_one();
        }
    }
    tracing::debug!("log writer stopped: every sender is gone");
}

/// Applies a batch as one transaction; if that fails, each job gets its own try, so one
/// bad job fails only its own caller. The writer's metrics count the whole of it.
async fn apply_batch(conn: &mut SqliteConnection, batch: &mut Vec<Job>, metrics: &Metrics) {
    let started = std::time::Instant::now();
    metrics.writer_batches.inc();
    metrics.writer_jobs.inc_by(batch.len() as u64);
    let works: Vec<&Work> = batch.iter().map(|job| &job.work).collect();
    let applied = apply_all(conn, &works).await;
    tracing::debug!(
        target: "talk_relay::writer",
        jobs = works.len(),
        records = works.iter().filter(|w| matches!(w, Work::Record(_))).count(),
        finishes = works.iter().filter(|w| matches!(w, Work::Finish { .. })).count(),
        micros = started.elapsed().as_micros() as u64,
        "batch committed"
    );
    match applied {
        Ok(done) => {
            for (job, done) in batch.drain(..).zip(done) {
                let _ = job.reply.send(Ok(done));
            }
        }
        Err(batch_error) => {
            tracing::warn!(error = %format!("{batch_error:#}"), jobs = batch.len(), "batch failed; retrying its jobs one by one");
            for job in batch.drain(..) {
                let single = apply_all(conn, &[&job.work]).await.map(|mut done| done.remove(0));
                let _ = job.reply.send(single);
            }
        }
    }
    metrics
        .writer_busy_seconds
        .inc_by(started.elapsed().as_secs_f64());
}

async fn apply_all(conn: &mut SqliteConnection, works: &[&Work]) -> anyhow::Result<Vec<Done>> {
    let mut tx = conn.begin().await?;
    let rows: Vec<&NewSubmission> = works
        .iter()
        .filter_map(|work| {
            if let Work::Record(row) = work {
                Some(row)
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
            Work::Finish { id, attempt, update } => Some(deliveries::Finish {
                id,
                attempt: attempt.as_ref(),
                update,
            }),
            _ => None,
        })
        .collect();
    if !finishes.is_empty() {
        deliveries::finish_many(&mut tx, &finishes).await?;
    }
    let mut done = Vec::with_capacity(works.len());
    for work in works {
        done.push(match work {
            Work::Record(_) => Done::Recorded(recorded.next().expect("one answer per row")),
            Work::Finish { .. } => Done::Applied,
            Work::Claim { limit, lease } => {
                Done::Claimed(deliveries::claim_due(&mut tx, *limit, *lease).await?)
            }
            Work::Release { ids, at } => {
                deliveries::release(&mut tx, ids, *at).await?;
                Done::Applied
            }
            Work::LogSession(log) => {
                sessions::insert_session_log(&mut tx, log).await?;
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
