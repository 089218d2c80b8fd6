//! The fleet's one outbound budget and pause (docs/scale-out.md, "Running more than one relay"): a row
//! per window holding the GCRA's theoretical arrival time, moved under a row lock with the
//! database's clock, so relays with skewed clocks still share one budget exactly.

use crate::outbound::{take_under, Gcra, Grant, OutboundBudget, PauseReason};
use anyhow::Context;
use sqlx::PgPool;
use std::time::Duration;

pub(super) struct SharedBudget {
    pool: PgPool,
    windows: Vec<Gcra>,
}

impl SharedBudget {
    pub(super) fn new(pool: PgPool, windows: &[(u32, Duration)]) -> Self {
        Self {
            pool,
            windows: windows
                .iter()
                .map(|&(limit, window)| Gcra::for_window(limit, window))
                .collect(),
        }
    }

    fn keys(&self) -> Vec<i64> {
        self.windows.iter().map(|g| g.window.as_millis() as i64).collect()
    }

    /// Each window's state (in `keys` order) under a row lock held to the end of `tx`;
    /// fewer than `keys` while a window has no row yet.
    async fn lock_windows(&self, tx: &mut sqlx::PgConnection, keys: &[i64]) -> anyhow::Result<Vec<f64>> {
        let rows: Vec<(i64, f64)> = sqlx::query_as(
            "SELECT window_ms, EXTRACT(EPOCH FROM tat)::float8 FROM outbound_budget
             WHERE window_ms = ANY($1) ORDER BY window_ms FOR UPDATE",
        )
        .bind(keys)
        .fetch_all(&mut *tx)
        .await
        .context("reading the shared outbound budget")?;
        Ok(keys
            .iter()
            .filter_map(|key| rows.iter().find(|(k, _)| k == key).map(|(_, tat)| *tat))
            .collect())
    }
}

#[async_trait::async_trait]
impl OutboundBudget for SharedBudget {
    async fn take(&self, want: usize) -> anyhow::Result<Grant> {
        let mut tx = self.pool.begin().await?;
        // The database's clock, and a fleet-wide pause if one holds (nothing is taken then).
        let (now, paused, reason): (f64, Option<f64>, Option<String>) = sqlx::query_as(
            "SELECT EXTRACT(EPOCH FROM c.t)::float8, EXTRACT(EPOCH FROM p.paused_until - c.t)::float8, p.reason
             FROM (SELECT clock_timestamp() AS t) c
             LEFT JOIN delivery_pause p ON p.id = 1 AND p.paused_until > c.t",
        )
        .fetch_one(&mut *tx)
        .await
        .context("reading the shared delivery pause")?;
        if let Some((seconds, reason)) = paused.zip(reason.as_deref().and_then(PauseReason::from_code)) {
            return Ok(Grant {
                paused: Some((Duration::from_secs_f64(seconds.max(0.001)), reason)),
                ..Grant::default()
            });
        }
        let keys = self.keys();
        let mut tats = self.lock_windows(&mut tx, &keys).await?;
        if tats.len() < keys.len() {
            // A window seen for the first time starts with its burst spent.
            let fresh: Vec<f64> = self.windows.iter().map(|g| g.fresh_tat(now)).collect();
            sqlx::query(
                "INSERT INTO outbound_budget (window_ms, tat)
                 SELECT w, to_timestamp(t) FROM UNNEST($1::int8[], $2::float8[]) AS f (w, t)
                 ON CONFLICT (window_ms) DO NOTHING",
            )
            .bind(&keys)
            .bind(&fresh)
            .execute(&mut *tx)
            .await
            .context("starting the shared outbound budget")?;
            tats = self.lock_windows(&mut tx, &keys).await?;
        }
        let (grant, next) = take_under(&self.windows, &tats, now, want);
        if grant.granted > 0 {
            sqlx::query(
                "UPDATE outbound_budget b SET tat = to_timestamp(n.t)
                 FROM UNNEST($1::int8[], $2::float8[]) AS n (w, t) WHERE b.window_ms = n.w",
            )
            .bind(&keys)
            .bind(&next)
            .execute(&mut *tx)
            .await
            .context("taking from the shared outbound budget")?;
        }
        tx.commit().await?;
        Ok(grant)
    }

    async fn refund(&self, unused: usize) -> anyhow::Result<()> {
        let back: Vec<f64> = self.windows.iter().map(|g| unused as f64 * g.interval).collect();
        sqlx::query(
            "UPDATE outbound_budget b SET tat = b.tat - make_interval(secs => n.s)
             FROM UNNEST($1::int8[], $2::float8[]) AS n (w, s) WHERE b.window_ms = n.w",
        )
        .bind(self.keys())
        .bind(back)
        .execute(&self.pool)
        .await
        .context("giving back unused outbound tokens")?;
        Ok(())
    }

    async fn pause_all(&self, wait: Duration, reason: PauseReason) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO delivery_pause (id, paused_until, reason)
             VALUES (1, clock_timestamp() + make_interval(secs => $1), $2)
             ON CONFLICT (id) DO UPDATE SET paused_until = excluded.paused_until, reason = excluded.reason
             WHERE delivery_pause.paused_until < excluded.paused_until",
        )
        .bind(wait.as_secs_f64())
        .bind(reason.code())
        .execute(&self.pool)
        .await
        .context("sharing the delivery pause")?;
        Ok(())
    }
}
