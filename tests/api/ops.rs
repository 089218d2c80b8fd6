//! docs/log.md "The log" and "Operating it": the log as a dashboard source, metrics, the admin API and CLI.

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{
    relay_cli, run_command, spawn_app, spawn_app_with_ortto, sqlite3_json, Expect, Method, TestApp,
};
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) mod alerts;
mod charts;
mod dashboards;
pub(crate) mod housekeeping;
mod person;
mod plans;

const ADMIN: &str = "[admin]\ntoken_env = \"TEST_ADMIN_TOKEN\"\n";
const TOKEN: &str = "admin-token-not-real-32-characters-or-more";

async fn admin_get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.admin(Method::GET, path).send(Expect::Any).await;
    (
        response.status,
        serde_json::from_str(&response.body).unwrap_or(Value::Null),
    )
}

async fn admin_post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app.admin(Method::POST, path).json(&body, Expect::Any).await;
    (
        response.status,
        serde_json::from_str(&response.body).unwrap_or(Value::Null),
    )
}

async fn submit(app: &TestApp, form: &str, email: &str, extra: Value) -> String {
    let mut body = json!({"email": email, "message": "hello"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, answer) = app.post_json(form, &body).await;
    assert!(status == 202 || status == 422, "{answer}");
    answer["id"].as_str().map(str::to_owned).unwrap_or_default()
}

#[actix_web::test]
async fn the_admin_api_is_off_without_a_token_and_closed_to_wrong_ones() {
    let off = spawn_app("").await;
    let response = off.get("/admin/stats").send(404).await;
    assert!(response.body.clone().contains("TALK_RELAY_ADMIN_TOKEN"));

    let app = spawn_app(ADMIN).await;
    for auth in [None, Some("Bearer wrong"), Some("Basic YWRtaW46d3Jvbmc=")] {
        let mut request = app.get("/admin/stats");
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send(401).await;
        assert!(response.header("www-authenticate").is_some());
    }
}

#[actix_web::test]
async fn list_filters_paginates_shows_attempts_and_replays() {
    let ortto = FakeOrtto::start().await;
    ortto.script([
        Reply::status(500),
        Reply::ok(),
        Reply::json(400, r#"{"error":{"message":"no"}}"#),
    ]);
    let app = spawn_app_with_ortto(&ortto, &format!("{ADMIN}[forms.other]\n")).await;
    let retried = submit(&app, "demo", "a@example.com", json!({})).await;
    app.wait_for_status(&retried, &["delivered"], Duration::from_secs(10))
        .await;
    let dead = submit(&app, "demo", "b@example.com", json!({})).await;
    app.wait_for_status(&dead, &["dead"], Duration::from_secs(10))
        .await;
    for n in 0..5 {
        submit(&app, "other", &format!("c{n}@example.com"), json!({})).await;
    }

    let (status, page) = admin_get(&app, "/admin/submissions?source=other&limit=3").await;
    assert_eq!(status, 200);
    let first: Vec<&str> = page["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(first.len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = admin_get(
        &app,
        &format!("/admin/submissions?source=other&limit=3&before={cursor}"),
    )
    .await;
    let rest: Vec<&str> = rest["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rest.len(), 2);
    assert!(rest.iter().all(|id| !first.contains(id)));

    let (_, by_email) = admin_get(&app, "/admin/submissions?email=B@EXAMPLE.COM").await;
    assert_eq!(by_email["submissions"][0]["id"], dead.as_str());
    let (_, by_status) = admin_get(&app, "/admin/submissions?status=dead").await;
    assert_eq!(by_status["submissions"].as_array().unwrap().len(), 1);
    let (_, none_yet) = admin_get(&app, "/admin/submissions?until=2000-01-01T00:00:00.000Z").await;
    assert!(none_yet["submissions"].as_array().unwrap().is_empty());

    let (status, shown) = admin_get(&app, &format!("/admin/submissions/{retried}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["submission"]["status"], "delivered");
    let attempts: Vec<i64> = shown["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["http_status"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [500, 200]);
    assert!(!shown.to_string().contains(crate::helpers::TEST_ORTTO_KEY));
    assert_eq!(admin_get(&app, "/admin/submissions/nope").await.0, 404);

    let (status, replayed) = admin_post(&app, &format!("/admin/submissions/{dead}/replay"), json!({})).await;
    assert_eq!((status, replayed["requeued"].as_i64()), (200, Some(1)));
    assert_eq!(
        app.wait_for_status(&dead, &["delivered"], Duration::from_secs(10))
            .await
            .status,
        "delivered"
    );
    // Replay moved the row dead → queued → delivered: the rollups followed it.
    assert_rollup_matches(&app).await;
    let (status, _) = admin_post(&app, "/admin/replay", json!({"status": "spam"})).await;
    assert_eq!(status, 400);
    let (_, stats) = admin_get(&app, "/admin/stats?hours=1").await;
    let delivered: i64 = stats["counts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "delivered")
        .map(|c| c["count"].as_i64().unwrap())
        .sum();
    assert_eq!(delivered, 7);
}

#[actix_web::test]
async fn the_status_page_shows_what_the_database_holds() {
    let ortto = FakeOrtto::start().await;
    ortto.set_default(Reply::json(400, r#"{"error":{"message":"Invalid field <x>"}}"#));
    let app = spawn_app_with_ortto(&ortto, ADMIN).await;
    let dead = submit(&app, "demo", "a@example.com", json!({})).await;
    app.wait_for_status(&dead, &["dead"], Duration::from_secs(10))
        .await;
    submit(&app, "demo", "b@example.com", json!({"_gotcha": "bot"})).await;
    submit(&app, "demo", "not-an-email", json!({})).await;

    // Basic auth, as a browser would send it.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("ops:{TOKEN}"))
    );
    let response = app.get("/admin/").header("Authorization", basic).send(200).await;
    let page = response.body.clone();
    let (counts,): (String,) = sqlx::query_as(
        "SELECT group_concat(status || '=' || n, ',') FROM (SELECT status, COUNT(*) AS n FROM submissions GROUP BY status)",
    )
    .fetch_one(app.store().await.pool())
    .await
    .unwrap();
    for pair in counts.split(',') {
        let (status, n) = pair.split_once('=').unwrap();
        assert!(
            page.contains(&format!("<td id=\"count-{status}\">{n}</td>")),
            "{status}={n} missing from {page}"
        );
    }
    assert!(
        page.contains(&dead) && page.contains("Invalid field &lt;x&gt;"),
        "{page}"
    );
    assert!(page.contains("name=\"viewport\""));
}

/// The rollups (counted per batch on insert, by triggers on status change and delete)
/// agree with the table they summarise.
async fn assert_rollup_matches(app: &TestApp) {
    let store = app.store().await;
    let actual: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM submissions GROUP BY status ORDER BY status")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let rolled: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, SUM(count) FROM submission_rollup_daily GROUP BY status HAVING SUM(count) > 0 ORDER BY status",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(actual, rolled);
    let by_source = |sql: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_as::<_, (String, i64)>(sql)
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        by_source("SELECT source, COUNT(*) FROM submissions GROUP BY source ORDER BY source").await,
        by_source("SELECT source, SUM(count) FROM submission_rollup_hourly GROUP BY source HAVING SUM(count) > 0 ORDER BY source").await,
        "the hourly rollup"
    );
}

#[actix_web::test]
async fn the_cli_prints_stats() {
    let mut app = spawn_app("").await;
    submit(&app, "demo", "a@example.com", json!({})).await;
    submit(&app, "demo", "bad", json!({})).await;
    app.stop().await;
    let stdout = relay_cli(&["stats", "--hours", "1"], &app.db_path).await;
    assert!(
        stdout.contains("invalid") && stdout.contains("queue depth"),
        "{stdout}"
    );
}

#[actix_web::test]
async fn metrics_follow_prometheus_conventions() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(&ortto, "").await;
    let id = submit(&app, "demo", "a@example.com", json!({})).await;
    app.wait_for_status(&id, &["delivered"], Duration::from_secs(10))
        .await;
    let response = app.get("/metrics").send(Expect::Any).await;
    let text = response.body.clone();
    for expected in [
        "talk_relay_intake_total{source_kind=\"form\",source=\"demo\",outcome=\"accepted\"} 1",
        "talk_relay_deliveries_total{outcome=\"delivered\"} 1",
        "talk_relay_delivery_attempt_duration_seconds_count 1",
        "talk_relay_queue_depth 0",
        "talk_relay_oldest_due_age_seconds 0",
        "talk_relay_deliveries_paused{reason=\"key_rejected\"} 0",
        "talk_relay_build_info{version=",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in\n{text}");
    }
    // The single writer's load: the record, the delivery claim and its outcome are three
    // jobs, committed in one to three batches, and committing took some time.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no `{name}` in\n{text}"))
    };
    let (jobs, batches) = (
        value("talk_relay_log_writer_jobs_total"),
        value("talk_relay_log_writer_batches_total"),
    );
    assert!(jobs >= 3.0, "{jobs} writer jobs");
    assert!(
        (1.0..=jobs).contains(&batches),
        "{batches} batches for {jobs} jobs"
    );
    assert!(value("talk_relay_log_writer_busy_seconds_total") > 0.0);
}
