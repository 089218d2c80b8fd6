use anyhow::Context;
use sqlx::SqliteConnection;

/// One `talk_sessions` row. The token is deliberately not a field.
#[derive(Debug, Clone)]
pub struct SessionLog {
    pub requested_at: String,
    pub auth: String,
    pub email: Option<String>,
    pub outcome: &'static str,
    pub http_status: u16,
    pub person_id: Option<String>,
    pub person_status: Option<String>,
    pub session_id: Option<String>,
    pub client_ip: Option<String>,
    pub latency_ms: i64,
}

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
