//! The log's records as the rest of the relay sees them, whichever database holds them.
//! Timestamps are UTC RFC 3339 strings with milliseconds on both backends.

use crate::domain::{SourceKind, Status};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

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
    pub consent_note: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub origin: Option<String>,
    pub page_url: Option<String>,
    pub idempotency_key: Option<String>,
    pub payload: Option<String>,
    pub fields: String,
    pub request_id: Option<String>,
    pub captcha: Option<&'static str>,
    /// The spam verdict (`ham`, `suspect`, `spam`), its score and reasons (a JSON array).
    pub spam_verdict: Option<&'static str>,
    pub spam_score: Option<i64>,
    pub spam_reasons: Option<String>,
    /// The attachments, a JSON array (docs/files.md, "Storage").
    pub files: Option<String>,
    /// The consent box's field, answer and words, a JSON object (docs/operations.md).
    pub consent_proof: Option<String>,
    /// The intake request's W3C `traceparent`, when traces are on: its deliveries join its trace.
    pub trace_parent: Option<String>,
}

/// A stored submission, as the admin API and tests read it: the columns a list shows
/// ([`SubmissionSummary`], reachable through `Deref`) and the rest.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct SubmissionRow {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub summary: SubmissionSummary,
    pub last_attempt_at: Option<String>,
    pub consent_note: Option<String>,
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
    pub spam_reasons: Option<String>,
    /// `released` or `confirmed`, once an operator reviewed a quarantined row.
    pub review: Option<String>,
    pub reviewed_at: Option<String>,
    /// The consent box's field, answer and words, a JSON object.
    pub consent_proof: Option<String>,
}

impl std::ops::Deref for SubmissionRow {
    type Target = SubmissionSummary;

    fn deref(&self) -> &SubmissionSummary {
        &self.summary
    }
}

/// Filters for listing submissions, newest first; `before` is the cursor (an id).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct SubmissionFilter {
    pub status: Option<String>,
    pub source: Option<String>,
    pub email: Option<String>,
    /// RFC 3339; inclusive.
    pub since: Option<String>,
    /// RFC 3339; exclusive.
    pub until: Option<String>,
    pub before: Option<String>,
    pub limit: Option<i64>,
}

impl SubmissionFilter {
    /// Appends the filter's conditions, newest first, and its limit to a query that ends in
    /// `WHERE true`. `timestamp` follows a bound timestamp where the backend must cast it.
    pub(crate) fn push_to<'a, DB>(&self, query: &mut sqlx::QueryBuilder<'a, DB>, timestamp: &str)
    where
        DB: sqlx::Database,
        String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        let exact = [("status", &self.status), ("source", &self.source)];
        for (column, value) in exact {
            if let Some(value) = value {
                query.push(format!(" AND {column} = ")).push_bind(value.clone());
            }
        }
        if let Some(email) = &self.email {
            query
                .push(" AND lower(email) = lower(")
                .push_bind(email.trim().to_owned())
                .push(")");
        }
        let bounds = [(">=", &self.since), ("<", &self.until)];
        for (op, value) in bounds {
            if let Some(value) = value {
                query
                    .push(format!(" AND received_at {op} "))
                    .push_bind(value.clone())
                    .push(timestamp);
            }
        }
        if let Some(before) = &self.before {
            query.push(" AND id < ").push_bind(before.clone());
        }
        let limit = self.limit.unwrap_or(50).clamp(1, super::MAX_LIST);
        query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    }
}

/// A submission as listed: everything but the payload and submitted fields.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SubmissionSummary {
    pub id: String,
    pub received_at: String,
    pub source_kind: String,
    pub source: String,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_http_status: Option<i64>,
    pub last_error: Option<String>,
    pub email: Option<String>,
    pub subject: Option<String>,
    pub consent: Option<i64>,
    pub spam_verdict: Option<String>,
    pub spam_score: Option<i64>,
    /// The attachments, a JSON array (docs/files.md, "Storage").
    pub files: Option<String>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AttemptRow {
    pub attempt: i64,
    pub started_at: String,
    pub duration_ms: i64,
    pub http_status: Option<i64>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct CountRow {
    pub source_kind: String,
    pub source: String,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub count: i64,
}

/// How many quarantined posts gave one reason.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct ReasonCount {
    pub reason: String,
    pub count: i64,
}

/// The delivery queue now: rows waiting (queued or retrying), and how many seconds the
/// oldest due one has waited.
#[derive(Debug, Clone, Serialize)]
pub struct QueueStats {
    pub depth: i64,
    pub oldest_due_age_seconds: i64,
    /// When the oldest waiting row was received.
    pub oldest_received_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub since: String,
    pub counts: Vec<CountRow>,
    pub queue_depth: i64,
    pub oldest_waiting_received_at: Option<String>,
    pub oldest_due_age_seconds: i64,
}

/// How many rows an erasure or purge removed, per table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Removed {
    pub submissions: u64,
    pub delivery_attempts: u64,
    pub talk_sessions: u64,
}

/// Whom an erasure looks for (docs/operations.md, "Operating it"): the address as intake normalises it.
/// A database's `lower()` may fold ASCII only, so an ASCII `@domain` narrows the scan in SQL
/// and Rust's Unicode lowercasing decides which rows match.
pub struct ErasureTarget {
    needle: String,
    /// The same address with its domain in punycode, as intake records an internationalised
    /// domain (`bücher.example` → `xn--bcher-kva.example`); the fields keep it as typed.
    punycode: Option<String>,
    /// `@domain` to narrow the scan with; empty: scan every row.
    pub narrow: String,
}

impl ErasureTarget {
    pub fn parse(email: &str) -> anyhow::Result<Self> {
        let needle = email.trim().to_lowercase();
        let Some((local, domain)) = needle.rsplit_once('@') else {
            anyhow::bail!("`{}` is not an email address", email.trim());
        };
        let (narrow, punycode) = if domain.is_ascii() {
            (format!("@{domain}"), None)
        } else {
            let ascii = match url::Host::parse(domain) {
                Ok(url::Host::Domain(ascii)) => Some(format!("{local}@{ascii}")),
                _ => None,
            };
            (String::new(), ascii)
        };
        Ok(Self {
            needle,
            punycode,
            narrow,
        })
    }

    fn is_the_address(&self, email: &str) -> bool {
        let email = email.to_lowercase();
        email == self.needle || self.punycode.as_deref() == Some(email.as_str())
    }

    /// Of `(id, email, fields)` rows, the ids whose email is the person's or whose submitted
    /// fields mention the address (spam and invalid rows keep it there).
    pub fn submissions(&self, candidates: Vec<(String, Option<String>, String)>) -> Vec<String> {
        candidates
            .into_iter()
            .filter(|(_, email, fields)| {
                email.as_deref().is_some_and(|e| self.is_the_address(e))
                    || fields.to_lowercase().contains(&self.needle)
                    || self
                        .punycode
                        .as_ref()
                        .is_some_and(|p| fields.to_lowercase().contains(p))
            })
            .map(|(id, _, _)| id)
            .collect()
    }

    /// Of `(id, email)` session rows, the person's ids.
    pub fn sessions(&self, candidates: Vec<(String, String)>) -> Vec<String> {
        candidates
            .into_iter()
            .filter(|(_, email)| self.is_the_address(email))
            .map(|(id, _)| id)
            .collect()
    }
}

/// One hour's count of one key in an hourly rollup (the status page's charts).
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct HourCount {
    /// `YYYY-MM-DDTHH` (UTC).
    pub hour: String,
    /// A status, or a latency bucket's upper bound in seconds.
    pub key: String,
    pub count: i64,
}

/// Submissions of one source in a window (the status page's table).
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SourceCount {
    pub source_kind: String,
    pub source: String,
    pub count: i64,
}

/// One person's rows (docs/operations.md, "A person's data"): found as erasure finds them.
#[derive(Debug, Clone, Default)]
pub struct PersonIds {
    pub submissions: Vec<String>,
    pub sessions: Vec<String>,
}

/// A `talk_sessions` row as the person export shows it.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct SessionRow {
    pub id: String,
    pub requested_at: String,
    pub auth: String,
    pub email: Option<String>,
    pub outcome: String,
    pub http_status: Option<i64>,
    pub person_id: Option<String>,
    pub person_status: Option<String>,
    pub session_id: Option<String>,
    pub client_ip: Option<String>,
    pub latency_ms: Option<i64>,
}

/// What an erasure removed, and where the erased bytes may still be (`None`: nowhere in
/// the database's files).
#[derive(Debug, Clone)]
pub struct Erased {
    pub removed: Removed,
    pub residue: Option<String>,
    /// The erased submissions' ids: their files go next (docs/files.md).
    pub submission_ids: Vec<String>,
}

/// A row a worker holds the lease on.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedRow {
    pub id: String,
    pub payload: Option<String>,
    pub attempts: i64,
    pub received_at: String,
    pub request_id: Option<String>,
    pub lease_token: String,
    /// The intake request's `traceparent`, when traces were on.
    pub trace_parent: Option<String>,
}

/// A claim on one row: its id and the token the claim wrote. Outcomes and releases carry
/// it, so a worker whose lease expired (another now holds the row) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: String,
    pub token: String,
}

impl ClaimedRow {
    pub fn lease(&self) -> Lease {
        Lease {
            id: self.id.clone(),
            token: self.lease_token.clone(),
        }
    }
}

/// The Ortto ids a delivered row keeps: conversation, person, person status.
pub type OrttoIds = (Option<String>, Option<String>, Option<String>);

impl RowUpdate {
    /// The row's new status, the Ortto ids (once delivered), its last error and when it is
    /// due again.
    pub fn columns(&self) -> (Status, OrttoIds, Option<String>, Option<DateTime<Utc>>) {
        match self {
            Self::Delivered {
                conversation_id,
                person_id,
                person_status,
            } => (
                Status::Delivered,
                (conversation_id.clone(), person_id.clone(), person_status.clone()),
                None,
                None,
            ),
            Self::RetryAt { at, error, .. } => (
                Status::Retrying,
                (None, None, None),
                Some(error.clone()),
                Some(*at),
            ),
            Self::Dead { error } => (Status::Dead, (None, None, None), Some(error.clone()), None),
            Self::DryRun => (
                Status::DryRun,
                (None, None, None),
                Some("dry run: no Ortto API key configured".to_owned()),
                None,
            ),
        }
    }
}

/// One attempt, as `delivery_attempts` keeps it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub http_status: Option<u16>,
    pub error_kind: Option<&'static str>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// What happens to the submission row after an attempt.
#[derive(Debug, Clone)]
pub enum RowUpdate {
    Delivered {
        conversation_id: Option<String>,
        person_id: Option<String>,
        person_status: Option<String>,
    },
    /// Try again at `at`; `counts` says whether the attempt used up one of the row's tries.
    RetryAt {
        at: DateTime<Utc>,
        counts: bool,
        error: String,
    },
    Dead {
        error: String,
    },
    DryRun,
}

/// One `talk_sessions` row. The token is deliberately not a field.
#[derive(Debug, Clone)]
pub struct SessionLog {
    pub requested_at: String,
    pub auth: String,
    pub email: Option<String>,
    pub outcome: crate::metrics::Outcome,
    pub http_status: u16,
    pub person_id: Option<String>,
    pub person_status: Option<String>,
    pub session_id: Option<String>,
    pub client_ip: Option<String>,
    pub latency_ms: i64,
}
