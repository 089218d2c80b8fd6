//! PostgreSQL going away under a running relay (docs/scale-out.md, "Running more than one relay"): the
//! batch that meets it fails with 503 and loses nothing acknowledged, `/readyz` says why, and
//! the writer reconnects by itself once the server takes connections again.

use crate::fake_ortto::FakeOrtto;
use crate::helpers::{spawn_app_on, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn post(app: &TestApp, n: usize) -> (u16, Value) {
    app.post_json(
        "demo",
        &json!({"email": format!("p{n}@example.com"), "message": "hi"}),
    )
    .await
}

/// Ends every connection the relay holds to its database, as a server restart or a network
/// cut would.
async fn cut(admin: &sqlx::PgPool, database: &str) {
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND application_name = 'talk-relay'",
    )
    .bind(database)
    .execute(admin)
    .await
    .unwrap();
}

async fn ready_within(app: &TestApp, status: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (now, body) = app.readyz().await;
        if now == status || Instant::now() > deadline {
            assert_eq!(now, status, "{body}");
            return body;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_lost_or_refused_connection_fails_only_its_batch_and_the_writer_reconnects() {
    let Some(url) = crate::postgres::database().await else {
        return;
    };
    let (server, database) = url.rsplit_once('/').unwrap();
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_on(Some(&url), &ortto, "[database]\nreadiness_probe_ms = 100\n").await;
    let mut acknowledged = Vec::new();
    let (status, body) = post(&app, 0).await;
    assert_eq!(status, 202, "{body}");
    acknowledged.push(body["id"].as_str().unwrap().to_owned());

    // A cut connection: the next batch fails with 503 (the delivery worker's claim may meet
    // it first), and the writer reconnects for the one after.
    cut(&admin, database).await;
    let (status, body) = post(&app, 1).await;
    match status {
        202 => acknowledged.push(body["id"].as_str().unwrap().to_owned()),
        _ => {
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["errors"][0]["code"], "UNAVAILABLE", "{body}");
        }
    }
    let (status, body) = post(&app, 2).await;
    assert_eq!(status, 202, "the writer did not reconnect: {body}");
    acknowledged.push(body["id"].as_str().unwrap().to_owned());

    // A server that refuses connections: 503s, and /readyz says the log is not writable.
    sqlx::query(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    cut(&admin, database).await;
    for n in 3..6 {
        let (status, body) = post(&app, n).await;
        assert_eq!(status, 503, "{body}");
    }
    let unready = ready_within(&app, 503, Duration::from_secs(5)).await;
    assert_eq!(unready["database"], json!("not writable"), "{unready}");

    // Back: intake and /readyz recover by themselves.
    sqlx::query(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let (status, body) = post(&app, 6).await;
    assert_eq!(status, 202, "{body}");
    acknowledged.push(body["id"].as_str().unwrap().to_owned());
    ready_within(&app, 200, Duration::from_secs(5)).await;

    // Exactly the acknowledged rows are in the log, and all of them are delivered.
    let mut stored = app.listed_ids().await;
    stored.sort();
    acknowledged.sort();
    assert_eq!(stored, acknowledged);
    for id in &acknowledged {
        app.wait_for_status(id, &["delivered"], Duration::from_secs(10))
            .await;
    }
    admin.close().await;
}

/// docs/scale-out.md: "a deadlock retries the batch". A batch that deadlocks twice with another relay's
/// (simulated by a trigger raising PostgreSQL's deadlock error on its first two calls; a
/// sequence counts them, since a failed batch rolls everything else back) is applied on the
/// third try: the post is acknowledged, at once, and its row is there once.
#[actix_web::test]
async fn a_batch_that_deadlocks_is_tried_again_as_a_whole() {
    let Some(url) = crate::postgres::database().await else {
        return;
    };
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_on(Some(&url), &ortto, "").await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE SEQUENCE test_deadlock_calls;
         CREATE FUNCTION test_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('test_deadlock_calls') <= 2 THEN
                 RAISE EXCEPTION 'simulated deadlock' USING ERRCODE = 'deadlock_detected';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER test_deadlock BEFORE INSERT ON submissions
             FOR EACH ROW EXECUTE FUNCTION test_deadlock();",
    )
    .execute(&pool)
    .await
    .unwrap();

    let (status, body) = post(&app, 1).await;
    assert_eq!(status, 202, "{body}");
    let calls: i64 = sqlx::query_scalar("SELECT last_value FROM test_deadlock_calls")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(calls, 3, "two deadlocked tries, then the one that went through");
    let id = body["id"].as_str().unwrap();
    app.wait_for_status(id, &["delivered"], Duration::from_secs(10))
        .await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM submissions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    let (ready, body) = app.readyz().await;
    assert_eq!(ready, 200, "a retried deadlock is not an outage: {body}");
    pool.close().await;
}
