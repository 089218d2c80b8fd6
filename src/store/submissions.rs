use crate::domain::{SourceKind, Status};
use anyhow::Context;
use sqlx::{FromRow, SqliteConnection, SqlitePool};

/// A row for `submissions`, as intake builds it.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub id: String,
    pub received_at: String,
    pub source_kind: SourceKind,
    pub source: String,
    pub status: Status,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub email: Option<String>,
    pub subject: Option<String>,
    pub consent: Option<bool>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub origin: Option<String>,
    pub page_url: Option<String>,
    pub idempotency_key: Option<String>,
    pub payload: Option<String>,
    pub fields: String,
    pub request_id: Option<String>,
    pub captcha: Option<&'static str>,
}

/// A stored submission, as the admin API and tests read it.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct SubmissionRow {
    pub id: String,
    pub received_at: String,
    pub source_kind: String,
    pub source: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_http_status: Option<i64>,
    pub last_error: Option<String>,
    pub email: Option<String>,
    pub subject: Option<String>,
    pub consent: Option<i64>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub origin: Option<String>,
    pub page_url: Option<String>,
    pub idempotency_key: Option<String>,
    pub conversation_id: Option<String>,
    pub person_id: Option<String>,
    pub person_status: Option<String>,
    pub payload: Option<String>,
    pub fields: String,
    pub captcha: Option<String>,
}

/// Inserts one row unless its idempotency key was seen for the same source; returns
/// the id it was stored under (the earlier row's id for a duplicate) and whether it is new.
pub async fn insert(conn: &mut SqliteConnection, row: &NewSubmission) -> anyhow::Result<(String, bool)> {
    let inserted: Option<(String,)> = sqlx::query_as(
        "INSERT INTO submissions (id, received_at, source_kind, source, status, next_attempt_at,
             last_error, email, subject, consent, client_ip, user_agent, origin, page_url,
             idempotency_key, payload, fields, request_id, captcha)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (source_kind, source, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING id",
    )
    .bind(&row.id)
    .bind(&row.received_at)
    .bind(row.source_kind.as_str())
    .bind(&row.source)
    .bind(row.status.as_str())
    .bind(&row.next_attempt_at)
    .bind(&row.last_error)
    .bind(&row.email)
    .bind(&row.subject)
    .bind(row.consent)
    .bind(&row.client_ip)
    .bind(&row.user_agent)
    .bind(&row.origin)
    .bind(&row.page_url)
    .bind(&row.idempotency_key)
    .bind(&row.payload)
    .bind(&row.fields)
    .bind(&row.request_id)
    .bind(row.captcha)
    .fetch_optional(&mut *conn)
    .await
    .context("inserting a submission")?;
    if let Some((id,)) = inserted {
        return Ok((id, true));
    }
    let (existing,): (String,) = sqlx::query_as(
        "SELECT id FROM submissions WHERE source_kind = ? AND source = ? AND idempotency_key = ?",
    )
    .bind(row.source_kind.as_str())
    .bind(&row.source)
    .bind(&row.idempotency_key)
    .fetch_one(&mut *conn)
    .await
    .context("finding the earlier submission with the same idempotency key")?;
    Ok((existing, false))
}

pub async fn by_id(pool: &SqlitePool, id: &str) -> anyhow::Result<Option<SubmissionRow>> {
    sqlx::query_as::<_, SubmissionRow>(
        "SELECT id, received_at, source_kind, source, status, attempts, next_attempt_at,
                last_attempt_at, delivered_at, last_http_status, last_error, email, subject,
                consent, client_ip, user_agent, origin, page_url, idempotency_key,
                conversation_id, person_id, person_status, payload, fields, captcha
         FROM submissions WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("reading a submission")
}
