//! Housekeeping: erasure, purges and retention, read-only dashboard queries.

use super::*;

#[actix_web::test]
async fn erase_removes_every_row_of_one_person_and_reports_counts() {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::status(500)]);
    let mut app = spawn_app_with_ortto(&ortto, "").await;
    let delivered = submit(&app, "demo", "Gone@Example.com", json!({})).await;
    app.wait_for_status(&delivered, &["delivered"], Duration::from_secs(10))
        .await;
    let kept = submit(&app, "demo", "keep@example.com", json!({})).await;
    submit(&app, "demo", "gone@example.com", json!({"_gotcha": "x"})).await; // spam: no email column, but in fields
    app.stop().await;

    let stdout = relay_cli(&["erase", "--email", "GONE@example.com"], &app.db_path).await;
    assert!(
        stdout.contains("erased 2 submissions, 2 delivery attempts, 0 session logs"),
        "{stdout}"
    );
    let ids: Vec<String> = app.ids().await;
    assert_eq!(ids, [kept]);
    assert_rollup_matches(&app).await;
    let mut dump = std::process::Command::new("sqlite3");
    dump.arg(&app.db_path).arg(".dump");
    let dump = run_command(dump).await;
    assert!(!String::from_utf8_lossy(&dump.stdout)
        .to_lowercase()
        .contains("gone@example.com"));
}

#[actix_web::test]
async fn purge_and_the_retention_timer_delete_old_rows_but_keep_waiting_ones() {
    let mut app = spawn_app("").await;
    let recent = submit(&app, "demo", "new@example.com", json!({})).await;
    let store = app.store().await;
    // Old rows written straight into the file, counted as the log writer counts what it
    // inserts (docs/log.md, "Rollups").
    let insert_old = |id: &'static str, status: &'static str| {
        let pool = store.pool().clone();
        async move {
            for sql in [
                "INSERT INTO submissions (id, received_at, source_kind, source, status, fields, next_attempt_at) VALUES (?1, '2020-01-01T00:00:00.000Z', 'form', 'demo', ?2, '{}', '2999-01-01T00:00:00.000Z')",
                "INSERT INTO submission_rollup_daily VALUES ('2020-01-01', 'form', 'demo', ?2, -1, 1) ON CONFLICT DO UPDATE SET count = count + 1",
                "INSERT INTO submission_rollup_hourly VALUES ('2020-01-01T00', 'form', 'demo', 1) ON CONFLICT DO UPDATE SET count = count + 1",
            ] {
                sqlx::query(sql).bind(id).bind(status).execute(&pool).await.unwrap();
            }
        }
    };
    for (id, status) in [
        ("old-delivered", "delivered"),
        ("old-queued", "queued"),
        ("old-spam", "spam"),
    ] {
        insert_old(id, status).await;
    }
    app.stop().await;
    let stdout = relay_cli(&["purge", "--older-than", "30"], &app.db_path).await;
    assert!(stdout.contains("2 submissions"), "{stdout}");
    let left: Vec<String> = app.ids().await;
    assert!(
        left.contains(&"old-queued".to_owned()) && left.contains(&recent) && left.len() == 2,
        "{left:?}"
    );

    insert_old("old-dead", "dead").await;
    app.restart("[database]\nretention_days = 7\npurge_interval_ms = 100\n")
        .await;
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    let left: Vec<String> = app.ids().await;
    assert!(!left.contains(&"old-dead".to_owned()), "{left:?}");
    assert!(left.contains(&recent));
    assert_rollup_matches(&app).await;
}

/// Each `-- name:` query in `docs/FILE`.
pub(crate) fn ops_queries_in(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{}/docs/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.split("-- name: ")
        .skip(1)
        .map(|chunk| {
            let (name, sql) = chunk.split_once('\n').unwrap();
            (name.trim().to_owned(), sql.trim().to_owned())
        })
        .collect()
}

/// Each `-- name:` query in docs/ops-queries.sql.
pub(super) fn ops_queries() -> Vec<(String, String)> {
    ops_queries_in("ops-queries.sql")
}

#[actix_web::test]
async fn every_dashboard_query_runs_read_only_while_the_relay_writes() {
    every_dashboard_query_answers(None).await;
}

/// The dashboard queries for the app's backend (docs/ops-queries.sql through the sqlite3
/// shell, or docs/ops-queries.postgres.sql through psql), each read-only and run while the
/// relay writes; the answers are the ones the scenario implies.
pub(crate) async fn every_dashboard_query_answers(db_url: Option<&str>) {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::json(400, r#"{"error":{"message":"bad"}}"#)]);
    let app = crate::helpers::spawn_app_on(
        db_url,
        &ortto,
        "[forms.news.consent]\nfield = \"ok\"\nunchecked = \"opt_out\"\n",
    )
    .await;
    let dead = submit(&app, "demo", "dead@example.com", json!({})).await;
    app.wait_for_status(&dead, &["dead"], Duration::from_secs(10))
        .await;
    for n in 0..10 {
        let id = submit(
            &app,
            "news",
            &format!("n{n}@example.com"),
            json!({"ok": if n % 3 == 0 { "on" } else { "off" }}),
        )
        .await;
        app.wait_for_status(&id, &["delivered"], Duration::from_secs(10))
            .await;
    }
    submit(&app, "demo", "s@example.com", json!({"_gotcha": "x"})).await;

    let queries = ops_queries_in(if db_url.is_some() {
        "ops-queries.postgres.sql"
    } else {
        "ops-queries.sql"
    });
    assert!(queries.len() >= 8, "{queries:?}");
    let writer = async {
        for n in 0..40 {
            submit(&app, "demo", &format!("w{n}@example.com"), json!({})).await;
        }
    };
    let readers = async {
        let mut outputs = Vec::new();
        for (name, sql) in &queries {
            let output = match db_url {
                Some(url) => psql_json(url, sql).await,
                None => sqlite3_json(&app.db_path, sql).await,
            };
            assert!(
                output.status.success() && output.stderr.is_empty(),
                "{name}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            outputs.push((name.clone(), String::from_utf8_lossy(&output.stdout).into_owned()));
        }
        outputs
    };
    let ((), outputs) = futures_util::future::join(writer, readers).await;
    let result = |name: &str| -> Value {
        let text = &outputs.iter().find(|(n, _)| n == name).unwrap().1;
        serde_json::from_str(if text.trim().is_empty() { "[]" } else { text }).unwrap()
    };
    assert_eq!(result("dead_rows")[0]["id"], dead.as_str());
    assert!(result("dead_rows")[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("bad"));
    let consent = result("consent_opt_in_share");
    assert_eq!(
        (consent[0]["opted_in"].as_i64(), consent[0]["opted_out"].as_i64()),
        (Some(4), Some(6))
    );
    let failure = result("failure_rate");
    assert_eq!(failure[0]["dead"], 1);
    assert!(result("delivery_latency_per_day")[0]["p95_seconds"]
        .as_f64()
        .is_some());
    let spam = result("spam_share_per_form");
    assert!(spam
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["source"] == "demo" && r["spam"] == 1));
    assert!(result("queue_depth")[0]["waiting"].is_number());
    assert!(!result("volume_per_form_per_hour").as_array().unwrap().is_empty());
    assert!(!result("daily_counts").as_array().unwrap().is_empty());
}

/// One query through the `psql` client in a read-only session, its rows as a JSON array.
pub(crate) async fn psql_json(url: &str, sql: &str) -> std::process::Output {
    let mut command = std::process::Command::new("psql");
    command
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url, "-c"])
        .arg(format!(
            "SELECT COALESCE(json_agg(q), '[]') FROM ({}) q",
            sql.trim_end_matches(';')
        ))
        .env("PGOPTIONS", "-c default_transaction_read_only=on");
    crate::helpers::run_command(command).await
}

#[actix_web::test]
async fn erase_matches_non_ascii_addresses_and_leaves_no_bytes_in_the_files() {
    let mut app = spawn_app("").await;
    // An internationalised domain: recorded in punycode (xn--mller-kva.example), typed in Unicode.
    let first = submit(&app, "demo", "Oedoen@Müller.example", json!({})).await;
    // The dry-run worker rewrites the row (status, attempts): its old version goes to free pages.
    app.wait_for_status(&first, &["dry_run"], Duration::from_secs(10))
        .await;
    let kept = submit(&app, "demo", "keep@example.com", json!({})).await;
    // Spam keeps the address in its fields only.
    submit(&app, "demo", "OEDOEN@MÜLLER.example", json!({"_gotcha": "x"})).await;
    app.stop().await;

    let stdout = relay_cli(&["erase", "--email", "oedoen@müller.EXAMPLE"], &app.db_path).await;
    assert!(stdout.contains("erased 2 submissions"), "{stdout}");
    assert!(
        stdout.contains("the erased bytes are gone from the database's files"),
        "{stdout}"
    );
    let ids: Vec<String> = app.ids().await;
    assert_eq!(ids, [kept]);
    assert_rollup_matches(&app).await;
    // Not in any page of the file, free pages included, nor in the WAL.
    let wal = talk_relay::store::health::wal_path(&app.db_path);
    for file in [app.db_path.clone(), wal] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        assert!(
            !text.contains("müller") && !text.contains("xn--mller-kva"),
            "{} still holds the address",
            file.display()
        );
    }
}
