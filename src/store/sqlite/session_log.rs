use crate::store::SessionLog;
use anyhow::Context;
use sqlx::SqliteConnection;

pub async fn insert_session_log(conn: &mut SqliteConnection, log: &SessionLog) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO talk_sessions (id, requested_at, auth, email, outcome, http_status, person_id,
                 person_status, session_id, client_ip, latency_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(crate::domain::new_submission_id())
    .bind(&log.requested_at)
    .bind(&log.auth)
    .bind(&log.email)
    .bind(log.outcome)
    .bind(i64::from(log.http_status))
    .bind(&log.person_id)
    .bind(&log.person_status)
    .bind(&log.session_id)
    .bind(&log.client_ip)
    .bind(log.latency_ms)
    .execute(&mut *conn)
    .await
    .context("logging a session request")?;
    Ok(())
}
