//! The WAL's bound (docs/faults.md, "Faults and what the relay does"): the log writer, between
//! batches, checkpoints and truncates the WAL once it passes `database.max_wal_mb` or has
//! not changed for a second. A truncation never waits for readers.

use super::SqliteWriteSession;
use std::time::{Duration, Instant};

/// With no change for this long the WAL is truncated, so an idle log shrinks.
const IDLE: Duration = Duration::from_secs(1);
/// After a truncating checkpoint that a reader blocked, wait this long before the next try.
const TRUNCATE_RETRY: Duration = Duration::from_millis(50);
/// "Nearly everything copied": at most this many WAL frames (~1 MB of 4 KB pages) left.
const CAUGHT_UP_FRAMES: u64 = 256;

impl SqliteWriteSession {
    /// Keeps the WAL under `database.max_wal_mb`: once it has grown past the bound, or has
    /// not changed for a second (idle), the writer (the only writer, between batches)
    /// checkpoints and truncates it.
    pub(super) async fn bound_wal(&mut self) {
        let stamp = self.health.wal_stamp();
        if stamp != self.wal_seen.0 {
            self.wal_seen = (stamp, Instant::now());
        }
        let size = stamp.0;
        // Idle is judged by the file alone: a checkpoint does not write the WAL, so a WAL
        // that was restarted and then left alone still counts as idle a second later.
        let idle = size > 0 && self.wal_seen.1.elapsed() >= IDLE;
        let bound = self.health.settings().max_wal_bytes;
        // Past the bound, restart once the background checkpointer has copied nearly
        // everything, so the checkpoint (on intake's path) has little left to copy; at
        // twice the bound, restart regardless. A WAL not written since its last restart has
        // nothing left to restart: only the idle truncation shrinks it.
        let caught_up = self.health.checkpoint_backlog() <= CAUGHT_UP_FRAMES;
        let over = (size > bound && caught_up) || size > bound.saturating_mul(2);
        let restart = over && self.restarted != Some(stamp);
        let may_retry = self
            .last_blocked_truncate
            .is_none_or(|at| at.elapsed() >= TRUNCATE_RETRY);
        if (idle || restart) && may_retry {
            // Idle: give the space back. Under load: restart the WAL from its beginning, so
            // the next commits overwrite the file (journal_size_limit caps it at the bound)
            // instead of growing it again from nothing.
            let mode = if idle { "TRUNCATE" } else { "RESTART" };
            if self.truncate_wal(mode).await && !idle {
                self.restarted = Some(self.health.wal_stamp());
            }
        }
    }

    /// A RESTART or TRUNCATE checkpoint that never waits for readers: a dashboard holding a
    /// read transaction makes it give up at once (and the writer tries again later), instead
    /// of stalling intake behind the reader. Answers whether it went through.
    async fn truncate_wal(&mut self, mode: &str) -> bool {
        self.last_blocked_truncate = None;
        let busy_ms = self.store.busy_timeout().as_millis();
        let Ok(conn) = self.connection().await else {
            return false;
        };
        let outcome: anyhow::Result<(i64, i64, i64)> = async {
            sqlx::query("PRAGMA busy_timeout = 0").execute(&mut *conn).await?;
            let counts = sqlx::query_as(&format!("PRAGMA wal_checkpoint({mode})"))
                .fetch_one(&mut *conn)
                .await;
            sqlx::query(&format!("PRAGMA busy_timeout = {busy_ms}"))
                .execute(&mut *conn)
                .await?;
            Ok(counts?)
        }
        .await;
        match outcome {
            Ok((0, _, _)) => {
                tracing::debug!(target: "talk_relay::writer", mode, "WAL checkpointed");
                true
            }
            Ok((_, frames, done)) => {
                // The next try comes TRUNCATE_RETRY later, not another idle second later.
                self.last_blocked_truncate = Some(Instant::now());
                tracing::debug!(
                    target: "talk_relay::writer",
                    frames,
                    done,
                    "WAL not truncated: a reader still uses it"
                );
                false
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "WAL checkpoint failed");
                self.conn = None;
                false
            }
        }
    }
}
