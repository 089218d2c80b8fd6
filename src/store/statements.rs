//! The statements both backends run alike, written once: each one's column list and its
//! binds. A backend says only where its dialect differs ([`Dialect`]); what differs more
//! (claims with `SKIP LOCKED`, the outcome `UPDATE … FROM`, upserts, rollups) stays in its
//! own files.

use super::{AttemptRecord, NewSubmission, SessionLog};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// Where the log's two SQL dialects differ inside the shared statements.
pub(crate) trait Dialect: Database {
    /// Written after a bound timestamp (RFC 3339 text): PostgreSQL casts it to
    /// `timestamptz`; SQLite keeps the text.
    const TIMESTAMP: &'static str;
    /// Around a bound `next_attempt_at`: on PostgreSQL a row due at intake is due by the
    /// database's clock, so a relay whose clock runs ahead cannot hold its rows back.
    const DUE: (&'static str, &'static str);
    /// Written after a bound day (`YYYY-MM-DD`): PostgreSQL casts it to `date`.
    const DATE: &'static str;
    /// Around a timestamp column read as the log's text form (RFC 3339 with milliseconds).
    const READ_TS: (&'static str, &'static str);
    /// Around an hourly rollup's `hour` read as text (`YYYY-MM-DDTHH`).
    const READ_HOUR: (&'static str, &'static str);
    /// Around a bound hour (`YYYY-MM-DDTHH`) compared with an hourly rollup's `hour`.
    const BIND_HOUR: (&'static str, &'static str);
}

impl Dialect for sqlx::Sqlite {
    const TIMESTAMP: &'static str = "";
    const DUE: (&'static str, &'static str) = ("", "");
    const DATE: &'static str = "";
    const READ_TS: (&'static str, &'static str) = ("", "");
    const READ_HOUR: (&'static str, &'static str) = ("", "");
    const BIND_HOUR: (&'static str, &'static str) = ("", "");
}

impl Dialect for sqlx::Postgres {
    const TIMESTAMP: &'static str = "::timestamptz";
    const DUE: (&'static str, &'static str) = ("CASE WHEN ", "::text IS NULL THEN NULL ELSE now() END");
    const DATE: &'static str = "::date";
    const READ_TS: (&'static str, &'static str) = ("relay_ts(", ")");
    const READ_HOUR: (&'static str, &'static str) =
        ("to_char(", " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')");
    const BIND_HOUR: (&'static str, &'static str) = ("(", " || ':00:00Z')::timestamptz");
}

/// Encodes as a bind parameter of `DB`.
pub(crate) trait Bind<'a, DB: Database>: 'a + Encode<'a, DB> + Type<DB> {}
impl<'a, DB: Database, T: 'a + Encode<'a, DB> + Type<DB>> Bind<'a, DB> for T {}

/// Intake's batch insert: every row in one statement; a row whose idempotency key its source
/// has seen is skipped, and the new rows' ids come back.
pub(crate) fn insert_submissions<'a, DB>(rows: &'a [&'a NewSubmission]) -> QueryBuilder<'a, DB>
where
    DB: Dialect,
    &'a String: Bind<'a, DB>,
    &'a str: Bind<'a, DB>,
    &'a Option<String>: Bind<'a, DB>,
    Option<bool>: Bind<'a, DB>,
    Option<&'a str>: Bind<'a, DB>,
    Option<i64>: Bind<'a, DB>,
{
    let mut query = QueryBuilder::new(
        "INSERT INTO submissions (id, received_at, source_kind, source, status, next_attempt_at,
             last_error, email, subject, consent, consent_note, client_ip, user_agent, origin, page_url,
             idempotency_key, payload, fields, request_id, captcha, spam_verdict, spam_score, spam_reasons, files, consent_proof, trace_parent) ",
    );
    query.push_values(rows, |mut values, row| {
        values
            .push_bind(&row.id)
            .push_bind(&row.received_at)
            .push_unseparated(DB::TIMESTAMP)
            .push_bind(row.source_kind.as_str())
            .push_bind(&row.source)
            .push_bind(row.status.as_str())
            .push(DB::DUE.0)
            .push_bind_unseparated(&row.next_attempt_at)
            .push_unseparated(DB::DUE.1)
            .push_bind(&row.last_error)
            .push_bind(&row.email)
            .push_bind(&row.subject)
            .push_bind(row.consent)
            .push_bind(&row.consent_note)
            .push_bind(&row.client_ip)
            .push_bind(&row.user_agent)
            .push_bind(&row.origin)
            .push_bind(&row.page_url)
            .push_bind(&row.idempotency_key)
            .push_bind(&row.payload)
            .push_bind(&row.fields)
            .push_bind(&row.request_id)
            .push_bind(row.captcha as Option<&'a str>)
            .push_bind(row.spam_verdict as Option<&'a str>)
            .push_bind(row.spam_score)
            .push_bind(&row.spam_reasons)
            .push_bind(&row.files)
            .push_bind(&row.consent_proof)
            .push_bind(&row.trace_parent);
    });
    query.push(
        " ON CONFLICT (source_kind, source, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
          RETURNING id",
    );
    query
}

/// An operator's review of a quarantined row: a release queues it with its new payload and a
/// fresh attempt budget; a confirmation only notes it. Either touches only a `spam` row.
pub(crate) fn review<'a, DB>(id: &'a str, review: super::Review<'a>, at: &'a str) -> QueryBuilder<'a, DB>
where
    DB: Dialect,
    &'a str: Bind<'a, DB>,
{
    let mut query = QueryBuilder::new("UPDATE submissions SET reviewed_at = ");
    query.push_bind(at).push(DB::TIMESTAMP);
    match review {
        super::Review::Release(payload) => {
            query
                .push(", review = 'released', status = 'queued', attempts = 0, last_error = NULL, payload = ")
                .push_bind(payload)
                .push(", next_attempt_at = ")
                .push_bind(at)
                .push(DB::TIMESTAMP);
        }
        super::Review::Confirm => {
            query.push(", review = 'confirmed'");
        }
    }
    query.push(" WHERE status = 'spam' AND id = ").push_bind(id);
    if let super::Review::Release(_) = review {
        query.push(" AND payload IS NOT NULL");
    }
    query
}

/// The quarantine's reasons since `day`, most frequent first, from the rollup (never the rows).
pub(crate) fn spam_reasons<'a, DB>(day: &'a str, limit: i64) -> QueryBuilder<'a, DB>
where
    DB: Dialect,
    &'a str: Bind<'a, DB>,
    i64: Bind<'a, DB>,
{
    let mut query = QueryBuilder::new(
        "SELECT reason, CAST(SUM(count) AS BIGINT) AS count FROM spam_rollup_daily WHERE day >= ",
    );
    query
        .push_bind(day)
        .push(DB::DATE)
        .push(" GROUP BY reason ORDER BY count DESC, reason LIMIT ")
        .push_bind(limit);
    query
}

/// One batch of the quarantine's retention: the oldest `spam` rows before the cutoff (they
/// have no delivery attempts). Served by `submissions_status_received`.
pub(crate) fn purge_spam<'a, DB>(cutoff: &'a str, batch: i64) -> QueryBuilder<'a, DB>
where
    DB: Dialect,
    &'a str: Bind<'a, DB>,
    i64: Bind<'a, DB>,
{
    let mut query = QueryBuilder::new(
        "DELETE FROM submissions WHERE id IN (SELECT id FROM submissions WHERE status = 'spam' AND received_at < ",
    );
    query
        .push_bind(cutoff)
        .push(DB::TIMESTAMP)
        .push(" ORDER BY received_at LIMIT ")
        .push_bind(batch)
        .push(")");
    query
}

/// Every attempt of a batch of outcomes, numbered after the row's earlier ones, pushed onto
/// `query` (SQLite; PostgreSQL binds a round's outcomes as arrays instead, so that its one
/// statement a round has the same text whatever the round's size).
pub(crate) fn push_insert_attempts<'a, DB>(
    query: &mut QueryBuilder<'a, DB>,
    attempts: &'a [(&'a str, &'a AttemptRecord)],
) where
    DB: Dialect,
    &'a str: Bind<'a, DB>,
    String: Bind<'a, DB>,
    i64: Bind<'a, DB>,
    Option<i64>: Bind<'a, DB>,
    Option<&'a str>: Bind<'a, DB>,
    Option<String>: Bind<'a, DB>,
{
    query.push(
        "INSERT INTO delivery_attempts (submission_id, attempt, started_at, duration_ms,
             http_status, error_kind, error, response_excerpt) ",
    );
    query.push_values(attempts, |mut row, (id, a)| {
        row.push_bind(*id)
            .push("(SELECT COUNT(*) + 1 FROM delivery_attempts WHERE submission_id = ")
            .push_bind_unseparated(*id)
            .push_unseparated(")")
            .push_bind(crate::domain::utc_timestamp(a.started_at))
            .push_unseparated(DB::TIMESTAMP)
            .push_bind(a.duration_ms)
            .push_bind(a.http_status.map(i64::from))
            .push_bind(a.error_kind as Option<&'a str>)
            .push_bind(a.error.clone())
            .push_bind(a.response_excerpt.clone());
    });
}

/// One authenticated `/talk/session` request (never the token).
pub(crate) fn insert_session_log<'a, DB>(log: &'a SessionLog) -> QueryBuilder<'a, DB>
where
    DB: Dialect,
    String: Bind<'a, DB>,
    &'a String: Bind<'a, DB>,
    &'a Option<String>: Bind<'a, DB>,
    &'a str: Bind<'a, DB>,
    i64: Bind<'a, DB>,
{
    let mut insert = QueryBuilder::new(
        "INSERT INTO talk_sessions (id, requested_at, auth, email, outcome, http_status, person_id,
             person_status, session_id, client_ip, latency_ms) ",
    );
    insert.push_values([log], |mut row, log| {
        row.push_bind(crate::domain::new_submission_id())
            .push_bind(&log.requested_at)
            .push_unseparated(DB::TIMESTAMP)
            .push_bind(&log.auth)
            .push_bind(&log.email)
            .push_bind(log.outcome.as_str())
            .push_bind(i64::from(log.http_status))
            .push_bind(&log.person_id)
            .push_bind(&log.person_status)
            .push_bind(&log.session_id)
            .push_bind(&log.client_ip)
            .push_bind(log.latency_ms);
    });
    insert
}

/// Session log rows by id (a person's export).
pub(crate) fn sessions_by_id<'a, DB>(ids: &'a [String]) -> QueryBuilder<'a, DB>
where
    DB: Dialect,
    &'a String: Bind<'a, DB>,
{
    let (open, close) = DB::READ_TS;
    let mut query = QueryBuilder::new(format!(
        "SELECT id, {open}requested_at{close} AS requested_at, auth, email, outcome, http_status, person_id, \
         person_status, session_id, client_ip, latency_ms FROM talk_sessions WHERE id IN ("
    ));
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    list.push_unseparated(") ORDER BY requested_at");
    query
}

/// The status page's charts from an hourly rollup since `since` (`YYYY-MM-DDTHH`): per hour,
/// `key` (a status, or a latency bucket's upper bound as text) and its count.
pub(crate) fn hourly<'a, DB>(table: &'static str, key: &'static str, since: &'a str) -> QueryBuilder<'a, DB>
where
    DB: Dialect,
    &'a str: Bind<'a, DB>,
{
    let (read_open, read_close) = DB::READ_HOUR;
    let (bind_open, bind_close) = DB::BIND_HOUR;
    let mut query = QueryBuilder::new(format!(
        "SELECT {read_open}hour{read_close} AS hour, CAST({key} AS TEXT) AS key, CAST(SUM(count) AS BIGINT) AS count \
         FROM {table} WHERE hour >= {bind_open}"
    ));
    query.push_bind(since).push(format!(
        "{bind_close} GROUP BY hour, {key} HAVING SUM(count) > 0 ORDER BY hour"
    ));
    query
}

/// Submissions per source since `since` (`YYYY-MM-DDTHH`), from the hourly rollup (the status
/// page, which never counts rows).
pub(crate) fn sources_since<'a, DB>(since: &'a str) -> QueryBuilder<'a, DB>
where
    DB: Dialect,
    &'a str: Bind<'a, DB>,
{
    let (bind_open, bind_close) = DB::BIND_HOUR;
    let mut query = QueryBuilder::new(format!(
        "SELECT source_kind, source, CAST(SUM(count) AS BIGINT) AS count \
         FROM submission_rollup_hourly WHERE hour >= {bind_open}"
    ));
    query.push_bind(since).push(format!(
        "{bind_close} GROUP BY source_kind, source HAVING SUM(count) > 0 ORDER BY source"
    ));
    query
}
