//! docs/delivery.md "Delivery guarantees": every recorded submission reaches compose, through failures, pauses and restarts.

use crate::fake_ortto::{FakeOrtto, Reply};
use crate::helpers::{spawn_app, spawn_app_with_ortto, Expect, TestApp, TEST_ADMIN_TOKEN, TEST_ORTTO_KEY};
use serde_json::json;
use std::time::Duration;
use talk_relay::domain::Status;

mod answers;

const WAIT: Duration = Duration::from_secs(10);

async fn submit(app: &TestApp, message: &str) -> String {
    let (status, body) = app
        .post_json("demo", &json!({"email": "jo@example.com", "message": message}))
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn the_compose_request_carries_the_key_and_the_recorded_payload_byte_for_byte() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(&ortto, "").await;
    let (status, body) = app
        .post_json(
            "demo",
            &json!({"email": "jo@example.com", "message": "Do you offer discounts?"}),
        )
        .await;
    assert_eq!(
        (status, &body["status"]),
        (202, &json!("queued")),
        "with a key: queued"
    );
    let id = body["id"].as_str().unwrap().to_owned();
    let row = app.wait_for_status(&id, &["delivered"], WAIT).await;
    assert_eq!(row.status, "delivered");
    let seen = ortto.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/talk/compose");
    assert_eq!(seen[0].api_key.as_deref(), Some(TEST_ORTTO_KEY));
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(Some(seen[0].body.as_str()), row.payload.as_deref());
    assert_eq!(row.conversation_id.as_deref(), Some("conv-1"));
    assert_eq!(row.person_id.as_deref(), Some("person-1"));
    assert_eq!(row.person_status.as_deref(), Some("created"));
    assert_eq!(row.attempts, 1);
    assert_eq!(row.last_http_status, Some(200));
    assert!(row.delivered_at.is_some());
    assert_eq!(app.attempts(&id).await, vec![(1, Some(200), None)]);
}

#[actix_web::test]
async fn server_errors_are_retried_until_delivered() {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::status(500), Reply::status(503)]);
    let app = spawn_app_with_ortto(&ortto, "").await;
    let id = submit(&app, "retry me").await;
    let row = app.wait_for_status(&id, &["delivered", "dead"], WAIT).await;
    assert_eq!(row.status, "delivered");
    assert_eq!(row.attempts, 3);
    assert_eq!(
        app.attempts(&id).await,
        vec![
            (1, Some(500), Some("http".into())),
            (2, Some(503), Some("http".into())),
            (3, Some(200), None)
        ]
    );
    assert_eq!(ortto.requests().len(), 3);
}

#[actix_web::test]
async fn a_timeout_is_retried() {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::ok().after(Duration::from_millis(1600))]);
    let app = spawn_app_with_ortto(&ortto, "").await;
    let id = submit(&app, "slow").await;
    let row = app.wait_for_status(&id, &["delivered", "dead"], WAIT).await;
    assert_eq!(row.status, "delivered");
    let attempts = app.attempts(&id).await;
    assert_eq!(attempts[0], (1, None, Some("timeout".into())));
    assert_eq!(attempts.len(), 2);
}

#[actix_web::test]
async fn a_bad_request_is_dead_at_once_with_orttos_message() {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::json(400, r#"{"error":{"message":"Invalid field id"}}"#)]);
    let app = spawn_app_with_ortto(&ortto, "").await;
    let id = submit(&app, "rejected").await;
    let row = app.wait_for_status(&id, &["dead"], WAIT).await;
    assert_eq!(row.status, "dead");
    assert_eq!(row.last_http_status, Some(400));
    assert!(
        row.last_error.as_deref().unwrap().contains("Invalid field id"),
        "{:?}",
        row.last_error
    );
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ortto.requests().len(), 1, "a dead row is never sent again");
}

#[actix_web::test]
async fn max_attempts_ends_in_dead_with_the_last_error() {
    let ortto = FakeOrtto::start().await;
    ortto.set_default(Reply::status(502));
    let app = spawn_app_with_ortto(&ortto, "[delivery]\nmax_attempts = 3\n").await;
    let id = submit(&app, "never").await;
    let row = app.wait_for_status(&id, &["dead"], WAIT).await;
    assert_eq!(row.status, "dead");
    assert_eq!(row.attempts, 3);
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .starts_with("gave up after 3 attempts"),
        "{:?}",
        row.last_error
    );
    assert_eq!(ortto.requests().len(), 3);
}

#[actix_web::test]
async fn a_429_pauses_every_delivery_and_does_not_use_up_attempts() {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::json(
        429,
        r#"{"error":{"code":"rate-limit","message":"rate limit","try-in-seconds":1}}"#,
    )]);
    let app = spawn_app_with_ortto(&ortto, "[delivery]\nconcurrency = 1\nmax_attempts = 1\n").await;
    let first = submit(&app, "one").await;
    ortto.wait_for_requests(1, WAIT).await;
    let (status, ready) = app.readyz().await;
    assert_eq!(
        status, 200,
        "a rate-limit pause does not make the relay unready: {ready}"
    );
    assert_eq!(ready["deliveries"], "paused");
    let others = [submit(&app, "two").await, submit(&app, "three").await];

    for id in std::iter::once(&first).chain(&others) {
        let row = app.wait_for_status(id, &["delivered", "dead"], WAIT).await;
        assert_eq!(
            row.status, "delivered",
            "max_attempts = 1, so a counted 429 would have killed it"
        );
    }
    let seen = ortto.requests();
    assert_eq!(seen.len(), 4);
    for later in &seen[1..] {
        let gap = later.at - seen[0].at;
        assert!(
            gap >= Duration::from_millis(950),
            "a request went out {gap:?} into a 1 s pause"
        );
    }
    assert_eq!(app.submission(&first).await.attempts, 1);
    assert_eq!(
        app.attempts(&first).await,
        vec![(1, Some(429), Some("rate_limited".into())), (2, Some(200), None)]
    );
}

#[actix_web::test]
async fn a_rejected_key_pauses_loudly_in_readyz_until_a_delivery_succeeds() {
    let ortto = FakeOrtto::start().await;
    ortto.script([Reply::json(401, r#"{"error":{"message":"invalid api key"}}"#)]);
    let app = spawn_app_with_ortto(&ortto, "[delivery]\nmax_attempts = 1\nauth_pause_ms = 800\n").await;
    let id = submit(&app, "keyed").await;
    ortto.wait_for_requests(1, WAIT).await;
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    let (status, ready) = app.readyz().await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["reason"].as_str().unwrap().contains("rejected the API key"),
        "{ready}"
    );
    assert_eq!(app.submission(&id).await.status, "retrying");

    let row = app.wait_for_status(&id, &["delivered", "dead"], WAIT).await;
    assert_eq!(row.status, "delivered");
    assert_eq!(row.attempts, 1, "the 401 did not use up the row's only attempt");
    let seen = ortto.requests();
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(750),
        "sent again during the pause"
    );
    let (status, ready) = app.readyz().await;
    assert_eq!(status, 200, "{ready}");
}

#[actix_web::test]
async fn without_a_key_rows_become_dry_run_and_replay_sends_them_later() {
    let ortto = FakeOrtto::start().await;
    let mut app = spawn_app(crate::helpers::FAST_DELIVERY).await;
    let id = submit(&app, "dry").await;
    let row = app.wait_for_status(&id, &["dry_run"], WAIT).await;
    assert_eq!(row.status, "dry_run");
    assert!(row.payload.is_some(), "the payload is built and kept");
    let (_, ready) = app.readyz().await;
    assert_eq!(ready["mode"], "dry_run");
    app.stop().await;

    let stdout = crate::helpers::relay_cli(&["replay", "--status", "dry_run"], &app.db_path).await;
    assert!(stdout.contains("re-queued 1 submission"), "{stdout}");

    app.connect_ortto(&ortto);
    app.restart(crate::helpers::FAST_DELIVERY).await;
    let row = app.wait_for_status(&id, &["delivered"], WAIT).await;
    assert_eq!(row.status, "delivered");
    assert_eq!(ortto.requests().len(), 1);
}

#[actix_web::test]
async fn spam_and_invalid_rows_are_never_delivered() {
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(&ortto, "").await;
    app.post_json(
        "demo",
        &json!({"email": "a@example.com", "message": "x", "_gotcha": "bot"}),
    )
    .await;
    app.post_json("demo", &json!({"email": "nope", "message": "x"}))
        .await;
    let real = submit(&app, "real").await;
    app.wait_for_status(&real, &["delivered"], WAIT).await;
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ortto.requests().len(), 1);
    let statuses = app.statuses().await;
    assert_eq!(statuses, [Status::Spam, Status::Invalid, Status::Delivered]);
}

#[actix_web::test]
async fn the_free_plan_limiter_holds_a_burst_under_20_per_10_seconds() {
    let ortto = FakeOrtto::start().await;
    // The shared wiring turns the limiter off; this test's overlay, layered last, turns it on.
    let app = spawn_app_with_ortto(&ortto, "[ortto]\nlimit_outbound = true\nplan = \"free\"\n").await;
    for n in 0..100 {
        submit(&app, &format!("burst {n}")).await;
    }
    actix_web::rt::time::sleep(Duration::from_secs(12)).await;
    let times: Vec<_> = ortto.requests().iter().map(|r| r.at).collect();
    assert!(
        times.len() >= 10,
        "the limiter must still let deliveries through: {}",
        times.len()
    );
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| **t - *start < Duration::from_secs(10))
            .count();
        assert!(in_window <= 20, "{in_window} requests within 10 s of request {i}");
    }
    eprintln!("free plan: {} requests in 12 s for a burst of 100", times.len());
}

#[actix_web::test]
async fn a_backlog_beyond_the_outbound_budget_is_sent_once_each_however_short_the_lease() {
    // 100 per 10 s is one slot every ~117 ms: a claim of 8 rows holds most of them for longer
    // than the 400 ms lease. The budget is taken before the claim, so no row waits under a lease.
    let ortto = FakeOrtto::start().await;
    let app = spawn_app_with_ortto(
        &ortto,
        "[ortto]\nlimit_outbound = true\nrequests_per_10s = 100\nrequests_per_60s = 6000\n\
         timeout_ms = 200\nconnect_timeout_ms = 100\n[delivery]\nconcurrency = 8\nlease_ms = 400\n",
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..24 {
        ids.push(submit(&app, &format!("backlog {n}")).await);
    }
    for id in &ids {
        let row = app.wait_for_status(id, &["delivered"], WAIT).await;
        assert_eq!(row.status, "delivered");
        assert_eq!(row.attempts, 1, "{id}: one attempt");
    }
    let mut sent: Vec<String> = ortto.requests().iter().map(|r| r.body.clone()).collect();
    sent.sort();
    sent.dedup();
    assert_eq!(
        (ortto.requests().len(), sent.len()),
        (24, 24),
        "each row sent exactly once"
    );
}

#[actix_web::test]
async fn never_more_sends_at_once_than_delivery_concurrency_allows() {
    // Slow answers keep every slot busy; the worker claims again as slots free, never past
    // the limit (which also bounds the rows a crash can leave sent but unrecorded).
    let ortto = FakeOrtto::start().await;
    ortto.set_default(Reply::ok().after(Duration::from_millis(150)));
    let app = spawn_app_with_ortto(&ortto, "[delivery]\nconcurrency = 3\npoll_interval_ms = 50\n").await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(submit(&app, &format!("visitor-{n}")).await);
    }
    for id in &ids {
        let row = app.wait_for_status(id, &["delivered"], WAIT).await;
        assert_eq!(row.status, "delivered");
    }
    assert_eq!(ortto.requests().len(), 12, "each row sent once");
    assert_eq!(
        ortto.peak_concurrency(),
        3,
        "three slots, all of them used, never a fourth send at once"
    );
}
