//! docs/log.md "The log": every index on the log serves a documented query, an admin filter,
//! retention, erasure or the claim, shown by SQLite's own query plans; and none is left over.

use super::housekeeping::ops_queries;
use std::collections::BTreeSet;

/// (what runs it, the SQL as the relay or the docs run it, the index its plan must use)
fn uses() -> Vec<(&'static str, String, &'static str)> {
    let docs = ops_queries();
    let doc = |name: &str| {
        docs.iter()
            .find(|(n, _)| n == name)
            .map(|(_, sql)| sql.clone())
            .unwrap_or_else(|| panic!("docs/ops-queries.sql has no `{name}`"))
    };
    let list = "SELECT id, received_at, source_kind, source, status, attempts, next_attempt_at, delivered_at,
                last_http_status, last_error, email, subject, consent FROM submissions WHERE 1 = 1";
    vec![
        (
            "the claim",
            "SELECT id FROM submissions INDEXED BY submissions_due
             WHERE status IN ('queued', 'retrying') AND next_attempt_at <= ?1
               AND (leased_until IS NULL OR leased_until <= ?1) ORDER BY next_attempt_at LIMIT ?2"
                .into(),
            "submissions_due",
        ),
        (
            "an outcome or a read by id",
            "SELECT status FROM submissions WHERE id = ?".into(),
            "sqlite_autoindex_submissions_1",
        ),
        (
            "an idempotency key seen before",
            "SELECT id FROM submissions WHERE source_kind = ? AND source = ? AND idempotency_key = ?".into(),
            "submissions_idempotency",
        ),
        (
            "the admin status filter",
            format!("{list} AND status = ? ORDER BY id DESC LIMIT ?"),
            "submissions_status_received",
        ),
        (
            "the admin source filter",
            format!("{list} AND source = ? ORDER BY id DESC LIMIT ?"),
            "submissions_source_received",
        ),
        (
            "the admin email filter",
            format!("{list} AND lower(email) = lower(?) ORDER BY id DESC LIMIT ?"),
            "submissions_email_lower",
        ),
        (
            "stats since a time",
            "SELECT source_kind, source, status, COUNT(*) AS count FROM submissions
             WHERE received_at >= ? GROUP BY source_kind, source, status ORDER BY source, status"
                .into(),
            "submissions_received",
        ),
        (
            "retention",
            "SELECT id FROM submissions WHERE received_at < ?1 AND status NOT IN ('queued', 'retrying')
             ORDER BY received_at LIMIT ?2"
                .into(),
            "submissions_received",
        ),
        (
            "the quarantine's retention (retention.spam_days)",
            "DELETE FROM submissions WHERE id IN (SELECT id FROM submissions WHERE status = 'spam' AND received_at < ?1
             ORDER BY received_at LIMIT ?2)"
                .into(),
            "submissions_status_received",
        ),
        (
            "failure_rate (docs)",
            doc("failure_rate"),
            "submissions_status_received",
        ),
        (
            "queue_depth (docs)",
            doc("queue_depth"),
            "submissions_status_received",
        ),
        (
            "dead_rows (docs)",
            doc("dead_rows"),
            "submissions_status_received",
        ),
        (
            "a row's attempts, and their purge",
            "SELECT attempt FROM delivery_attempts WHERE submission_id = ? ORDER BY attempt".into(),
            "delivery_attempts_submission",
        ),
        (
            "erasure of a session log row",
            "DELETE FROM talk_sessions WHERE id = ?".into(),
            "sqlite_autoindex_talk_sessions_1",
        ),
        (
            "session log retention",
            "DELETE FROM talk_sessions WHERE requested_at < ?".into(),
            "talk_sessions_requested",
        ),
    ]
}

#[actix_web::test]
async fn every_index_serves_a_query_and_each_query_uses_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = talk_relay::store::SqliteStore::open(&dir.path().join("plans.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut used = BTreeSet::new();
    for (what, sql, index) in uses() {
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let plan: Vec<String> = plan.into_iter().map(|(_, _, _, detail)| detail).collect();
        assert!(
            plan.iter().any(|step| step.contains(&format!("INDEX {index}"))),
            "{what} does not use {index}: {plan:#?}"
        );
        used.insert(index);
    }
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('submissions', 'delivery_attempts', 'talk_sessions')",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let unused: Vec<&String> = indexes
        .iter()
        .map(|(name,)| name)
        .filter(|name| !used.contains(name.as_str()))
        .collect();
    assert!(
        unused.is_empty(),
        "indexes no query uses (each costs every insert a B-tree): {unused:?}"
    );
}
