//! Group commit: one writer task owns a connection and commits whatever intake rows are
//! waiting as one transaction, answering each request only after its batch is on disk.
//! Idle, a batch is one row, so a lone request waits for nothing but its own fsync.

use super::submissions::{self, NewSubmission};
use super::Store;
use crate::domain::Status;
use sqlx::{Connection, SqliteConnection};
use std::sync::Arc;
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
    #[error("the recorder has stopped")]
    Stopped,
}

struct Job {
    row: NewSubmission,
    reply: oneshot::Sender<Result<Recorded, RecordError>>,
}

/// The one door through which request handlers write submissions.
#[derive(Clone)]
pub struct Recorder {
    jobs: mpsc::Sender<Job>,
}

impl Recorder {
    /// Starts the writer on the current runtime with a connection of its own; `wake`
    /// is notified whenever rows for delivery were committed.
    pub async fn start(store: &Store, wake: Arc<Notify>) -> anyhow::Result<Self> {
        let conn = store.dedicated_connection().await?;
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run_writer(conn, queue, wake));
        Ok(Self { jobs })
    }

    /// Returns once the row is committed to disk (or known to be a duplicate).
    pub async fn record(&self, row: NewSubmission) -> Result<Recorded, RecordError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { row, reply })
            .await
            .map_err(|_| RecordError::Stopped)?;
        answer.await.map_err(|_| RecordError::Stopped)?
    }
}

async fn run_writer(mut conn: SqliteConnection, mut queue: mpsc::Receiver<Job>, wake: Arc<Notify>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let deliverable = batch.iter().any(|job| job.row.status == Status::Queued);
        commit_batch(&mut conn, &mut batch).await;
        if deliverable {
            wake.notify_one();
        }
    }
    tracing::debug!("recorder stopped: every sender is gone");
}

/// Commits a batch as one transaction; if that fails, each row gets its own try so
/// one bad row fails only its own request.
async fn commit_batch(conn: &mut SqliteConnection, batch: &mut Vec<Job>) {
    match insert_all(conn, batch).await {
        Ok(results) => {
            for (job, result) in batch.drain(..).zip(results) {
                let _ = job.reply.send(Ok(result));
            }
        }
        Err(batch_error) => {
            tracing::warn!(error = %format!("{batch_error:#}"), rows = batch.len(), "batch commit failed; retrying rows one by one");
            for job in batch.drain(..) {
                let single = insert_all(conn, std::slice::from_ref(&job)).await;
                let _ = job
                    .reply
                    .send(single.map(|mut r| r.remove(0)).map_err(RecordError::Failed));
            }
        }
    }
}

async fn insert_all(conn: &mut SqliteConnection, jobs: &[Job]) -> anyhow::Result<Vec<Recorded>> {
    let rows: Vec<&NewSubmission> = jobs.iter().map(|job| &job.row).collect();
    let mut tx = conn.begin().await?;
    let answers = submissions::insert_many(&mut tx, &rows).await?;
    tx.commit().await?;
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
