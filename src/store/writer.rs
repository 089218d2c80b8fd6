//! The log's one writer per process. Rather than let intake and the delivery worker fight
//! for the database (SQLite has a single write lock; PostgreSQL pays a commit per
//! transaction), every write is a job for this task, which applies whatever is waiting as
//! one transaction through its backend's [`WriteSession`]: group commit for intake rows,
//! delivery claims and outcomes, session logs and heartbeats. Each caller is answered only
//! after its batch is committed. Idle, a batch is one job, so a lone request waits for
//! nothing but its own commit.

use super::health::StorageHealth;
use super::model::{AttemptRecord, ClaimedRow, Lease, NewSubmission, RowUpdate, SessionLog};
use super::Store;
use crate::domain::Status;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

const MAX_BATCH: usize = 64;
const QUEUE_DEPTH: usize = 4096;
/// With no job for this long the session's upkeep runs anyway (SQLite shrinks an idle WAL).
const IDLE: Duration = Duration::from_secs(1);

/// How a record request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Committed under this id.
    New(String),
    /// The idempotency key was seen before; this is the first submission's id.
    Duplicate(String),
}

impl Recorded {
    /// The row's id, new or the one a duplicate matched.
    pub fn id(&self) -> &str {
        match self {
            Self::New(id) | Self::Duplicate(id) => id,
        }
    }
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

/// One job for the writer. Public for the backends' [`WriteSession`]s.
pub enum Work {
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

/// What a job answers, in the order of the jobs.
pub enum Done {
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
    /// The log itself, for claims a backend takes beside the writer (PostgreSQL).
    store: Store,
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
        let session = store.write_session(health.clone()).await?;
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        let writer = Writer {
            session,
            metrics,
            health,
        };
        tokio::spawn(writer.run(queue, wake));
        Ok(Self {
            jobs,
            store: store.clone(),
        })
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

    /// Claims up to `limit` due rows for `lease`: beside the batches where the backend allows
    /// it ([`super::LogStore::claim_beside_writer`]), else as a job of this writer.
    pub async fn claim_due(&self, limit: usize, lease: Duration) -> anyhow::Result<Vec<ClaimedRow>> {
        if let Some(claimed) = self.store.claim_beside_writer(limit, lease).await {
            return claimed;
        }
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

/// A backend's side of the writer: one connection of its own.
#[async_trait::async_trait]
pub trait WriteSession: Send {
    /// Applies `works` as one transaction; one answer per work, in order.
    async fn apply(&mut self, works: &[&Work]) -> anyhow::Result<Vec<Done>>;

    /// After a failed apply: back to a known state (a fresh connection, outside any
    /// transaction) before the next batch.
    fn reset(&mut self);

    /// Whether `error` says the database takes no writes at all (full, locked, gone,
    /// unreachable), rather than refusing one job's data.
    fn cannot_write(&self, error: &anyhow::Error) -> bool;

    /// Runs between batches and every idle second.
    async fn upkeep(&mut self) {}
}

/// The writer task's own state: its backend session and the health it reports to.
struct Writer {
    session: Box<dyn WriteSession>,
    metrics: Arc<Metrics>,
    health: Arc<StorageHealth>,
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>, wake: Arc<Notify>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            match tokio::time::timeout(IDLE, queue.recv_many(&mut batch, MAX_BATCH)).await {
                Err(_idle) => {
                    self.session.upkeep().await;
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
            self.session.upkeep().await;
        }
        tracing::debug!("log writer stopped: every sender is gone");
    }

    async fn try_apply(&mut self, works: &[&Work]) -> anyhow::Result<Vec<Done>> {
        if let Some(problem) = self.health.file_problem() {
            anyhow::bail!(problem);
        }
        let result = self.session.apply(works).await;
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
            Err(_) => self.session.reset(),
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
            Err(batch_error) if self.session.cannot_write(&batch_error) => {
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

/// The statements a batch is made of, run inside the session's open transaction. Each
/// backend writes them in its own SQL; [`apply_in`] puts a batch together the same way for both.
#[async_trait::async_trait]
pub trait BatchStatements: Send {
    /// One multi-row INSERT; per row, the id it is stored under (the first row's for a
    /// duplicate idempotency key) and whether it is new. Rollups are counted per batch.
    async fn insert_many(&mut self, rows: &[&NewSubmission]) -> anyhow::Result<Vec<(String, bool)>>;
    /// Records every outcome: attempts always, row changes only under the claim's token.
    /// Answers how many outcomes found their claim gone.
    async fn finish_many(&mut self, finishes: &[Finish<'_>]) -> anyhow::Result<usize>;
    async fn claim_due(&mut self, limit: usize, lease: Duration) -> anyhow::Result<Vec<ClaimedRow>>;
    async fn release(&mut self, leases: &[Lease], at: DateTime<Utc>) -> anyhow::Result<()>;
    async fn log_session(&mut self, log: &SessionLog) -> anyhow::Result<()>;
    /// Proves the database takes writes (for `/readyz`).
    async fn heartbeat(&mut self) -> anyhow::Result<()>;
}

/// One delivery outcome to record: the row's claim, the attempt made (none for a dry run or
/// a local rejection) and the row's new state.
pub struct Finish<'a> {
    pub lease: &'a Lease,
    pub attempt: Option<&'a AttemptRecord>,
    pub update: &'a RowUpdate,
}

impl Finish<'_> {
    /// Whether the attempt used up one of the row's tries (`attempts` + 1): one was made, and
    /// it was not a retry that does not count.
    pub fn uses_a_try(&self) -> bool {
        self.attempt.is_some() && !matches!(self.update, RowUpdate::RetryAt { counts: false, .. })
    }
}

/// Applies a batch through `tx` (inside one transaction the caller commits): all intake rows
/// in one INSERT, all outcomes in two statements, then the rest in order.
pub async fn apply_in<T: BatchStatements>(tx: &mut T, works: &[&Work]) -> anyhow::Result<Vec<Done>> {
    let mut recorded = record_all(tx, works).await?.into_iter();
    finish_all(tx, works).await?;
    let mut done = Vec::with_capacity(works.len());
    for work in works {
        done.push(match work {
            Work::Record(_) => Done::Recorded(recorded.next().expect("one answer per row")),
            Work::Finish { .. } => Done::Applied,
            Work::Claim { limit, lease } => Done::Claimed(tx.claim_due(*limit, *lease).await?),
            Work::Release { leases, at } => {
                tx.release(leases, *at).await?;
                Done::Applied
            }
            Work::LogSession(log) => {
                tx.log_session(log).await?;
                Done::Applied
            }
            Work::Heartbeat => {
                tx.heartbeat().await?;
                Done::Applied
            }
        });
    }
    Ok(done)
}

/// Every intake row of the batch in one INSERT, each answered new or duplicate.
async fn record_all<T: BatchStatements>(tx: &mut T, works: &[&Work]) -> anyhow::Result<Vec<Recorded>> {
    let rows: Vec<&NewSubmission> = works
        .iter()
        .filter_map(|work| match work {
            Work::Record(row) => Some(row.as_ref()),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let answers = tx.insert_many(&rows).await?;
    Ok(answers
        .into_iter()
        .map(|(id, new)| {
            if new {
                Recorded::New(id)
            } else {
                Recorded::Duplicate(id)
            }
        })
        .collect())
}

/// Every delivery outcome of the batch in two statements, fenced by the claim's token.
async fn finish_all<T: BatchStatements>(tx: &mut T, works: &[&Work]) -> anyhow::Result<()> {
    let finishes: Vec<Finish<'_>> = works
        .iter()
        .filter_map(|work| match work {
            Work::Finish {
                lease,
                attempt,
                update,
            } => Some(Finish {
                lease,
                attempt: attempt.as_ref(),
                update,
            }),
            _ => None,
        })
        .collect();
    if finishes.is_empty() {
        return Ok(());
    }
    let fenced = tx.finish_many(&finishes).await?;
    if fenced > 0 {
        tracing::warn!(
            outcomes = fenced,
            "delivery outcomes not applied: the lease expired and another claim holds the row"
        );
    }
    Ok(())
}
