//! Intake's rows: the batch INSERT with its per-batch rollups, and reading one row back.

use crate::store::{NewSubmission, SubmissionRow};
use anyhow::Context;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use std::collections::{BTreeMap, HashSet};

/// Inserts a batch as one multi-row INSERT. A row whose idempotency key was already seen
/// for its source (earlier, or earlier in the same batch) is not inserted; for each row the
/// answer is the id it is stored under (the first row's id for a duplicate) and whether it is new.
pub async fn insert_many(
    conn: &mut SqliteConnection,
    rows: &[&NewSubmission],
) -> anyhow::Result<Vec<(String, bool)>> {
    let mut query = crate::store::statements::insert_submissions::<Sqlite>(rows);
    let inserted: HashSet<String> = query
        .build_query_scalar::<String>()
        .fetch_all(&mut *conn)
        .await
        .context("inserting submissions")?
        .into_iter()
        .collect();
    count_in_rollups(conn, rows.iter().filter(|row| inserted.contains(&row.id))).await?;
    let mut answers = Vec::with_capacity(rows.len());
    for row in rows {
        if inserted.contains(&row.id) {
            answers.push((row.id.clone(), true));
            continue;
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
        answers.push((existing, false));
    }
    Ok(answers)
}

/// Counts newly inserted rows in the daily and hourly rollups: one upsert per key for the
/// whole batch, in the batch's transaction (docs/log.md, "Rollups").
async fn count_in_rollups<'a>(
    conn: &mut SqliteConnection,
    rows: impl Iterator<Item = &'a &'a NewSubmission>,
) -> anyhow::Result<()> {
    let mut daily: BTreeMap<(&str, &str, &str, &str, i64), i64> = BTreeMap::new();
    let mut hourly: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
    let mut by_status: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for row in rows {
        let consent = row.consent.map_or(-1, i64::from);
        let (day, hour) = (&row.received_at[..10], &row.received_at[..13]);
        let (kind, source, status) = (row.source_kind.as_str(), row.source.as_str(), row.status.as_str());
        *daily.entry((day, kind, source, status, consent)).or_default() += 1;
        *hourly.entry((hour, kind, source)).or_default() += 1;
        *by_status.entry((hour, status)).or_default() += 1;
    }
    if daily.is_empty() {
        return Ok(());
    }
    let mut upsert: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO submission_rollup_daily (day, source_kind, source, status, consent, count) ",
    );
    upsert.push_values(
        &daily,
        |mut values, ((day, kind, source, status, consent), count)| {
            values
                .push_bind(*day)
                .push_bind(*kind)
                .push_bind(*source)
                .push_bind(*status)
                .push_bind(*consent)
                .push_bind(*count);
        },
    );
    upsert.push(
        " ON CONFLICT (day, source_kind, source, status, consent) DO UPDATE SET count = count + excluded.count",
    );
    upsert
        .build()
        .execute(&mut *conn)
        .await
        .context("counting the batch in the daily rollup")?;
    let mut upsert: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO submission_rollup_hourly (hour, source_kind, source, count) ");
    upsert.push_values(&hourly, |mut values, ((hour, kind, source), count)| {
        values
            .push_bind(*hour)
            .push_bind(*kind)
            .push_bind(*source)
            .push_bind(*count);
    });
    upsert.push(" ON CONFLICT (hour, source_kind, source) DO UPDATE SET count = count + excluded.count");
    upsert
        .build()
        .execute(&mut *conn)
        .await
        .context("counting the batch in the hourly rollup")?;
    count_statuses(conn, &by_status).await
}

/// Counts newly inserted rows in the hourly status rollup (the status page's charts).
async fn count_statuses(
    conn: &mut SqliteConnection,
    by_status: &BTreeMap<(&str, &str), i64>,
) -> anyhow::Result<()> {
    let mut upsert: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO status_rollup_hourly (hour, status, count) ");
    upsert.push_values(by_status, |mut values, ((hour, status), count)| {
        values.push_bind(*hour).push_bind(*status).push_bind(*count);
    });
    upsert.push(" ON CONFLICT (hour, status) DO UPDATE SET count = count + excluded.count");
    upsert
        .build()
        .execute(&mut *conn)
        .await
        .context("counting the batch in the hourly status rollup")?;
    Ok(())
}

pub async fn by_id(pool: &SqlitePool, id: &str) -> anyhow::Result<Option<SubmissionRow>> {
    sqlx::query_as::<_, SubmissionRow>(
        "SELECT id, received_at, source_kind, source, status, attempts, next_attempt_at,
                last_attempt_at, delivered_at, last_http_status, last_error, email, subject,
                consent, consent_note, client_ip, user_agent, origin, page_url, idempotency_key,
                conversation_id, person_id, person_status, payload, fields, captcha,
                spam_verdict, spam_score, spam_reasons, review, reviewed_at, files, consent_proof
         FROM submissions WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .context("reading a submission")
}
