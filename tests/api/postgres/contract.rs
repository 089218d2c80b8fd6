//! The storage contract, run on both backends: each test here runs once on a SQLite file and
//! once on a PostgreSQL database, through the relay's bound port and its CLI.

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{spawn_app_on, Method, TestApp};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use talk_relay::delivery::{DeliveryState, DeliveryWorker, Next, PauseReason, WorkerSettings};
use talk_relay::domain::Status;
use talk_relay::metrics::Metrics;
use talk_relay::store::health::{HealthSettings, StorageHealth};
use talk_relay::store::{LogWriter, RowUpdate};
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(15);
const ADMIN: &str = "[admin]\ntoken_env = \"TEST_ADMIN_TOKEN\"\n";

/// Each named test, as `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name(None).await
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some(url) = crate::postgres::database().await {
                    super::$name(Some(&url)).await
                }
            }
        }
    )*};
}

on_both_backends!(
    a_submission_is_recorded_delivered_listed_and_counted,
    failures_retry_then_die_and_a_replay_delivers,
    a_repeated_idempotency_key_answers_the_first_id,
    an_expired_claim_changes_nothing_once_another_holds_the_row,
    a_worker_round_delivers_what_is_due_and_honours_a_pause,
    an_idle_relay_polls_without_writing,
    a_busy_relay_claims_without_counting_first,
    the_quarantine_releases_confirms_counts_and_purges,
    purge_and_erase_reach_every_table,
    files_are_recorded_listed_linked_across_a_restart_and_erased,
);

async fn submit(app: &TestApp, email: &str, message: &str) -> String {
    let (status, body) = app
        .post_json("demo", &json!({"email": email, "message": message}))
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// `(text, count)` pairs from either backend (the SQL is written for both).
async fn pairs(app: &TestApp, sql: &str) -> Vec<(String, i64)> {
    match &app.db_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
        }
        None => sqlx::query_as(sql)
            .fetch_all(app.store().await.pool())
            .await
            .unwrap(),
    }
}

/// The rollups agree with the rows, by status and by source.
async fn assert_rollups_match(app: &TestApp) {
    let by_status = "SELECT status, COUNT(*) FROM submissions GROUP BY status ORDER BY status";
    let by_source = "SELECT source, COUNT(*) FROM submissions GROUP BY source ORDER BY source";
    for (rows, rollup, what) in [
        (
            by_status,
            "SELECT status, CAST(SUM(count) AS BIGINT) FROM submission_counts_daily GROUP BY status ORDER BY status",
            "the daily rollup",
        ),
        (
            by_status,
            "SELECT status, CAST(SUM(count) AS BIGINT) FROM status_rollup_hourly GROUP BY status
             HAVING SUM(count) > 0 ORDER BY status",
            "the hourly status rollup (the status page's chart)",
        ),
        (
            by_source,
            "SELECT source, CAST(SUM(count) AS BIGINT) FROM submission_rollup_hourly GROUP BY source
             HAVING SUM(count) > 0 ORDER BY source",
            "the hourly rollup",
        ),
    ] {
        assert_eq!(pairs(app, rows).await, pairs(app, rollup).await, "{what}");
    }
}

async fn a_submission_is_recorded_delivered_listed_and_counted(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_on(db, &ortto, ADMIN).await;
    let id = submit(&app, "Jo@Example.com", "Do you ship to Austria?").await;
    let row = app.log().await.submission(&id).await.unwrap().unwrap();
    assert_eq!(
        (row.source.as_str(), row.email.as_deref()),
        ("demo", Some("Jo@example.com"))
    );
    assert!(
        row.received_at.ends_with('Z') && row.received_at.len() == 24,
        "{}",
        row.received_at
    );

    let row = wait_for(&app, &id, "delivered").await;
    assert_eq!(row.conversation_id.as_deref(), Some("conv-1"));
    assert_eq!(Some(ortto.requests()[0].body.as_str()), row.payload.as_deref());
    let (_, attempts) = app
        .log()
        .await
        .submission_with_attempts(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].http_status, Some(200));

    // The admin API lists it (email filter case-insensitive) and counts it.
    let listed = app
        .admin(Method::GET, "/admin/submissions?email=jo@example.COM")
        .send(200)
        .await
        .json();
    assert_eq!(listed["submissions"][0]["id"], json!(id), "{listed}");
    // Every filter at once, time bounds included; then a window that holds nothing.
    let filtered = "/admin/submissions?status=delivered&source=demo&since=2000-01-01T00:00:00.000Z\
                    &until=2100-01-01T00:00:00.000Z&before=zzzz&limit=5";
    let listed = app.admin(Method::GET, filtered).send(200).await.json();
    assert_eq!(listed["submissions"][0]["id"], json!(id), "{listed}");
    let empty = app
        .admin(Method::GET, "/admin/submissions?since=2100-01-01T00:00:00.000Z")
        .send(200)
        .await
        .json();
    assert_eq!(empty["submissions"], json!([]), "{empty}");
    let stats = app.admin(Method::GET, "/admin/stats").send(200).await.json();
    let page = app.admin(Method::GET, "/admin/").send(200).await.body;
    let backend = if db.is_some() { "postgres" } else { "sqlite" };
    assert!(
        page.contains(&format!("<span id=\"backend\">{backend}</span>")),
        "{page}"
    );
    assert_eq!(
        page.contains("free-space"),
        db.is_none(),
        "disk figures are SQLite's only"
    );
    assert_eq!(stats["counts"][0]["count"], json!(1), "{stats}");
    assert_eq!(stats["queue_depth"], json!(0), "{stats}");
    assert_rollups_match(&app).await;
    let latency = pairs(
        &app,
        "SELECT source, CAST(SUM(count) AS BIGINT) FROM delivery_latency_daily GROUP BY source",
    )
    .await;
    assert_eq!(latency, [("demo".to_owned(), 1)]);
}

/// `talk-relay ARGS` on the app's log (SQLite file or PostgreSQL URL); its stdout.
async fn cli(app: &TestApp, args: &[&str]) -> String {
    let mut command = crate::commands::relay_binary();
    command
        .args(args)
        .env("TALK_RELAY__DATABASE__PATH", &app.db_path)
        .env("TALK_RELAY__DATABASE__URL", app.db_url.as_deref().unwrap_or(""))
        .env("TALK_RELAY__FILES__DIR", app.files_dir())
        .env_remove("ORTTO_API_KEY");
    let out = crate::helpers::run_command(command).await;
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait_for(app: &TestApp, id: &str, status: &str) -> talk_relay::store::SubmissionRow {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let row = app.log().await.submission(id).await.unwrap().unwrap();
        if row.status == status || std::time::Instant::now() > deadline {
            assert_eq!(row.status, status, "{row:?}");
            return row;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn failures_retry_then_die_and_a_replay_delivers(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::status(500), Reply::json(400, r#"{"error":"bad field"}"#)]);
    let app = spawn_app_on(db, &ortto, ADMIN).await;
    let id = submit(&app, "jo@example.com", "retry me").await;
    let row = wait_for(&app, &id, "dead").await;
    assert_eq!((row.attempts, row.last_http_status), (2, Some(400)));
    let log = app.log().await;
    let dead = log.latest_dead(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let queue = log.queue_stats().await.unwrap();
    assert_eq!(queue.depth, 0);

    let replayed = cli(&app, &["replay", "--status", "dead"]).await;
    assert!(replayed.contains("re-queued 1 submission(s)"), "{replayed}");
    let row = wait_for(&app, &id, "delivered").await;
    assert_eq!(row.attempts, 1, "a replay starts a fresh attempt budget");
    let attempts = log.attempts_for(&id).await.unwrap();
    let statuses: Vec<Option<i64>> = attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, [Some(500), Some(400), Some(200)]);
    assert_rollups_match(&app).await;
}

async fn a_repeated_idempotency_key_answers_the_first_id(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_on(db, &ortto, "").await;
    let post = |key: &'static str, status: u16| {
        app.post("/f/demo")
            .header("Accept", "application/json")
            .header("Idempotency-Key", key)
            .json(&json!({"email": "jo@example.com", "message": "once"}), status)
    };
    let first = post("order-17", 202).await.json();
    let again = post("order-17", 200).await.json();
    let other = post("order-18", 202).await.json();
    assert_eq!(first["id"], again["id"], "{first} {again}");
    assert_eq!(again["status"], json!("duplicate"));
    wait_for(&app, first["id"].as_str().unwrap(), "delivered").await;
    wait_for(&app, other["id"].as_str().unwrap(), "delivered").await;
    assert_ne!(first["id"], other["id"]);
    assert_eq!(app.listed_ids().await.len(), 2);
    assert_rollups_match(&app).await;
}

/// A worker whose lease ran out must not overwrite what the worker that holds the row now
/// recorded, nor give the row back; claims and outcomes through the real writer.
async fn an_expired_claim_changes_nothing_once_another_holds_the_row(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    // The relay only creates the log; the test drives the writer itself.
    let mut app = spawn_app_on(db, &ortto, "[delivery]\npoll_interval_ms = 60000\n").await;
    app.stop().await;
    let log = app.log().await;
    let writer = start_writer(&app, &log).await;
    let row = queued_row();
    writer.record(row.clone()).await.unwrap();
    let stale = writer.claim_due(5, Duration::ZERO).await.unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    let current = writer.claim_due(5, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        writer.claim_due(5, Duration::from_secs(60)).await.unwrap().len(),
        0,
        "a live lease was claimed again"
    );
    assert_eq!(
        log.replay(std::slice::from_ref(&row.id), None).await.unwrap(),
        0,
        "a replay took a row in flight"
    );
    let (stale, current) = (stale[0].lease(), current[0].lease());
    assert_eq!(
        stale.id, current.id,
        "the expired lease let a second claim take the row"
    );
    assert_ne!(stale.token, current.token);

    let retry = || RowUpdate::RetryAt {
        at: chrono::Utc::now(),
        counts: true,
        error: "timeout".into(),
    };
    writer
        .release(vec![stale.clone()], chrono::Utc::now())
        .await
        .unwrap();
    writer.finish_attempt(stale.clone(), None, retry()).await.unwrap();
    let delivered = RowUpdate::Delivered {
        conversation_id: Some("c".into()),
        person_id: None,
        person_status: None,
    };
    writer.finish_attempt(current, None, delivered).await.unwrap();
    writer.finish_attempt(stale, None, retry()).await.unwrap();
    let stored = log.submission(&row.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status.as_str(), stored.conversation_id.as_deref()),
        ("delivered", Some("c"))
    );
    assert_rollups_match(&app).await;
}

/// A log writer of the test's own on the stopped app's log.
async fn start_writer(app: &TestApp, log: &talk_relay::store::Store) -> LogWriter {
    let health = Arc::new(StorageHealth::new(HealthSettings {
        path: app.db_url.is_none().then(|| app.db_path.clone()),
        min_free_bytes: 0,
        max_wal_bytes: 64 << 20,
        probe_every: Duration::from_secs(5),
    }));
    LogWriter::start(log, Arc::new(Notify::new()), Arc::new(Metrics::new()), health)
        .await
        .unwrap()
}

/// A form row due for delivery now.
fn queued_row() -> talk_relay::store::NewSubmission {
    talk_relay::store::NewSubmission {
        id: talk_relay::domain::new_submission_id(),
        received_at: talk_relay::domain::now_timestamp(),
        source_kind: talk_relay::domain::SourceKind::Form,
        source: "demo".into(),
        status: talk_relay::domain::Status::Queued,
        next_attempt_at: Some(talk_relay::domain::now_timestamp()),
        last_error: None,
        email: None,
        subject: None,
        consent: None,
        consent_note: None,
        client_ip: None,
        user_agent: None,
        origin: None,
        page_url: None,
        idempotency_key: None,
        payload: Some("{}".into()),
        fields: "{}".into(),
        request_id: None,
        captcha: None,
        spam_verdict: None,
        spam_score: None,
        spam_reasons: None,
        files: None,
        consent_proof: None,
        trace_parent: None,
    }
}

/// The delivery loop's step driven by hand: a round sends what is due and records it, the
/// next finds nothing, and a pause is honoured before any claim.
async fn a_worker_round_delivers_what_is_due_and_honours_a_pause(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    let mut app = spawn_app_on(db, &ortto, "").await;
    app.stop().await;
    let log = app.log().await;
    let writer = start_writer(&app, &log).await;
    let state = Arc::new(DeliveryState::new(false));
    let worker = DeliveryWorker {
        writer: writer.clone(),
        log: log.clone(),
        settings: WorkerSettings::of(&app.config("")),
        state: state.clone(),
        budget: None,
        wake: Arc::new(Notify::new()),
        metrics: Arc::new(Metrics::new()),
    };
    let due = queued_row();
    writer.record(due.clone()).await.unwrap();

    assert!(matches!(worker.round().await, Next::Nap(_)));
    assert_eq!(ortto.requests().len(), 1);
    let row = app.submission(&due.id).await;
    assert_eq!((row.status, row.attempts), (Status::Delivered, 1));

    assert!(matches!(worker.round().await, Next::Nap(_)));
    assert_eq!(ortto.requests().len(), 1, "a delivered row was sent again");

    let waiting = queued_row();
    writer.record(waiting.clone()).await.unwrap();
    state.pause(Duration::from_secs(30), PauseReason::RateLimited);
    assert!(matches!(worker.round().await, Next::Paused(_)));
    assert_eq!(ortto.requests().len(), 1, "a paused worker sent a row");
    assert_eq!(app.submission(&waiting.id).await.status, Status::Queued);
}

/// docs/delivery.md, "The delivery loop": an idle relay's polls are reads. Twenty polls with
/// nothing due commit no batch (no claim is written) and, on PostgreSQL, leave the shared
/// budget's rows as they were (no take and refund); a post is still delivered at once after.
async fn an_idle_relay_polls_without_writing(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    let overlay = "[delivery]\npoll_interval_ms = 50\n[ortto]\nlimit_outbound = true\n";
    let app = spawn_app_on(db, &ortto, overlay).await;
    let first = submit(&app, "idle@example.com", "before the pause").await;
    wait_for(&app, &first, "delivered").await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let writes = || async {
        let metrics = app.get("/metrics").send(200).await.body;
        let batches = metrics
            .lines()
            .find_map(|line| line.strip_prefix("talk_relay_log_writer_batches_total "))
            .map(str::to_owned);
        let budget = match db {
            Some(url) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                sqlx::query_scalar::<_, Option<String>>(
                    "SELECT string_agg(xmin::text || ' ' || tat::text, ', ' ORDER BY window_ms) FROM outbound_budget",
                )
                .fetch_one(&pool)
                .await
                .unwrap()
            }
            None => None,
        };
        (batches.expect("the writer's batches are counted"), budget)
    };
    let before = writes().await;
    actix_web::rt::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(writes().await, before, "an idle second of polls wrote");
    let second = submit(&app, "idle@example.com", "after the pause").await;
    wait_for(&app, &second, "delivered").await;
}

/// docs/delivery.md, "The delivery loop", and docs/scale-out.md, "Round trips": while claims
/// come back full, the loop claims again without counting the due rows first; on PostgreSQL the
/// claims run beside the log writer, which then applies only the rows and their outcomes.
async fn a_busy_relay_claims_without_counting_first(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    // Slow answers keep both slots busy while the posts queue up behind them.
    ortto.set_default(Reply::ok().after(Duration::from_millis(120)));
    let overlay = "[delivery]\nconcurrency = 2\npoll_interval_ms = 50\n[ortto]\nlimit_outbound = false\n";
    let app = spawn_app_on(db, &ortto, overlay).await;
    let counters = || async {
        let metrics = app.get("/metrics").send(200).await.body;
        let value = |name: &str| -> u64 {
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no `{name}`"))
        };
        [
            value("talk_relay_delivery_claims_total"),
            value("talk_relay_delivery_due_checks_total"),
            value("talk_relay_log_writer_jobs_total"),
        ]
    };
    let before = counters().await;
    let mut ids = Vec::new();
    for n in 0..24 {
        ids.push(submit(&app, &format!("busy-{n}@example.com"), "a busy hour").await);
    }
    for id in &ids {
        wait_for(&app, id, "delivered").await;
    }
    let after = counters().await;
    let [claims, checks, jobs] = [0, 1, 2].map(|i| after[i] - before[i]);
    eprintln!("busy loop: {claims} claims, {checks} counts of due rows, {jobs} writer jobs");
    assert!(claims >= 12, "{claims} claims for 24 rows two at a time");
    assert!(
        checks * 2 < claims,
        "{checks} counts of the due rows for {claims} claims: a busy loop counted before claiming"
    );
    // The writer's jobs: 24 rows and 24 outcomes, and on SQLite every claim too.
    let claim_jobs = if db.is_some() { 0 } else { claims };
    assert_eq!(jobs, 48 + claim_jobs, "{claims} claims");
    assert_eq!(ortto.requests().len(), 24, "each row sent once");
}

/// docs/spam.md: a held post is kept with its payload, counted by reason in the rollup,
/// released to delivery or confirmed, and purged by `retention.spam_days` alone.
async fn the_quarantine_releases_confirms_counts_and_purges(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_on(db, &ortto, "").await;
    let hold = || json!({"email": "kim@mailinator.com", "message": "call me back"});
    let (_, one) = app.post_json("demo", &hold()).await;
    let (_, two) = app.post_json("demo", &hold()).await;
    let (one, two) = (one["id"].as_str().unwrap(), two["id"].as_str().unwrap());
    let log = app.log().await;
    assert_eq!(log.submission(one).await.unwrap().unwrap().status, Status::Spam);
    let rollup = pairs(
        &app,
        "SELECT reason, CAST(SUM(count) AS BIGINT) FROM spam_counts_daily GROUP BY reason",
    )
    .await;
    assert_eq!(rollup, [("disposable_email".to_owned(), 2)]);

    let now = chrono::Utc::now();
    assert_eq!(
        talk_relay::spam::release(&log, one, now).await.unwrap(),
        talk_relay::spam::Reviewed::Done
    );
    wait_for(&app, one, "delivered").await;
    assert_eq!(
        talk_relay::spam::confirm(&log, two, now).await.unwrap(),
        talk_relay::spam::Reviewed::Done
    );
    let confirmed = log.submission(two).await.unwrap().unwrap();
    assert_eq!(
        (confirmed.status, confirmed.review.as_deref()),
        (Status::Spam, Some("confirmed"))
    );

    let tomorrow = talk_relay::domain::utc_timestamp(now + chrono::Duration::days(1));
    assert_eq!(log.purge_spam_before(&tomorrow, 1).await.unwrap(), 1);
    assert!(log.submission(two).await.unwrap().is_none());
    assert!(
        log.submission(one).await.unwrap().is_some(),
        "a released row is no longer spam"
    );
}

async fn purge_and_erase_reach_every_table(db: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    let mut app = spawn_app_on(db, &ortto, "").await;
    let gone = submit(&app, "Oedoen@Müller.example", "erase me").await;
    let kept = submit(&app, "keep@example.com", "keep me").await;
    wait_for(&app, &gone, "delivered").await;
    wait_for(&app, &kept, "delivered").await;
    app.stop().await;

    let migrated = cli(&app, &["migrate"]).await;
    assert!(migrated.contains("is up to date"), "{migrated}");
    let erased = cli(&app, &["erase", "--email", "oedoen@MÜLLER.example"]).await;
    assert!(
        erased.contains("erased 1 submissions, 1 delivery attempts"),
        "{erased}"
    );
    let stats = cli(&app, &["stats"]).await;
    assert!(stats.contains("demo") && stats.contains("delivered"), "{stats}");
    assert_eq!(app.listed_ids().await, [kept]);
    assert_rollups_match(&app).await;

    // A day's cutoff removes nothing received today; dated back, the row goes with its attempts.
    let purged = cli(&app, &["purge", "--older-than", "1"]).await;
    assert!(purged.contains("0 submissions"), "{purged}");
    let back = "UPDATE submissions SET received_at = '2020-01-01T00:00:00.000Z'";
    match db {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(&format!("{back}::timestamptz"))
                .execute(&pool)
                .await
                .unwrap();
        }
        None => {
            sqlx::query(back).execute(app.store().await.pool()).await.unwrap();
        }
    }
    let purged = cli(&app, &["purge", "--older-than", "1"]).await;
    assert!(purged.contains("1 submissions, 1 delivery attempts"), "{purged}");
    assert!(app.listed_ids().await.is_empty());
}

/// Every query in docs/ops-queries.postgres.sql, through psql while the relay writes.
#[actix_web::test]
async fn every_dashboard_query_runs_on_postgres_while_the_relay_writes() {
    if let Some(url) = crate::postgres::database().await {
        crate::ops::housekeeping::every_dashboard_query_answers(Some(&url)).await;
    }
}

/// docs/files.md: a post's files on either backend: the `files` column written with the row
/// and listed, the link still good after a restart (the key is kept in `relay_keys`), and the
/// files erased with the person.
async fn files_are_recorded_listed_linked_across_a_restart_and_erased(db: Option<&str>) {
    use crate::files::{accepted, contact, files_form, first_link, pdf, sha256};
    let ortto = FakeOrtto::start().await;
    let mut app = spawn_app_on(db, &ortto, &files_form("")).await;
    let id = accepted(
        &app,
        contact().file("attachment", "report.pdf", "application/pdf", &pdf()),
    )
    .await;
    let listed = app
        .log()
        .await
        .list_submissions(&Default::default())
        .await
        .unwrap();
    let files: serde_json::Value = serde_json::from_str(listed[0].files.as_deref().unwrap()).unwrap();
    assert_eq!(files[0]["name"], "report.pdf");
    let link = first_link(&app, &id).await;
    app.restart(&files_form("")).await;
    let file = app.get(&link).send(200).await;
    assert_eq!(sha256(&file.bytes), sha256(&pdf()));
    app.stop().await;
    let erased = cli(&app, &["erase", "--email", "ada@example.com"]).await;
    assert!(
        erased.contains("erased 1 submissions") && erased.contains(", 1 files"),
        "{erased}"
    );
    assert!(!app.files_dir().join(&id).exists());
}
